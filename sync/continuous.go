package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/storage"
)

// A continuous backup is a replica that writes what it receives to
// storage: a base snapshot (a backup), then the command stream in
// segments, each command with the time it was received. A base and its
// segments make a generation; a restore replays a generation up to an
// instant (storage.Generation).
//
// Segments are built in memory, compressed as commands come, and stored
// with one PUT each by an uploader goroutine, in order, retried until
// they are stored: the replication offset acknowledged to the source is
// the end of the last stored segment, so that a restart continues with
// PSYNC from there, without a gap and without a duplicate. When the
// uploads fall behind, at most MaxPending segments wait in memory; then
// the stream is no longer read and the source buffers it, as it does for
// a slow replica.

// ContinuousOptions configure a continuous backup.
type ContinuousOptions struct {
	Source string // the master's address
	// Resolve, when set, gives the master's address at each connection
	// (a Sentinel's current master).
	Resolve       func(ctx context.Context) (string, error)
	Conn          Options
	ListeningPort int
	Backend       storage.Backend
	Codec         storage.Codec
	// A segment is closed and stored every SegmentInterval (10s) or when
	// it holds SegmentSize bytes of commands (16 MiB), whichever comes first.
	SegmentInterval time.Duration
	SegmentSize     int64
	// SnapshotInterval starts a new generation with a new base (0: never).
	SnapshotInterval time.Duration
	// StoreBase stores a base snapshot, read from r to its end, as a
	// backup marked Continuous at pos, and returns its manifest.
	StoreBase func(ctx context.Context, r io.Reader, size int64, pos storage.ReplPosition) (*storage.Manifest, error)
	// Resume is the generation to continue (nil: start a new one).
	Resume *storage.Generation
	// RetryFor bounds how long the source or the storage may fail
	// without progress before Run gives up (0: forever).
	RetryFor   time.Duration
	MaxBackoff time.Duration // 30s
	MaxPending int           // segments waiting to be stored (4)
	Log        *slog.Logger
}

// ContinuousStatus is a continuous backup's state, for its status endpoint.
type ContinuousStatus struct {
	Phase      string `json:"phase"`
	Source     string `json:"source"`
	Generation string `json:"generation"`
	ReplID     string `json:"replid"`
	Received   int64  `json:"received_offset"` // after the last command received
	Durable    int64  `json:"durable_offset"`  // after the last command stored
	// RecoveryPoint: every command received before it is stored; a
	// restore can go up to it. RecoveryLag is how far it is behind now.
	RecoveryPoint      time.Time `json:"recovery_point"`
	RecoveryLagSeconds float64   `json:"recovery_lag_seconds"`
	LastDurableCommand time.Time `json:"last_durable_command,omitzero"` // receive time of the last command stored
	Commands           int64     `json:"commands"`                      // stored by this run
	Segments           int64     `json:"segments"`                      // stored by this run
	SegmentBytes       int64     `json:"segment_bytes"`                 // their stored bytes
	PendingSegments    int       `json:"pending_segments"`
	Generations        int64     `json:"generations"` // started by this run
	Reconnects         int64     `json:"reconnects"`
	Errors             int64     `json:"errors"`
	LastError          string    `json:"last_error,omitempty"`
}

// PhaseBase is a continuous backup's phase while it stores a base.
const PhaseBase = "base"

// Continuous runs a continuous backup.
type Continuous struct {
	opts ContinuousOptions
	log  *slog.Logger

	mu       gosync.Mutex
	st       ContinuousStatus
	gen      string // the generation written
	replID   string
	cur      *storage.SegmentBuilder
	curStart time.Time
	db       int   // selected after the last command received
	failed   error // the uploader gave up

	// The segments to store, in order, guarded by mu; cond wakes the
	// uploader, and the writers waiting for room.
	queue   []upload
	closing bool
	cond    *gosync.Cond
	durable atomic.Int64
}

type upload struct {
	si   *storage.SegmentInfo
	data []byte
	// A barrier is not stored: done tells that those before it are.
	barrier bool
	closed  time.Time
	// done, when not nil, is closed once everything before is stored.
	done chan struct{}
}

// NewContinuous checks the options.
func NewContinuous(opts ContinuousOptions) (*Continuous, error) {
	if opts.Backend == nil || opts.StoreBase == nil || opts.Source == "" {
		return nil, errors.New("continuous backup: Source, Backend and StoreBase are needed")
	}
	if opts.SegmentInterval <= 0 {
		opts.SegmentInterval = 10 * time.Second
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = 16 << 20
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 4
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Continuous{opts: opts, log: log}
	c.cond = gosync.NewCond(&c.mu)
	c.st.Phase, c.st.Source = PhaseConnecting, opts.Source
	if g := opts.Resume; g != nil {
		c.gen, c.replID = g.ID(), g.Base.Replication.ReplID
		if n := len(g.Segments); n > 0 {
			c.db = g.Segments[n-1].EndDB
		}
		c.durable.Store(g.EndOffset())
		c.st.Generation, c.st.Received, c.st.Durable, c.st.RecoveryPoint = g.ID(), g.EndOffset(), g.EndOffset(), g.Until()
		if n := len(g.Segments); n > 0 {
			c.st.LastDurableCommand = g.Segments[n-1].Last
		}
	}
	return c, nil
}

// SetResumeReplID sets the replication ID to continue with, when the
// last segment names a newer one than the base (after a failover).
func (c *Continuous) SetResumeReplID(id string) {
	if id != "" {
		c.replID = id
	}
}

// Status reports the state.
func (c *Continuous) Status() ContinuousStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.st
	st.PendingSegments = len(c.queue)
	if !st.RecoveryPoint.IsZero() {
		st.RecoveryLagSeconds = time.Since(st.RecoveryPoint).Seconds()
	}
	return st
}

func (c *Continuous) setPhase(p string) {
	c.mu.Lock()
	c.st.Phase = p
	c.mu.Unlock()
}

// errSnapshotDue ends a generation's stream: a new base is due.
var errSnapshotDue = errors.New("a new base snapshot is due")

// Run backs up until ctx is done (nil: a clean stop, every command
// received stored), or until the source or the storage fails for
// longer than RetryFor, or with an error retrying cannot fix.
func (c *Continuous) Run(ctx context.Context) error {
	// Uploads outlive ctx: a clean stop stores what was received, for
	// 30 seconds at most.
	upCtx, upCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer upCancel()
	stopUploads := context.AfterFunc(ctx, func() { time.AfterFunc(30*time.Second, upCancel) })
	defer stopUploads()
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		c.uploader(upCtx)
	}()
	defer func() {
		c.mu.Lock()
		c.closing = true
		c.cond.Broadcast()
		c.mu.Unlock()
		<-upDone
	}()

	backoff := 100 * time.Millisecond
	var failingSince time.Time
	full := false // a new base is wanted
	for {
		progress := c.durable.Load()
		err := c.runOnce(ctx, full)
		full = errors.Is(err, errSnapshotDue)
		// What was received is stored before anything else: a clean stop
		// loses nothing, and a reconnection continues from there.
		if derr := c.drain(); derr != nil && err == nil {
			err = derr
		}
		if ctx.Err() != nil {
			c.setPhase(PhaseDone)
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.failed
		}
		if full {
			continue
		}
		c.mu.Lock()
		c.st.Errors++
		c.st.LastError = Redact(err.Error())
		failed := c.failed
		c.mu.Unlock()
		if failed != nil {
			c.setPhase(PhaseDone)
			return failed
		}
		if !retryable(err) {
			c.setPhase(PhaseDone)
			return err
		}
		if c.durable.Load() != progress || failingSince.IsZero() {
			failingSince, backoff = time.Now(), 100*time.Millisecond
		}
		if c.opts.RetryFor > 0 && time.Since(failingSince) > c.opts.RetryFor {
			c.setPhase(PhaseDone)
			return fmt.Errorf("gave up after %s of retries: %w", c.opts.RetryFor, err)
		}
		c.mu.Lock()
		c.st.Reconnects++
		c.st.Phase = PhaseBackoff
		c.mu.Unlock()
		c.log.Warn("continuous backup interrupted; reconnecting", "err", Redact(err.Error()), "in", backoff)
		select {
		case <-ctx.Done():
			c.setPhase(PhaseDone)
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, c.opts.MaxBackoff)
	}
}

// runOnce connects, stores a base if the source resyncs in full (or
// full asks for one), and streams until the link ends.
func (c *Continuous) runOnce(ctx context.Context, full bool) (err error) {
	c.setPhase(PhaseConnecting)
	ro := ReplicaOptions{Conn: c.opts.Conn, ListeningPort: c.opts.ListeningPort}
	if c.gen != "" && !full {
		ro.ReplID, ro.Offset = c.replID, c.durable.Load()
	}
	addr := c.opts.Source
	if c.opts.Resolve != nil {
		if addr, err = c.opts.Resolve(ctx); err != nil {
			return err
		}
	}
	l, err := OpenLink(ctx, addr, ro)
	if err != nil {
		return err
	}
	replied := time.Now()
	defer l.Close()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()

	if l.Full {
		if c.gen != "" && !full {
			c.log.Warn("the source could not continue the stream (full resync): a gap, so a new generation starts",
				"generation", c.gen, "offset", c.durable.Load(), "replid", c.replID)
		}
		c.setPhase(PhaseBase)
		snap, err := l.Snapshot()
		if err != nil {
			return err
		}
		pos := storage.ReplPosition{ReplID: l.ReplID, Offset: l.Offset, Time: replied.UTC()}
		m, err := c.opts.StoreBase(ctx, snap, l.SnapshotSize(), pos)
		if err != nil {
			return fmt.Errorf("base snapshot: %w", err)
		}
		c.log.Info("generation started", "generation", m.ID, "replid", l.ReplID, "offset", l.Offset)
		c.mu.Lock()
		c.gen, c.replID, c.db = m.ID, l.ReplID, 0
		c.st.Generation, c.st.ReplID, c.st.Received, c.st.Durable = m.ID, l.ReplID, l.Offset, l.Offset
		c.st.RecoveryPoint = replied.UTC()
		c.st.Generations++
		c.mu.Unlock()
		c.durable.Store(l.Offset)
	} else {
		if l.ReplID != c.replID {
			c.log.Info("the source has a new replication ID (a failover): continuing", "replid", l.ReplID, "was", c.replID)
		}
		c.log.Info("stream continued", "generation", c.gen, "offset", l.Offset)
		c.mu.Lock()
		c.replID = l.ReplID
		c.st.ReplID = l.ReplID
		c.mu.Unlock()
	}
	return c.stream(ctx, l)
}

// stream writes the link's commands into segments until it ends.
func (c *Continuous) stream(ctx context.Context, l *Link) error {
	c.mu.Lock()
	if err := c.newSegmentLocked(l.Offset, time.Now()); err != nil {
		c.mu.Unlock()
		return err
	}
	c.st.Phase = PhaseStreaming
	genStart := time.Now()
	c.mu.Unlock()

	// Acks (every second, the durable offset: what the source may count
	// on) and the segment clock run beside the reader.
	done := make(chan struct{})
	var wg gosync.WaitGroup
	defer func() {
		close(done)
		wg.Wait()
	}()
	var due atomic.Bool
	wg.Go(func() {
		ack := time.NewTicker(time.Second)
		defer ack.Stop()
		l.Ack(c.durable.Load())
		for {
			c.mu.Lock()
			wait := time.Until(c.curStart.Add(c.opts.SegmentInterval))
			c.mu.Unlock()
			timer := time.NewTimer(max(wait, time.Millisecond))
			select {
			case <-done:
				timer.Stop()
				return
			case <-ack.C:
				timer.Stop()
				if err := l.Ack(c.durable.Load()); err != nil {
					return
				}
			case now := <-timer.C:
				c.mu.Lock()
				if now.Sub(c.curStart) >= c.opts.SegmentInterval {
					if err := c.rotateLocked(now); err != nil {
						c.mu.Unlock()
						l.Close()
						return
					}
				}
				c.mu.Unlock()
				if c.opts.SnapshotInterval > 0 && now.Sub(genStart) >= c.opts.SnapshotInterval {
					due.Store(true)
					l.Close()
					return
				}
			}
		}
	})

	var raw []byte
	prev := l.Offset
	for {
		cmd, err := l.Next()
		now := time.Now()
		if err != nil {
			if due.Load() {
				c.log.Info("a new base snapshot is due", "generation", c.gen, "after", c.opts.SnapshotInterval)
				err = errSnapshotDue
			}
			c.mu.Lock()
			if rerr := c.rotateLocked(now); rerr != nil && !errors.Is(err, errSnapshotDue) {
				err = rerr
			}
			c.mu.Unlock()
			return err
		}
		raw = appendCommand(raw[:0], cmd.Args)
		if int64(len(raw)) != cmd.Offset-prev {
			return fmt.Errorf("replication stream from %s at offset %d: a command of %d bytes that re-encodes in %d: not the multibulk form Redis sends", l.c.Addr(), prev, cmd.Offset-prev, len(raw))
		}
		prev = cmd.Offset
		c.mu.Lock()
		if err := c.cur.Append(raw, now); err != nil {
			c.mu.Unlock()
			return err
		}
		if len(cmd.Args) == 2 && bytes.EqualFold(cmd.Args[0], []byte("SELECT")) {
			if db, err := strconv.Atoi(string(cmd.Args[1])); err == nil {
				c.db = db
			}
		}
		c.st.Received = cmd.Offset
		var err2 error
		if c.cur.Size() >= c.opts.SegmentSize {
			err2 = c.rotateLocked(now)
		}
		c.mu.Unlock()
		if err2 != nil {
			return err2
		}
	}
}

func (c *Continuous) newSegmentLocked(offset int64, now time.Time) error {
	sb, err := storage.NewSegmentBuilder(storage.SegmentHeader{ReplID: c.replID, StartOffset: offset, Start: now, DB: c.db}, c.opts.Codec)
	if err != nil {
		return err
	}
	c.cur, c.curStart = sb, now
	return nil
}

// rotateLocked closes the current segment at now, queues it for the
// uploader (waiting for room when MaxPending wait already) and starts
// the next.
func (c *Continuous) rotateLocked(now time.Time) error {
	if c.failed != nil {
		return c.failed
	}
	if c.cur == nil {
		return nil
	}
	// An empty segment is stored too: it says that nothing came until
	// it closed, which moves the recovery point of an idle source.
	u := upload{closed: now}
	offset := c.cur.Offset()
	si, data, err := c.cur.Finish(c.gen, now, c.db)
	if err != nil {
		return err
	}
	u.si, u.data = si, data
	if err := c.newSegmentLocked(offset, now); err != nil {
		return err
	}
	c.queue = append(c.queue, u)
	c.cond.Broadcast()
	for len(c.queue) > c.opts.MaxPending && c.failed == nil {
		c.cond.Wait()
	}
	return c.failed
}

// drain waits until every segment queued is stored.
func (c *Continuous) drain() error {
	done := make(chan struct{})
	c.mu.Lock()
	c.queue = append(c.queue, upload{barrier: true, closed: time.Now(), done: done})
	c.cond.Broadcast()
	c.mu.Unlock()
	<-done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

// uploader stores the segments in order, each retried until stored (or
// RetryFor passes: then the backup fails, and a restart continues from
// the last one stored).
func (c *Continuous) uploader(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.queue) == 0 && !c.closing {
			c.cond.Wait()
		}
		if len(c.queue) == 0 {
			return
		}
		u := c.queue[0]
		failed := c.failed
		if u.si != nil && failed == nil {
			c.mu.Unlock()
			err := c.store(ctx, u)
			c.mu.Lock()
			if err != nil {
				c.failed = err
			}
		}
		c.queue = c.queue[1:]
		if failed == nil && c.failed == nil {
			if u.si != nil {
				c.st.Durable, c.st.LastDurableCommand = u.si.EndOffset, u.si.Last
				c.st.Commands += u.si.Records
				c.st.Segments++
				c.st.SegmentBytes += u.si.StoredBytes
				c.durable.Store(u.si.EndOffset)
			}
			if u.si != nil {
				c.st.RecoveryPoint = u.si.Closed
			}
		}
		c.cond.Broadcast()
		if u.done != nil {
			close(u.done)
		}
	}
}

func (c *Continuous) store(ctx context.Context, u upload) error {
	backoff := 200 * time.Millisecond
	var since time.Time
	for {
		err := storage.StoreSegment(ctx, c.opts.Backend, u.si, u.data)
		if err == nil {
			return nil
		}
		if since.IsZero() {
			since = time.Now()
		}
		if ctx.Err() != nil || (c.opts.RetryFor > 0 && time.Since(since) > c.opts.RetryFor) {
			return fmt.Errorf("gave up storing a segment after %s: %w", time.Since(since).Round(time.Second), err)
		}
		c.mu.Lock()
		c.st.Errors++
		c.st.LastError = Redact(err.Error())
		c.mu.Unlock()
		c.log.Warn("storing a segment failed; retrying", "segment", u.si.Key(), "err", Redact(err.Error()), "in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, c.opts.MaxBackoff)
	}
}
