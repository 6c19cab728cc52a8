package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/countio"
	"github.com/redkit/redkit/internal/retry"
	"github.com/redkit/redkit/rdb"
)

// SyncOptions configure a Syncer.
type SyncOptions struct {
	// Source resolves the source's current address on every (re)connect:
	// a fixed address, or a Sentinel lookup that follows failovers.
	Source func(ctx context.Context) (string, error)
	// SourceName names the source in the checkpoint and logs (its URL
	// without password).
	SourceName string
	SourceConn Options
	// ListeningPort is announced to the source (REPLCONF listening-port).
	ListeningPort int
	// LinkTimeout is the longest the replication link may go without a
	// byte from the source (ReplicaOptions.Timeout: default 60s); a
	// stalled link is retried as a cut one.
	LinkTimeout time.Duration

	Target     string // the target's address: a standalone server, or any node of a cluster
	TargetConn Options
	// TargetCluster tells that the target is a cluster: commands are
	// routed by slot, and the guarantee is at least once.
	TargetCluster bool
	// Strict refuses a source transaction spanning several slots of a
	// cluster target instead of splitting it.
	Strict bool
	// Restore configures how the full sync's keys are written; its
	// Conflict defaults to ConflictReplace (the target mirrors the source).
	Restore RestoreOptions

	// CheckpointFile, if set, is where the position is saved every second,
	// after the full sync and on stopping.
	CheckpointFile string
	// CheckpointKey, if set, is the key on the target (db 0) that holds the
	// position, written in the same MULTI/EXEC as the commands it covers:
	// exactly-once. Empty: no key on the target.
	CheckpointKey string
	// SpoolDir, if set, is where the snapshot is written first, as fast
	// as the source sends it, then loaded into the target from there: for
	// a target slower than the source's client-output-buffer-limit for
	// replicas allows. The file is removed once loaded.
	SpoolDir string
	// FlushTarget empties the target (FLUSHALL) before a full sync, so that
	// keys the source deleted since an earlier sync do not stay behind.
	FlushTarget bool
	// UntilCaughtUp stops once every command the source had when the
	// stream started (after the full sync, or on continuing) is applied.
	UntilCaughtUp bool
	// AckEvery is the interval of REPLCONF ACK and of checkpoint saves
	// (default 1s).
	AckEvery time.Duration
	// RetryFor bounds how long a broken sync is retried without getting
	// anywhere (0: forever), with backoff from 100ms to MaxBackoff (30s).
	RetryFor   time.Duration
	MaxBackoff time.Duration
	// ForwardPubSub republishes the source's PUBLISH on the target; by
	// default messages are dropped (they are not data).
	ForwardPubSub bool
	// Filter, if set, selects the databases, keys and commands copied.
	Filter *SyncFilter
	// OnSnapshotWait, if set, is called when the source keeps a link
	// waiting before its snapshot (ReplicaOptions.OnSnapshotWait).
	OnSnapshotWait func(SnapshotWait)
	Log            *slog.Logger
}

// Sync phases.
const (
	PhaseConnecting = "connecting"
	PhaseFullSync   = "full-sync"
	PhaseStreaming  = "streaming"
	PhaseBackoff    = "backoff"
	PhaseDone       = "done"
)

// SyncStatus is a Syncer's state at one moment.
type SyncStatus struct {
	Phase     string `json:"phase"`
	Source    string `json:"source"`
	ReplID    string `json:"replid"`
	FullSyncs int64  `json:"full_syncs"`
	// The full sync under way or last done.
	FullBytes      int64 `json:"full_sync_bytes"`
	FullBytesTotal int64 `json:"full_sync_bytes_total"` // -1: unknown (diskless)
	FullKeys       int64 `json:"full_sync_keys"`
	FullKeysTotal  int64 `json:"full_sync_keys_total"` // from the source's INFO keyspace
	// The stream.
	Received   int64   `json:"received_offset"` // offset of the last command read
	Applied    int64   `json:"applied_offset"`  // offset the target is at
	LagBytes   int64   `json:"lag_bytes"`
	LagSeconds float64 `json:"lag_seconds"`
	Commands   int64   `json:"commands"`         // stream commands applied
	Skipped    int64   `json:"commands_skipped"` // left out by the filter or its Deny list
	Errors     int64   `json:"errors"`
	Reconnects int64   `json:"reconnects"`
	LastError  string  `json:"last_error,omitempty"`
	// Shards lists each master's status when the source is a cluster
	// (the fields above then sum them up; offsets are per shard).
	Shards []SyncStatus `json:"shards,omitempty"`
}

// A Syncer mirrors a live source into a standalone target as one of its
// replicas: a full sync, then the command stream, resumed with PSYNC
// from its checkpoint after any interruption.
type Syncer struct {
	opts SyncOptions
	log  *slog.Logger

	mu         gosync.Mutex
	cp         *Checkpoint // the position, as known to this process
	phase      string
	lastErr    string
	a          streamApplier // the running applier, for Status
	fullSyncs  atomic.Int64
	fullBytes  atomic.Int64
	fullTotal  atomic.Int64
	fullKeys   func() int64
	keysTotal  atomic.Int64
	received   atomic.Int64
	commands   atomic.Int64
	skipped    atomic.Int64
	errs       atomic.Int64
	reconnects atomic.Int64

	// Latency, if set, is called with how long each batch of the stream
	// took from receipt to the target's reply.
	Latency func(time.Duration)
}

// orDiscard is log, or a logger that discards when it is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// NewSyncer returns a Syncer; Run starts it.
func NewSyncer(opts SyncOptions) *Syncer {
	if opts.Restore.Conflict == "" {
		opts.Restore.Conflict = ConflictReplace
	}
	if opts.AckEvery <= 0 {
		opts.AckEvery = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	log := orDiscard(opts.Log)
	return &Syncer{opts: opts, log: log, phase: PhaseConnecting}
}

// Status returns the current state; safe from any goroutine.
func (s *Syncer) Status() SyncStatus {
	s.mu.Lock()
	st := SyncStatus{Phase: s.phase, Source: s.opts.SourceName, LastError: s.lastErr}
	if s.cp != nil {
		st.ReplID, st.Applied = s.cp.ReplID, s.cp.Offset
	}
	a, keys := s.a, s.fullKeys
	s.mu.Unlock()
	st.FullSyncs = s.fullSyncs.Load()
	st.FullBytes, st.FullBytesTotal = s.fullBytes.Load(), s.fullTotal.Load()
	if keys != nil {
		st.FullKeys = keys()
	}
	st.FullKeysTotal = s.keysTotal.Load()
	st.Received = s.received.Load()
	if a != nil {
		st.Applied = a.position().Offset
		st.LagSeconds = a.lag().Seconds()
	}
	if st.Received > st.Applied && st.Phase == PhaseStreaming {
		st.LagBytes = st.Received - st.Applied
	}
	st.Commands = s.commands.Load()
	st.Skipped = s.skipped.Load()
	st.Errors = s.errs.Load()
	st.Reconnects = s.reconnects.Load()
	return st
}

func (s *Syncer) setPhase(p string) {
	s.mu.Lock()
	s.phase = p
	s.mu.Unlock()
}

// Checkpoint returns the position reached so far (nil before the first
// full sync ends).
func (s *Syncer) Checkpoint() *Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cp == nil {
		return nil
	}
	c := *s.cp
	return &c
}

// Run syncs until ctx is done (nil: a clean stop, the checkpoint saved),
// until caught up with UntilCaughtUp, or until an error that retrying
// cannot fix. Network errors, a restarting source or target, and a
// Sentinel failover are retried with backoff.
func (s *Syncer) Run(ctx context.Context) error {
	if err := s.loadCheckpoint(ctx); err != nil {
		return err
	}
	r := retry.Retrier{Backoff: retry.Backoff{First: 100 * time.Millisecond, Max: s.opts.MaxBackoff}, Limit: s.opts.RetryFor}
	for {
		progress := s.received.Load()
		done, err := s.runOnce(ctx)
		if ctx.Err() != nil {
			s.setPhase(PhaseDone)
			return s.saveFile()
		}
		if err == nil && done {
			s.setPhase(PhaseDone)
			return s.saveFile()
		}
		s.errs.Add(1)
		s.mu.Lock()
		s.lastErr = err.Error()
		s.mu.Unlock()
		s.saveFile()
		if !retryable(err) {
			s.setPhase(PhaseDone)
			return err
		}
		if s.received.Load() != progress {
			r.Progress()
		}
		backoff, ok := r.Failed()
		if !ok {
			return fmt.Errorf("gave up after %s of retries: %w", s.opts.RetryFor, err)
		}
		s.reconnects.Add(1)
		s.setPhase(PhaseBackoff)
		s.log.Warn("sync interrupted; reconnecting", "err", err, "in", backoff)
		if !retry.Wait(ctx, backoff) {
			s.setPhase(PhaseDone)
			return s.saveFile()
		}
	}
}

// Retryable tells whether a failed run of a replication link is worth
// another (retryable): continuous capture retries as Syncer does.
func Retryable(err error) bool { return retryable(err) }

// retryable tells whether a failed run is worth another: the network,
// a restarting or loading server, a source that is itself resyncing.
func retryable(err error) bool {
	if errors.As(err, new(*resumableError)) {
		return true
	}
	var ae *ApplyError
	if errors.As(err, &ae) {
		return false
	}
	var ke *KeyError
	if errors.As(err, &ke) {
		return false
	}
	switch ErrorCode(err) {
	case "NOMASTERLINK", "LOADING", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN":
		return true
	}
	return Transient(err)
}

// loadCheckpoint reads the position to resume from: the target's key
// (authoritative: it moves with the data), else the file.
func (s *Syncer) loadCheckpoint(ctx context.Context) error {
	var cp *Checkpoint
	if s.opts.CheckpointFile != "" {
		c, err := LoadCheckpoint(s.opts.CheckpointFile)
		if err != nil {
			return err
		}
		cp = c
	}
	if s.opts.CheckpointKey != "" {
		tc, err := s.targetCheckpoint(ctx)
		if err != nil {
			return err
		}
		switch {
		case cp != nil && tc == nil:
			s.log.Warn("the checkpoint file has a position but the target has no checkpoint key (emptied or replaced?): a full sync makes sure it holds the data",
				"file_replid", cp.ReplID, "file_offset", cp.Offset, "key", s.opts.CheckpointKey)
		case cp != nil && (tc.ReplID != cp.ReplID || tc.Offset != cp.Offset || tc.DB != cp.DB):
			s.log.Info("resuming from the target's checkpoint key, which moves with the data, rather than the file",
				"key_replid", tc.ReplID, "key_offset", tc.Offset, "file_replid", cp.ReplID, "file_offset", cp.Offset)
		}
		cp = tc
	}
	if cp != nil {
		cp.Source = s.opts.SourceName
	}
	s.mu.Lock()
	s.cp = cp
	s.mu.Unlock()
	return nil
}

// targetCheckpoint reads the checkpoint key on the target.
func (s *Syncer) targetCheckpoint(ctx context.Context) (*Checkpoint, error) {
	v, err := s.targetKeyDo(ctx, "GET", s.opts.CheckpointKey)
	if err != nil {
		return nil, fmt.Errorf("read the checkpoint %s on the target: %w", s.opts.CheckpointKey, err)
	}
	if v.Null {
		return nil, nil
	}
	cp, err := parseTargetValue(v.Str)
	if err != nil {
		return nil, fmt.Errorf("key %s on the target: %w (delete it to start with a full sync)", s.opts.CheckpointKey, err)
	}
	return cp, nil
}

// targetKeyDo runs one command on the checkpoint key: on a standalone
// target over a connection to db 0, on a cluster through a Writer that
// finds the key's master.
func (s *Syncer) targetKeyDo(ctx context.Context, args ...string) (aof.Value, error) {
	if !s.opts.TargetCluster {
		c, err := s.dialTarget(ctx)
		if err != nil {
			return aof.Value{}, err
		}
		defer c.Close()
		return c.DoString(args...)
	}
	w, err := NewWriter(ctx, s.opts.Target, true, WriterOptions{Conn: s.opts.TargetConn})
	if err != nil {
		return aof.Value{}, err
	}
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	var v aof.Value
	var cerr error
	err = w.Send(ctx, &Command{Key: b[1], Args: b, Idempotent: true, Done: func(r aof.Value, err error) { v, cerr = r, err }})
	if werr := w.Close(); err == nil {
		err = werr
	}
	if err == nil {
		err = cerr
	}
	return v, err
}

func (s *Syncer) dialTarget(ctx context.Context) (*Conn, error) {
	o := s.opts.TargetConn
	o.DB = 0
	return Dial(ctx, s.opts.Target, &o)
}

func (s *Syncer) saveFile() error {
	if s.opts.CheckpointFile == "" {
		return nil
	}
	s.mu.Lock()
	var cp *Checkpoint
	if s.cp != nil {
		c := *s.cp
		c.Saved = time.Now().UTC()
		cp = &c
	}
	s.mu.Unlock()
	return SaveCheckpoint(s.opts.CheckpointFile, cp)
}

func (s *Syncer) setCheckpoint(replid string, p Pos) {
	s.mu.Lock()
	if s.cp == nil || s.cp.ReplID != replid || s.cp.Pos() != p {
		s.cp = &Checkpoint{Source: s.opts.SourceName, ReplID: replid, Offset: p.Offset, DB: p.DB, DataOffset: p.DataOffset, DataDB: p.DataDB}
	}
	s.mu.Unlock()
}

// runOnce connects, resynchronizes or continues, and streams until an
// error, ctx is done, or caught up (done).
func (s *Syncer) runOnce(ctx context.Context) (done bool, err error) {
	s.setPhase(PhaseConnecting)
	if s.opts.CheckpointKey != "" && s.cp != nil && !s.opts.TargetCluster {
		// The key moves with the data: after a cut link, it says whether
		// the last batch sent was applied.
		cp, err := s.targetCheckpoint(ctx)
		if err != nil {
			return false, err
		}
		s.mu.Lock()
		s.cp = cp
		s.mu.Unlock()
	}
	addr, err := s.opts.Source(ctx)
	if err != nil {
		return false, err
	}
	ro := ReplicaOptions{Conn: s.opts.SourceConn, ListeningPort: s.opts.ListeningPort, Timeout: s.opts.LinkTimeout, OnSnapshotWait: s.opts.OnSnapshotWait}
	cp := s.Checkpoint()
	if cp != nil {
		ro.ReplID, ro.Offset = cp.ReplID, cp.Offset
	}
	l, err := OpenLink(ctx, addr, ro)
	if err != nil {
		return false, err
	}
	if l.Full && cp != nil && cp.DataOffset < cp.Offset {
		// A failover's new master accepts no offset past where its history
		// parted from the old one's: the PINGs after the last command
		// applied may be past it. Those need nothing applied, so the
		// stream can go on from that command instead.
		s.log.Info("the source cannot continue after the last PING; trying after the last command applied",
			"offset", cp.Offset, "data_offset", cp.DataOffset)
		l.Close()
		ro.Offset = cp.DataOffset
		if l, err = OpenLink(ctx, addr, ro); err != nil {
			return false, err
		}
		if !l.Full {
			cp.Offset, cp.DB = cp.DataOffset, cp.DataDB
			s.setCheckpoint(cp.ReplID, cp.Pos())
		}
	}
	defer l.Close()
	stopWatch := context.AfterFunc(ctx, func() { l.Close() })
	defer stopWatch()
	if l.Full {
		if cp != nil {
			s.log.Warn("the source answered FULLRESYNC: a full sync starts over", "source", addr,
				"asked_replid", cp.ReplID, "asked_offset", cp.Offset+1, "replid", l.ReplID)
		}
		if err := s.fullSync(ctx, addr, l); err != nil {
			return false, err
		}
	} else {
		s.log.Info("continuing the stream", "source", addr, "replid", l.ReplID, "offset", l.Offset)
		s.setCheckpoint(l.ReplID, Pos{Offset: l.Offset, DB: cp.DB, DataOffset: cp.DataOffset, DataDB: cp.DataDB})
	}
	return s.stream(ctx, addr, l)
}

// fullSync loads the snapshot into the target, then records its offset.
func (s *Syncer) fullSync(ctx context.Context, addr string, l *Link) error {
	s.setPhase(PhaseFullSync)
	s.fullSyncs.Add(1)
	s.fullBytes.Store(0)
	s.received.Store(l.Offset)
	s.log.Info("full sync", "source", addr, "replid", l.ReplID, "offset", l.Offset)
	// Nothing to resume from until the snapshot is in: a restart in the
	// middle must not continue a stream over a half-replaced data set.
	s.mu.Lock()
	s.cp = nil
	s.mu.Unlock()
	if err := s.saveFile(); err != nil {
		return err
	}
	if s.opts.CheckpointKey != "" {
		if _, err := s.targetKeyDo(ctx, "DEL", s.opts.CheckpointKey); err != nil {
			return fmt.Errorf("delete the checkpoint %s on the target: %w", s.opts.CheckpointKey, err)
		}
	}
	if n, err := KeyCount(ctx, addr, &s.opts.SourceConn); err == nil {
		s.keysTotal.Store(n)
	}
	snap, err := l.Snapshot()
	if err != nil {
		return err
	}
	s.fullTotal.Store(l.SnapshotSize())
	c, err := Dial(ctx, s.opts.Target, &s.opts.TargetConn)
	if err != nil {
		return err
	}
	info, err := Info(c)
	c.Close()
	if err != nil {
		return err
	}
	w, err := NewWriter(ctx, s.opts.Target, s.opts.TargetCluster, WriterOptions{Conn: s.opts.TargetConn, Log: func(f string, a ...any) {
		s.log.Info(fmt.Sprintf(f, a...))
	}})
	if err != nil {
		return err
	}
	r, err := NewRestorer(w, info, s.opts.Restore)
	if err != nil {
		w.Close()
		return err
	}
	s.mu.Lock()
	s.fullKeys = func() int64 { return r.Stats().Keys }
	s.mu.Unlock()
	if s.opts.FlushTarget {
		if err := r.Flush(ctx); err != nil {
			r.Close()
			return err
		}
	}
	var in io.Reader = &countio.Reader{R: snap, N: &s.fullBytes}
	if s.opts.SpoolDir != "" {
		f, err := spool(s.opts.SpoolDir, in)
		if err != nil {
			r.Close()
			return fmt.Errorf("full sync from %s: %w", addr, err)
		}
		defer func() {
			f.Close()
			os.Remove(f.Name())
		}()
		s.log.Info("snapshot spooled; loading it into the target", "file", f.Name(), "bytes", s.fullBytes.Load())
		in = f
	}
	err = loadSnapshot(ctx, in, r, s.opts.Filter, nil)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("full sync from %s: %w", addr, err)
	}
	st := r.Stats()
	if st.Failed > 0 {
		f := r.Failures()
		return fmt.Errorf("full sync from %s: the target refused %d keys, first %w", addr, st.Failed, f[0])
	}
	// The master selects a database before its first command to a new
	// replica.
	s.setCheckpoint(l.ReplID, Pos{Offset: l.Offset, DataOffset: l.Offset})
	if s.opts.CheckpointKey != "" {
		if _, err := s.targetKeyDo(ctx, "SET", s.opts.CheckpointKey, string(s.Checkpoint().targetValue())); err != nil {
			return fmt.Errorf("write the checkpoint %s on the target: %w", s.opts.CheckpointKey, err)
		}
	}
	s.log.Info("full sync done", "keys", st.Keys, "bytes", s.fullBytes.Load(), "offset", l.Offset)
	return s.saveFile()
}

// spool copies the snapshot into a new file in dir and returns it,
// positioned at its start.
func spool(dir string, r io.Reader) (*os.File, error) {
	f, err := os.CreateTemp(dir, "redkit-snapshot-*.rdb")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	_, err = io.Copy(f, r)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("spool to %s: %w", f.Name(), err)
	}
	return f, nil
}

// stream applies the command stream from l.Offset.
func (s *Syncer) stream(ctx context.Context, addr string, l *Link) (done bool, err error) {
	cp := s.Checkpoint()
	f := s.opts.Filter
	var table commandTable
	if f.keyFilter() || s.opts.TargetCluster {
		c, err := Dial(ctx, addr, &s.opts.SourceConn)
		if err != nil {
			return false, err
		}
		table, err = loadCommands(c)
		c.Close()
		if err != nil {
			return false, err
		}
	}
	at := cp.Pos()
	var a streamApplier
	var ca *clusterApplier
	if s.opts.TargetCluster {
		w, err := NewWriter(ctx, s.opts.Target, true, WriterOptions{Conn: s.opts.TargetConn, Log: func(f string, a ...any) {
			s.log.Info(fmt.Sprintf(f, a...))
		}})
		if err != nil {
			return false, err
		}
		ca = newClusterApplier(w, table, at, s.opts.Strict, s.log)
		a = ca
	} else {
		tc, err := s.dialTarget(ctx)
		if err != nil {
			return false, err
		}
		defer tc.Close()
		// A failed target unblocks the wait for the source's next command.
		a = newApplier(tc, s.opts.CheckpointKey, l.ReplID, at, s.Latency, func() { l.Close() })
	}
	s.mu.Lock()
	s.a = a
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.a = nil
		s.mu.Unlock()
	}()
	s.received.Store(cp.Offset)
	s.setPhase(PhaseStreaming)

	// Acks and checkpoint saves, every AckEvery.
	stop := make(chan struct{})
	var wg gosync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(s.opts.AckEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p := a.position()
				s.setCheckpoint(l.ReplID, p)
				l.Ack(p.Offset)
				if err := s.saveFile(); err != nil {
					s.log.Error("checkpoint not saved", "err", err)
				}
			}
		}
	})
	finish := func(err error) (bool, error) {
		// What was read is applied (a transaction cut short is dropped),
		// then the position is kept.
		a.discard()
		cerr := a.close()
		close(stop)
		wg.Wait()
		p := a.position()
		s.setCheckpoint(l.ReplID, p)
		if cerr != nil {
			err = cerr // the target's failure closed the link
		}
		if ca != nil && s.opts.CheckpointKey != "" {
			// A cluster's key is only a copy of the position, saved last.
			if _, kerr := s.targetKeyDo(context.WithoutCancel(ctx), "SET", s.opts.CheckpointKey, string(s.Checkpoint().targetValue())); kerr != nil && err == nil {
				err = kerr
			}
		}
		return err == nil, err
	}
	var keySaved time.Time
	saveKey := func() error {
		if ca == nil || s.opts.CheckpointKey == "" || time.Since(keySaved) < s.opts.AckEvery {
			return nil
		}
		keySaved = time.Now()
		v := string(appendTargetValue(nil, l.ReplID, a.position()))
		return ca.w.Send(ctx, &Command{Key: []byte(s.opts.CheckpointKey), Args: [][]byte{[]byte("SET"), []byte(s.opts.CheckpointKey), []byte(v)}, Idempotent: true})
	}
	// A diskless master starts the stream on the first ack.
	l.Ack(cp.Offset)

	var goal int64 = -1
	if s.opts.UntilCaughtUp {
		if goal, err = masterOffset(ctx, addr, &s.opts.SourceConn); err != nil {
			return finish(err)
		}
		if goal <= cp.Offset {
			return finish(nil)
		}
	}
	var scratch [][]byte
	// A continued stream goes on in the database selected before it.
	db := cp.DB
	for {
		sc, err := l.Next()
		if err != nil {
			if ctx.Err() != nil {
				_, err := finish(nil)
				return false, err
			}
			return finish(err)
		}
		off := sc.Offset
		s.received.Store(off)
		name := sc.Args[0]
		class := aof.Classify(name)
		switch {
		case class == aof.ClassPing:
			a.noop(Pos{Offset: off, DB: db})
		case class == aof.ClassReplconf:
			if len(sc.Args) > 1 && bytes.EqualFold(sc.Args[1], []byte("getack")) {
				l.Ack(a.position().Offset)
			}
			a.noop(Pos{Offset: off, DB: db})
		case class == aof.ClassSelect && len(sc.Args) == 2:
			n, err := strconv.Atoi(string(sc.Args[1]))
			if err != nil {
				return finish(fmt.Errorf("replication stream at offset %d: bad SELECT %q", off, sc.Args[1]))
			}
			db = n
			a.noop(Pos{Offset: off, DB: db})
		case class == aof.ClassPublish && len(name) == len("publish") && !s.opts.ForwardPubSub:
			// PUBLISH; an SPUBLISH is applied like any command.
			a.noop(Pos{Offset: off, DB: db})
		case f.denied(name):
			s.skipped.Add(1)
			s.log.Warn(LogDenied, "command", strings.ToUpper(string(name)), "offset", off)
			a.noop(Pos{Offset: off, DB: db})
		case !f.keepDB(db) && class != aof.ClassMulti && class != aof.ClassExec:
			s.skipped.Add(1)
			a.noop(Pos{Offset: off, DB: db})
		default:
			args := sc.Args
			if f.keyFilter() {
				if args, err = table.filterCommand(f, args, scratch); err != nil {
					return finish(fmt.Errorf("replication stream at offset %d: %s %w", off, strings.ToUpper(string(name)), err))
				}
				if args == nil {
					s.skipped.Add(1)
					a.noop(Pos{Offset: off, DB: db})
					break
				}
				if len(args) != len(sc.Args) {
					scratch = args[:0]
				}
			}
			s.commands.Add(1)
			if err := a.command(f.mapDB(db), args, Pos{Offset: off, DB: db}, time.Now(), l.Buffered() > 0); err != nil {
				return finish(err)
			}
		}
		// A batch goes when the stream pauses, whatever ended it (a PING
		// after the last write, say).
		if !a.inTransaction() && l.Buffered() == 0 {
			if err := a.flush(); err != nil {
				return finish(err)
			}
		}
		if err := saveKey(); err != nil {
			return finish(err)
		}
		if goal >= 0 && off >= goal && !a.inTransaction() {
			if err := a.flush(); err != nil {
				return finish(err)
			}
			return finish(a.idle(ctx))
		}
	}
}

// loadSnapshot writes every key (that f keeps) and function of an RDB
// stream. dropped, when set, is told of each key of a database f keeps
// that f drops for its name or type.
func loadSnapshot(ctx context.Context, snap io.Reader, r *Restorer, f *SyncFilter, dropped func(*rdb.KeyValue) error) error {
	rd := rdb.NewReader(snap)
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch rec.Kind {
		case rdb.KindKey:
			kv := rd.KeyValue()
			if !f.keepDB(kv.DB) {
				continue
			}
			if !f.keepKey(kv.Key, kv.Type) {
				if dropped != nil {
					err = dropped(kv)
				}
				break
			}
			kv.DB = f.mapDB(kv.DB)
			err = r.Key(ctx, kv)
		case rdb.KindFunction:
			err = r.Function(ctx, rec.Data)
		}
		if err != nil {
			return err
		}
	}
}

// masterOffset reads master_repl_offset from INFO replication.
func masterOffset(ctx context.Context, addr string, opts *Options) (int64, error) {
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	info, err := Info(c)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(info.Fields["master_repl_offset"], 10, 64)
}

// KeyCount is the number of keys of a server, all databases: the sum
// of INFO keyspace.
func KeyCount(ctx context.Context, addr string, opts *Options) (int64, error) {
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return keyCount(c)
}

// keyCount sums INFO keyspace on c.
func keyCount(c *Conn) (int64, error) {
	v, err := c.DoString("INFO", "keyspace")
	if err != nil {
		return 0, err
	}
	var n int64
	for _, k := range ParseKeyspace(v.Str) {
		n += k
	}
	return n, nil
}
