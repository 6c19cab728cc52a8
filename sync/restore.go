package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/rdb"
)

// Restore modes.
const (
	ModeAuto     = "auto"     // RESTORE when the target loads the payload, else commands
	ModeRestore  = "restore"  // RESTORE only; a payload the target cannot load fails its key
	ModeCommands = "commands" // the commands that build each value (SET, RPUSH, ...)
)

// Conflict policies: what to do with a key that exists on the target.
const (
	ConflictError   = "error"   // stop at the first existing key and name it
	ConflictReplace = "replace" // overwrite it
	ConflictSkip    = "skip"    // keep it and count the key as skipped
)

// RestoreOptions configure a Restorer.
type RestoreOptions struct {
	Mode     string // ModeAuto (default), ModeRestore or ModeCommands
	Conflict string // ConflictError (default), ConflictReplace or ConflictSkip
	// MaxPayload is the largest RESTORE payload sent; bigger values go as
	// commands of at most Batch elements. Default: the target's
	// proto-max-bulk-len less 64 KiB.
	MaxPayload int64
	Batch      int // elements per command in commands mode (default 512)
	// KeysPerSecond and BytesPerSecond, when positive, limit the rate.
	KeysPerSecond, BytesPerSecond float64
}

// RestoreStats count what a Restorer did.
type RestoreStats struct {
	Keys      int64 // keys written
	Skipped   int64 // keys left alone (ConflictSkip)
	Failed    int64 // keys the target refused, or whose outcome is unknown
	Commands  int64 // keys written as commands rather than RESTORE
	Functions int64
	Bytes     int64 // payload and argument bytes sent
}

// KeyError is the failure of one key.
type KeyError struct {
	DB  int
	Key []byte
	Err error
}

func (e *KeyError) Error() string { return fmt.Sprintf("db %d key %q: %v", e.DB, e.Key, e.Err) }
func (e *KeyError) Unwrap() error { return e.Err }

// ErrConflict means a key exists on the target and the policy is
// ConflictError.
var ErrConflict = errors.New("key exists on the target (use --conflict replace or skip)")

// A Restorer writes keys and function libraries into a live target
// through a Writer: each key as one RESTORE of its DUMP payload (with its
// absolute expiry and LRU/LFU information) when the target loads that
// payload's RDB version, else as the commands that rebuild it. Values
// whose payload is bigger than MaxPayload go as commands too. At most
// one payload is held in memory at a time (plus what is in flight).
type Restorer struct {
	w      Writer
	target *ServerInfo
	opts   RestoreOptions

	payload bytes.Buffer
	rw      *aof.Rewriter
	db      int // database of the key being rewritten

	keys, skipped, failed, commands, functions, sent atomic.Int64

	mu       gosync.Mutex
	first    error // the error that stops the restore (a conflict)
	failures []*KeyError

	limiter *limiter
}

// MaxFailures is how many key failures a Restorer keeps for its report.
const MaxFailures = 100

// NewRestorer returns a Restorer writing through w to a target
// described by target.
func NewRestorer(w Writer, target *ServerInfo, opts RestoreOptions) (*Restorer, error) {
	switch opts.Mode {
	case "":
		opts.Mode = ModeAuto
	case ModeAuto, ModeRestore, ModeCommands:
	default:
		return nil, fmt.Errorf("unknown mode %q (auto, restore or commands)", opts.Mode)
	}
	switch opts.Conflict {
	case "":
		opts.Conflict = ConflictError
	case ConflictError, ConflictReplace, ConflictSkip:
	default:
		return nil, fmt.Errorf("unknown conflict policy %q (error, replace or skip)", opts.Conflict)
	}
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = target.ProtoMaxBulkLen - 64<<10
	}
	if opts.Mode == ModeRestore && target.RDBVersion != 0 && target.RDBVersion < 10 {
		// EncodeDump writes RDB 10 and later only.
		return nil, fmt.Errorf("%s %s loads RDB %d: --mode restore needs Redis 7.0 or later here; use --mode commands", target.Server, target.Version, target.RDBVersion)
	}
	r := &Restorer{w: w, target: target, opts: opts, db: -1,
		rw:      aof.NewRewriter(aof.RewriteOptions{Batch: opts.Batch, BatchBytes: int(min(opts.MaxPayload/2, 4<<20))}),
		limiter: newLimiter(opts.KeysPerSecond, opts.BytesPerSecond)}
	return r, nil
}

// Err returns the error that stopped the restore, if any: a conflict
// under ConflictError.
func (r *Restorer) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first
}

func (r *Restorer) stop(err error) {
	r.mu.Lock()
	if r.first == nil {
		r.first = err
	}
	r.mu.Unlock()
}

func (r *Restorer) fail(db int, key []byte, err error) {
	r.failed.Add(1)
	r.mu.Lock()
	if len(r.failures) < MaxFailures {
		r.failures = append(r.failures, &KeyError{DB: db, Key: bytes.Clone(key), Err: err})
	}
	r.mu.Unlock()
}

// Failures returns up to MaxFailures key failures.
func (r *Restorer) Failures() []*KeyError {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*KeyError(nil), r.failures...)
}

// Stats returns the counters so far; they are final after Close.
func (r *Restorer) Stats() RestoreStats {
	return RestoreStats{Keys: r.keys.Load(), Skipped: r.skipped.Load(), Failed: r.failed.Load(),
		Commands: r.commands.Load(), Functions: r.functions.Load(), Bytes: r.sent.Load()}
}

// Key writes one key. It returns an error only when the restore must
// stop: a conflict under ConflictError, a key in a database a cluster
// does not have, a failed Writer. Per-key failures are counted.
func (r *Restorer) Key(ctx context.Context, kv *rdb.KeyValue) error {
	if err := r.Err(); err != nil {
		return err
	}
	if r.w.Cluster() && kv.DB != 0 {
		return fmt.Errorf("key %q is in db %d and a cluster has only db 0: choose what goes there with --db %d or --db-map %d=0", kv.Key, kv.DB, kv.DB, kv.DB)
	}
	payload, restorable, err := r.payloadFor(kv)
	if err != nil {
		r.fail(kv.DB, kv.Key, err)
		return nil
	}
	if restorable && int64(len(payload)) <= r.opts.MaxPayload {
		return r.restore(ctx, kv, payload)
	}
	return r.viaCommands(ctx, kv, payload)
}

// payloadFor returns the key's DUMP payload, if it has one or one is
// made, and whether the target can RESTORE it. A payload that is not
// restorable is turned into commands. The payload is valid until the
// next key.
func (r *Restorer) payloadFor(kv *rdb.KeyValue) (payload []byte, restorable bool, err error) {
	r.payload.Reset()
	tv := r.target.RDBVersion
	if tv == 0 {
		tv = 10 // unknown version: assume Redis 7.0
	}
	switch {
	case kv.Dump != nil:
		if err := kv.Dump(&r.payload); err != nil {
			return nil, false, err
		}
		p := r.payload.Bytes()
		v, err := rdb.DumpVersion(p)
		if err != nil {
			return nil, false, err
		}
		if kv.Type == rdb.TypeModule || v <= tv && r.opts.Mode != ModeCommands {
			return p, true, nil
		}
		if r.opts.Mode == ModeRestore {
			return nil, false, fmt.Errorf("payload of RDB %d: %s %s loads RDB %d and older (use --mode auto)", v, r.target.Server, r.target.Version, tv)
		}
		return p, false, nil
	case r.opts.Mode == ModeCommands || tv < 10:
		return nil, false, nil
	default:
		if err := rdb.EncodeDump(&r.payload, kv, min(tv, rdb.MaxRedisVersion)); err != nil {
			return nil, false, err
		}
		return r.payload.Bytes(), true, nil
	}
}

// restore sends RESTORE key ttl payload [ABSTTL] [REPLACE] [IDLETIME n|FREQ n].
func (r *Restorer) restore(ctx context.Context, kv *rdb.KeyValue, payload []byte) error {
	args := make([][]byte, 0, 8)
	ttl := []byte("0")
	if kv.ExpireAt != rdb.NoExpiry {
		ttl = strconv.AppendInt(nil, kv.ExpireAt, 10)
	}
	args = append(args, []byte("RESTORE"), kv.Key, ttl, payload)
	if kv.ExpireAt != rdb.NoExpiry {
		args = append(args, []byte("ABSTTL"))
	}
	if r.opts.Conflict == ConflictReplace {
		args = append(args, []byte("REPLACE"))
	}
	switch {
	case kv.Idle >= 0:
		args = append(args, []byte("IDLETIME"), strconv.AppendInt(nil, kv.Idle, 10))
	case kv.Freq >= 0:
		args = append(args, []byte("FREQ"), strconv.AppendInt(nil, int64(kv.Freq), 10))
	}
	size := int64(len(payload) + len(kv.Key))
	r.limiter.wait(ctx, 1, size)
	db, key := kv.DB, bytes.Clone(kv.Key)
	cmd := &Command{DB: db, Key: key, Args: args, Idempotent: r.opts.Conflict == ConflictReplace,
		Done: func(_ aof.Value, err error) { r.keyDone(db, key, size, err) }}
	return r.w.Send(ctx, cmd)
}

func (r *Restorer) keyDone(db int, key []byte, size int64, err error) {
	switch {
	case err == nil:
		r.keys.Add(1)
		r.sent.Add(size)
	case ErrorCode(err) == "BUSYKEY" && r.opts.Conflict == ConflictSkip:
		r.skipped.Add(1)
	case ErrorCode(err) == "BUSYKEY":
		r.skipped.Add(1)
		r.stop(&KeyError{DB: db, Key: key, Err: ErrConflict})
	default:
		r.fail(db, key, err)
	}
}

// viaCommands writes the key as the commands that build it, from its
// elements or from payload when it has one. Under ConflictError and
// ConflictSkip it first asks whether the key exists; under
// ConflictReplace it deletes it first.
func (r *Restorer) viaCommands(ctx context.Context, kv *rdb.KeyValue, payload []byte) error {
	if r.opts.Conflict != ConflictReplace {
		exists, err := r.exists(ctx, kv.DB, kv.Key)
		if err != nil {
			r.fail(kv.DB, kv.Key, err)
			return nil
		}
		if exists {
			r.skipped.Add(1)
			if r.opts.Conflict == ConflictError {
				r.stop(&KeyError{DB: kv.DB, Key: bytes.Clone(kv.Key), Err: ErrConflict})
				return r.Err()
			}
			return nil
		}
	}
	db, key := kv.DB, bytes.Clone(kv.Key)
	r.limiter.wait(ctx, 1, 0)
	// One outcome per key: the first error of any of its commands.
	var (
		pending atomic.Int64
		failed  atomic.Pointer[error]
		size    atomic.Int64
	)
	pending.Add(1) // released after the last command is sent
	finish := func() {
		if pending.Add(-1) != 0 {
			return
		}
		if e := failed.Load(); e != nil {
			r.fail(db, key, *e)
			return
		}
		r.keys.Add(1)
		r.commands.Add(1)
		r.sent.Add(size.Load())
	}
	send := func(args ...[]byte) error {
		if len(args) == 2 && string(args[0]) == "SELECT" {
			return nil // the Writer selects by Command.DB
		}
		var n int64
		for _, a := range args {
			n += int64(len(a))
		}
		r.limiter.wait(ctx, 0, n)
		pending.Add(1)
		return r.w.Send(ctx, &Command{DB: db, Key: key, Args: args, Done: func(_ aof.Value, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			} else {
				size.Add(n)
			}
			finish()
		}})
	}
	var err error
	if r.opts.Conflict == ConflictReplace {
		err = send([]byte("DEL"), key)
	}
	write := func(v *rdb.KeyValue) error {
		v.DB, v.ExpireAt, v.Idle, v.Freq = kv.DB, kv.ExpireAt, kv.Idle, kv.Freq
		r.rw.Reset()
		return r.rw.Key(v, send)
	}
	if err == nil {
		if payload != nil {
			err = rdb.DecodeDump(kv.Key, payload, write)
		} else {
			err = write(kv)
		}
	}
	if err != nil && ctx.Err() == nil && r.Err() == nil {
		// The value could not be read or turned into commands: what was
		// sent of it stays, the key counts as failed.
		failed.CompareAndSwap(nil, &err)
		err = nil
	}
	finish()
	return err
}

// exists asks the target whether key exists, waiting for the answer.
func (r *Restorer) exists(ctx context.Context, db int, key []byte) (bool, error) {
	type result struct {
		v   aof.Value
		err error
	}
	ch := make(chan result, 1)
	err := r.w.Send(ctx, &Command{DB: db, Key: key, Args: [][]byte{[]byte("EXISTS"), key}, Idempotent: true,
		Done: func(v aof.Value, err error) { ch <- result{v, err} }})
	if err != nil {
		return false, err
	}
	select {
	case res := <-ch:
		return res.v.Int > 0, res.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Function restores one function library with FUNCTION RESTORE: APPEND
// for ConflictError and ConflictSkip (an existing library is an error or
// skipped), REPLACE for ConflictReplace. On a cluster it goes to every
// master.
func (r *Restorer) Function(ctx context.Context, code []byte) error {
	if err := r.Err(); err != nil {
		return err
	}
	policy := "APPEND"
	if r.opts.Conflict == ConflictReplace {
		policy = "REPLACE"
	}
	payload := rdb.FunctionsDump([][]byte{code})
	name := libraryName(code)
	done := func(_ aof.Value, err error) {
		switch {
		case err == nil:
			r.functions.Add(1)
		case r.opts.Conflict == ConflictSkip && isLibraryExists(err):
			r.skipped.Add(1)
		case isLibraryExists(err):
			r.stop(fmt.Errorf("function library %q: %w", name, ErrConflict))
		default:
			r.fail(0, []byte("function library "+name), err)
		}
	}
	return r.w.Send(ctx, &Command{Args: [][]byte{[]byte("FUNCTION"), []byte("RESTORE"), payload, []byte(policy)},
		Idempotent: policy == "REPLACE", Done: done})
}

func isLibraryExists(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("already exists"))
}

// libraryName reads the name from a library's "#!lua name=..." line.
func libraryName(code []byte) string {
	line, _, _ := bytes.Cut(code, []byte("\n"))
	if _, name, ok := bytes.Cut(line, []byte("name=")); ok {
		name, _, _ = bytes.Cut(name, []byte(" "))
		return string(name)
	}
	return "?"
}

// Flush empties the target (FLUSHALL on every master).
func (r *Restorer) Flush(ctx context.Context) error {
	ch := make(chan error, 1)
	if err := r.w.Send(ctx, &Command{Args: [][]byte{[]byte("FLUSHALL")}, Idempotent: true, Done: func(_ aof.Value, err error) { ch <- err }}); err != nil {
		return err
	}
	select {
	case err := <-ch:
		if err != nil {
			return fmt.Errorf("FLUSHALL: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close waits for every reply and closes the Writer. It returns the
// error that stopped the restore, if any.
func (r *Restorer) Close() error {
	werr := r.w.Close()
	if err := r.Err(); err != nil {
		return err
	}
	return werr
}

// limiter is a token bucket on keys and bytes per second.
type limiter struct {
	keys, bytes float64 // per second; 0 = no limit
	start       time.Time
	nKeys       float64
	nBytes      float64
}

func newLimiter(keys, bytes float64) *limiter {
	if keys <= 0 && bytes <= 0 {
		return nil
	}
	return &limiter{keys: keys, bytes: bytes, start: time.Now()}
}

// wait accounts for keys more keys and n more bytes and sleeps until the
// rates allow them.
func (l *limiter) wait(ctx context.Context, keys int, n int64) {
	if l == nil {
		return
	}
	l.nKeys += float64(keys)
	l.nBytes += float64(n)
	var due time.Duration
	if l.keys > 0 {
		due = time.Duration(l.nKeys / l.keys * float64(time.Second))
	}
	if l.bytes > 0 {
		due = max(due, time.Duration(l.nBytes/l.bytes*float64(time.Second)))
	}
	if d := due - time.Since(l.start); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}
