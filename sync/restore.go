package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
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
	// MaxInflightBytes bounds the bytes of commands awaiting replies
	// (default 64 MiB); one command bigger than that goes alone.
	MaxInflightBytes int64
	// MemoryHint, when set, is told how many bytes of big payloads are
	// held until their replies each time a big payload is sent, so that
	// the caller can raise a memory limit (debug.SetMemoryLimit) over
	// what must stay live instead of collecting garbage in vain.
	MemoryHint func(live int64)
	// DropExpired leaves out keys whose expiry has passed at Now, as
	// Redis does when it loads a dump. Either way such keys count in
	// RestoreStats.Expired, not Keys: a target drops them as they come.
	DropExpired bool
	// Now is the instant expiries are compared with; the zero value means
	// the wall clock at each key.
	Now time.Time
}

// RestoreStats count what a Restorer did.
type RestoreStats struct {
	Keys      int64 // keys written
	Skipped   int64 // keys left alone (ConflictSkip)
	Failed    int64 // keys the target refused, or whose outcome is unknown
	Commands  int64 // keys written as commands rather than RESTORE
	Functions int64
	Bytes     int64 // payload and argument bytes sent
	// Existing counts the keys found on the target under ConflictError:
	// the first one stopped the restore, the others were in flight then.
	Existing int64
	// Expired counts the keys whose expiry had passed: left out
	// (DropExpired) or sent and dropped by the target on arrival.
	Expired int64
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
var ErrConflict = errors.New("key exists on the target")

// ErrFieldExpiry means a hash has field expiries and the target has no
// command to set them (HPEXPIREAT came with Redis 7.4 and Valkey 9.0).
var ErrFieldExpiry = errors.New("the hash has field expiries and the target cannot set them")

// ErrTargetType means a key holds a type, or a part of one, that the
// target has no way to hold: Redis 8.8's arrays (RDB type 28) and NACKed
// stream entries (RDB type 27) on servers before Redis 8.8. Nothing of
// such a key is left on the target.
var ErrTargetType = errors.New("the target cannot hold this value")

// HasRDB14Types tells whether a server holds what Redis 8.8 (RDB 14)
// added: arrays and NACKed stream entries. A server of unknown version
// is given the benefit of the doubt.
func HasRDB14Types(si *ServerInfo) bool {
	if si.RDBVersion == 0 {
		return true
	}
	return si.Server != "valkey" && si.RDBVersion >= 14 && si.RDBVersion < 80
}

// targetTypeError is a key's failure on a target without what Redis 8.8
// added; what names the type.
func (r *Restorer) targetTypeError(what string) error {
	return fmt.Errorf("%w: %s came with Redis 8.8 (RDB 14), and %s %s loads RDB %d", ErrTargetType, what, r.target.Server, r.target.Version, r.target.RDBVersion)
}

const (
	whatArray  = "an array (RDB type 28)"
	whatNacked = "a stream with NACKed entries (RDB type 27, XNACK)"
)

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

	chunks   chunkBuf     // the payload of the key being written
	lent     atomic.Int64 // bytes of payloads lent to the Writer
	inflight budget       // bytes of commands awaiting replies
	args     [][]byte     // RESTORE's arguments, reused
	num      [2][20]byte  // their numbers
	cmd      Command      // reused: the Writer copies what it keeps
	rw       *aof.Rewriter

	keys, skipped, failed, existing, expired, commands, functions, sent atomic.Int64

	mu       gosync.Mutex
	first    error // the error that stops the restore (a conflict)
	failures []*KeyError
	// Keys whose commands failed after some of them were applied: deleted
	// by the next Key or by Close, so that no key is left half-built.
	doomed  []doomedKey
	ndoomed atomic.Int64
	open    tracker // keys written as commands whose replies are awaited
	// fieldTTL tells whether the target can set hash field expiries.
	fieldTTL bool
	// rdb14 tells whether the target holds arrays and NACKed entries.
	rdb14 bool

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
		return nil, fmt.Errorf("%s %s loads RDB %d: %w", target.Server, target.Version, target.RDBVersion, ErrRestoreMode)
	}
	if opts.MaxInflightBytes <= 0 {
		opts.MaxInflightBytes = 64 << 20
	}
	r := &Restorer{w: w, target: target, opts: opts, inflight: budget{max: opts.MaxInflightBytes},
		rw:       aof.NewRewriter(aof.RewriteOptions{Batch: opts.Batch, BatchBytes: int(min(opts.MaxPayload/2, 4<<20))}),
		limiter:  newLimiter(opts.KeysPerSecond, opts.BytesPerSecond),
		fieldTTL: HasFieldExpiry(target), rdb14: HasRDB14Types(target)}
	return r, nil
}

// HasFieldExpiry tells whether a server can set hash field expiries
// (HPEXPIREAT): Redis 7.4 and later, Valkey 9.0 and later, and a server
// of unknown version, given the benefit of the doubt.
func HasFieldExpiry(si *ServerInfo) bool {
	if si.RDBVersion == 0 {
		return true
	}
	if si.Server == "valkey" {
		return si.RDBVersion >= 80
	}
	return si.RDBVersion >= 12
}

// fieldExpiryError is a hash's failure on a target without HPEXPIREAT.
func (r *Restorer) fieldExpiryError() error {
	return fmt.Errorf("%w: %s %s has no HPEXPIREAT (Redis 7.4 and Valkey 9.0 have it)", ErrFieldExpiry, r.target.Server, r.target.Version)
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

// fail counts a failed key and keeps its error (the first MaxFailures),
// which it returns (nil when not kept).
func (r *Restorer) fail(db int, key []byte, err error) *KeyError {
	r.failed.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) < MaxFailures {
		ke := &KeyError{DB: db, Key: bytes.Clone(key), Err: err}
		r.failures = append(r.failures, ke)
		return ke
	}
	return nil
}

// conflict counts a key found on the target under ConflictError: the
// first stops the restore; the ones in flight then are only counted.
func (r *Restorer) conflict(db int, key []byte) {
	r.existing.Add(1)
	r.stop(&KeyError{DB: db, Key: bytes.Clone(key), Err: ErrConflict})
}

// doomedKey is a key to delete: its commands failed after some were
// applied. ke is its failure, if kept, to tell what became of it.
type doomedKey struct {
	db  int
	key []byte
	ke  *KeyError
}

// cleanup deletes the keys left half-built by failed commands.
func (r *Restorer) cleanup(ctx context.Context) error {
	if r.ndoomed.Load() == 0 {
		return nil
	}
	r.mu.Lock()
	doomed := r.doomed
	r.doomed = nil
	r.ndoomed.Store(0)
	r.mu.Unlock()
	for _, d := range doomed {
		err := r.w.Send(ctx, &Command{DB: d.db, Key: d.key, Args: [][]byte{[]byte("DEL"), d.key}, Idempotent: true,
			Done: func(_ aof.Value, err error) {
				if d.ke == nil {
					return
				}
				r.mu.Lock()
				if err != nil {
					d.ke.Err = fmt.Errorf("%w; what was written of it could not be deleted: %v", d.ke.Err, err)
				} else {
					d.ke.Err = fmt.Errorf("%w (what was written of it was deleted)", d.ke.Err)
				}
				r.mu.Unlock()
			}})
		if err != nil {
			return err
		}
	}
	return nil
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
		Existing: r.existing.Load(), Expired: r.expired.Load(),
		Commands: r.commands.Load(), Functions: r.functions.Load(), Bytes: r.sent.Load()}
}

// Key writes one key. It returns an error only when the restore must
// stop: a conflict under ConflictError, a key in a database a cluster
// does not have, a failed Writer. Per-key failures are counted. A key
// whose expiry has passed is left out under DropExpired (before any
// other check: it is not written anywhere).
func (r *Restorer) Key(ctx context.Context, kv *rdb.KeyValue) error {
	if err := r.Err(); err != nil {
		return err
	}
	if err := r.cleanup(ctx); err != nil {
		return err
	}
	expired := kv.ExpireAt != rdb.NoExpiry && kv.ExpireAt < r.now()
	if expired && r.opts.DropExpired {
		r.expired.Add(1)
		return nil
	}
	if r.w.Cluster() && kv.DB != 0 {
		return &ClusterDBError{DB: kv.DB, Key: bytes.Clone(kv.Key)}
	}
	if kv.Type == rdb.TypeArray && !r.rdb14 {
		r.fail(kv.DB, kv.Key, r.targetTypeError(whatArray))
		return nil
	}
	has, restorable, err := r.payloadFor(kv)
	if err != nil {
		if ve := (*rdb.VersionError)(nil); errors.As(err, &ve) {
			switch {
			case kv.Type == rdb.TypeHash && !r.fieldTTL:
				// Field expiries that no encoding the target loads can
				// carry, and no command it has can set: nothing was sent.
				err = r.fieldExpiryError()
			case kv.Type == rdb.TypeStream && !r.rdb14:
				err = r.targetTypeError(whatNacked) // likewise
			}
		}
		r.fail(kv.DB, kv.Key, err)
		return nil
	}
	if restorable && r.chunks.n <= r.opts.MaxPayload {
		return r.restore(ctx, kv, expired)
	}
	var payload []byte
	if has {
		payload = r.chunks.contiguous()
	}
	return r.viaCommands(ctx, kv, payload, expired)
}

// now is the instant expiries are compared with, in Unix ms.
func (r *Restorer) now() int64 {
	if r.opts.Now.IsZero() {
		return time.Now().UnixMilli()
	}
	return r.opts.Now.UnixMilli()
}

// payloadFor puts the key's DUMP payload in r.chunks, when it has one or
// one is made (has), and tells whether the target can RESTORE it. A
// payload that is not restorable is turned into commands.
func (r *Restorer) payloadFor(kv *rdb.KeyValue) (has, restorable bool, err error) {
	r.chunks.reset()
	tv := r.target.RDBVersion
	if tv == 0 {
		tv = 10 // unknown version: assume Redis 7.0
	}
	switch {
	case kv.Dump != nil:
		if err := kv.Dump(&r.chunks); err != nil {
			return false, false, err
		}
		v, err := r.chunks.version()
		if err != nil {
			return false, false, err
		}
		if kv.Type == rdb.TypeModule || v <= tv && r.opts.Mode != ModeCommands {
			return true, true, nil
		}
		if r.opts.Mode == ModeRestore {
			return false, false, &PayloadVersionError{Payload: v, Server: r.target.Server, Version: r.target.Version, Loads: tv}
		}
		return true, false, nil
	case r.opts.Mode == ModeCommands || tv < 10:
		return false, false, nil
	default:
		if err := rdb.EncodeDump(&r.chunks, kv, min(tv, rdb.MaxRedisVersion)); err != nil {
			return false, false, err
		}
		return true, true, nil
	}
}

// budget bounds the bytes of commands in flight: a deep pipeline of small
// keys without letting big values pile up in memory. A command bigger
// than the whole budget goes alone.
type budget struct {
	mu      gosync.Mutex
	used    int64
	max     int64
	waiting bool
	wake    chan struct{}
}

func (b *budget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		if !b.waiting {
			b.waiting, b.wake = true, make(chan struct{})
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	if b.waiting {
		b.waiting = false
		close(b.wake)
	}
	b.mu.Unlock()
}

// chunkSize is the size of the pieces payloads are gathered in. A payload
// that fits in one is copied by the Writer; bigger ones are lent to it
// whole, so that no value is ever copied or held twice.
const chunkSize = 256 << 10

var chunkPool = gosync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

// chunkBuf is an io.Writer gathering a payload in pooled chunks.
type chunkBuf struct {
	chunks [][]byte
	n      int64
}

func (c *chunkBuf) reset() {
	if len(c.chunks) > 1 {
		c.release()
	}
	if len(c.chunks) == 1 {
		c.chunks[0] = c.chunks[0][:0]
	}
	c.n = 0
}

// release gives the chunks back to the pool and empties c.
func (c *chunkBuf) release() {
	for _, b := range c.chunks {
		b = b[:0]
		chunkPool.Put(&b)
	}
	c.chunks, c.n = nil, 0
}

// detach hands the chunks over (to the Writer) and leaves c empty.
func (c *chunkBuf) detach() [][]byte {
	out := c.chunks
	c.chunks, c.n = nil, 0
	return out
}

func (c *chunkBuf) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(c.chunks) == 0 || len(c.chunks[len(c.chunks)-1]) == chunkSize {
			c.chunks = append(c.chunks, (*chunkPool.Get().(*[]byte))[:0])
		}
		last := &c.chunks[len(c.chunks)-1]
		k := min(len(p), chunkSize-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
	c.n += int64(n)
	return n, nil
}

// contiguous returns the payload in one slice (copying it when it spans
// several chunks).
func (c *chunkBuf) contiguous() []byte {
	switch len(c.chunks) {
	case 0:
		return nil
	case 1:
		return c.chunks[0]
	}
	b := make([]byte, 0, c.n)
	for _, x := range c.chunks {
		b = append(b, x...)
	}
	return b
}

// version reads the RDB version in the payload's trailer.
func (c *chunkBuf) version() (int, error) {
	if c.n < 11 {
		return 0, fmt.Errorf("%w: DUMP payload of %d bytes is too short", rdb.ErrCorrupt, c.n)
	}
	var tail [10]byte
	k := len(tail)
	for i := len(c.chunks) - 1; i >= 0 && k > 0; i-- {
		x := c.chunks[i]
		m := min(k, len(x))
		copy(tail[k-m:k], x[len(x)-m:])
		k -= m
	}
	return int(tail[0]) | int(tail[1])<<8, nil
}

// pendingKey is one RESTORE waiting for its reply. They are recycled
// (pendingPool), with their key's bytes and their bound done: a sync of
// millions of keys allocated three objects a key for them.
type pendingKey struct {
	r       *Restorer
	db      int
	key     []byte
	size    int64
	expired bool     // the target drops it on arrival
	chunks  [][]byte // a big payload lent to the Writer, given back to the pool
	version int      // the payload's RDB version
	doneFn  func(aof.Value, error)
}

var pendingPool gosync.Pool // of *pendingKey

func init() {
	// set here: New refers to done, which puts into the pool
	pendingPool.New = func() any {
		p := new(pendingKey)
		p.doneFn = p.done
		return p
	}
}

// maxPooledKey is the longest key whose bytes a recycled pendingKey keeps.
const maxPooledKey = 1 << 10

func newPendingKey(r *Restorer, db int, key []byte, size int64, expired bool) *pendingKey {
	p := pendingPool.Get().(*pendingKey)
	p.r, p.db, p.key, p.size, p.expired = r, db, append(p.key[:0], key...), size, expired
	return p
}

func (p *pendingKey) done(_ aof.Value, err error) {
	p.r.inflight.release(p.size)
	if p.chunks != nil {
		(&chunkBuf{chunks: p.chunks}).release()
		p.r.lent.Add(-p.size)
	}
	if err != nil && strings.Contains(err.Error(), "DUMP payload version") {
		// The target does not load the payload's RDB version: say which.
		err = fmt.Errorf("%w (a payload of RDB %d, which %s %s does not load)", err, p.version, p.r.target.Server, p.r.target.Version)
	}
	p.r.keyDone(p.db, p.key, p.size, p.expired, err) // copies what it keeps
	key := p.key[:0]
	if cap(key) > maxPooledKey {
		key = nil
	}
	*p = pendingKey{key: key, doneFn: p.doneFn}
	pendingPool.Put(p)
}

// restore sends RESTORE key ttl payload [ABSTTL] [REPLACE] [IDLETIME n|FREQ n]
// with the payload in r.chunks. The Writer copies the arguments, so
// they live in reused buffers, except a payload of several chunks, which
// is lent to it until the reply.
func (r *Restorer) restore(ctx context.Context, kv *rdb.KeyValue, expired bool) error {
	var payload []byte
	if len(r.chunks.chunks) == 1 {
		payload = r.chunks.chunks[0]
	}
	args := aof.AppendRestore(r.args[:0], &r.num, kv, payload, r.opts.Conflict == ConflictReplace)
	r.args = args
	size := r.chunks.n + int64(len(kv.Key))
	r.limiter.wait(ctx, 1, size)
	if err := r.inflight.acquire(ctx, size); err != nil {
		return err
	}
	pk := newPendingKey(r, kv.DB, kv.Key, size, expired)
	pk.version, _ = r.chunks.version()
	// The Writer reads Key only in Send; pk (and its key) may be recycled
	// as soon as Done has run.
	r.cmd = Command{DB: kv.DB, Key: pk.key, Args: args, Idempotent: r.opts.Conflict == ConflictReplace, Done: pk.doneFn}
	if len(r.chunks.chunks) > 1 {
		pk.chunks = r.chunks.detach()
		r.cmd.Chunked, r.cmd.ChunkedArg = pk.chunks, 3
		if r.opts.MemoryHint != nil {
			r.opts.MemoryHint(r.lent.Add(size))
		}
	}
	return r.w.Send(ctx, &r.cmd)
}

func (r *Restorer) keyDone(db int, key []byte, size int64, expired bool, err error) {
	switch {
	case err == nil && expired:
		r.expired.Add(1)
		r.sent.Add(size)
	case err == nil:
		r.keys.Add(1)
		r.sent.Add(size)
	case ErrorCode(err) == "BUSYKEY" && r.opts.Conflict == ConflictSkip:
		r.skipped.Add(1)
	case ErrorCode(err) == "BUSYKEY":
		r.conflict(db, key)
	default:
		r.fail(db, key, err)
	}
}

// viaCommands writes the key as the commands that build it, from its
// elements or from payload when it has one. Under ConflictError and
// ConflictSkip it first asks whether the key exists; under
// ConflictReplace it deletes it first. When any of its commands fails
// after others were applied, the key is deleted again (by the next Key
// or by Close): it is left whole or absent, never half-built.
func (r *Restorer) viaCommands(ctx context.Context, kv *rdb.KeyValue, payload []byte, expired bool) error {
	if r.opts.Conflict != ConflictReplace {
		exists, err := r.exists(ctx, kv.DB, kv.Key)
		if err != nil {
			r.fail(kv.DB, kv.Key, err)
			return nil
		}
		if exists {
			if r.opts.Conflict == ConflictError {
				r.conflict(kv.DB, kv.Key)
				return r.Err()
			}
			r.skipped.Add(1)
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
		applied atomic.Int64 // commands the target took
	)
	r.open.add()
	pending.Add(1) // released after the last command is sent
	finish := func() {
		if pending.Add(-1) != 0 {
			return
		}
		defer r.open.sub()
		if e := failed.Load(); e != nil {
			ke := r.fail(db, key, *e)
			if applied.Load() > 0 {
				r.mu.Lock()
				r.doomed = append(r.doomed, doomedKey{db: db, key: key, ke: ke})
				r.ndoomed.Store(int64(len(r.doomed)))
				r.mu.Unlock()
			}
			return
		}
		if expired {
			r.expired.Add(1)
		} else {
			r.keys.Add(1)
			r.commands.Add(1)
		}
		r.sent.Add(size.Load())
	}
	send := func(args ...[]byte) error {
		if len(args) == 2 && string(args[0]) == "SELECT" {
			return nil // the Writer selects by Command.DB
		}
		if !r.fieldTTL && bytes.EqualFold(args[0], []byte("HPEXPIREAT")) {
			return r.fieldExpiryError()
		}
		if !r.rdb14 {
			switch {
			case bytes.EqualFold(args[0], []byte("XNACK")):
				return r.targetTypeError(whatNacked)
			case bytes.EqualFold(args[0], []byte("ARMSET")), bytes.EqualFold(args[0], []byte("ARSEEK")):
				return r.targetTypeError(whatArray)
			}
		}
		var n int64
		for _, a := range args {
			n += int64(len(a))
		}
		r.limiter.wait(ctx, 0, n)
		if err := r.inflight.acquire(ctx, n); err != nil {
			return err
		}
		// A Send that fails may or may not have called Done: the first
		// call counts, so that the key's outcome comes exactly once.
		var once atomic.Bool
		done := func(_ aof.Value, err error) {
			if !once.CompareAndSwap(false, true) {
				return
			}
			r.inflight.release(n)
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			} else {
				size.Add(n)
				applied.Add(1)
			}
			finish()
		}
		pending.Add(1)
		if err := r.w.Send(ctx, &Command{DB: db, Key: key, Args: args, Done: done}); err != nil {
			done(aof.Value{}, err)
			return err
		}
		return nil
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
		// The value could not be read or turned into commands: the key
		// counts as failed, and what was sent of it is deleted.
		keyErr := err
		failed.CompareAndSwap(nil, &keyErr)
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

// Close waits for every reply, deletes the keys that failed half-built,
// and closes the Writer. It returns the error that stopped the restore,
// if any.
func (r *Restorer) Close() error {
	// Every key's replies first, then the keys left half-built go.
	r.open.wait(context.Background())
	cerr := r.cleanup(context.Background())
	werr := r.w.Close()
	if werr == nil {
		werr = cerr
	}
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
