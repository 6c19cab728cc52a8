package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/retry"
	"github.com/redkit/redkit/storage"
	rsync "github.com/redkit/redkit/sync"
)

// A continuous backup is a replica that writes what it receives to
// storage: a base snapshot (a backup), then the command stream in
// segments, each command with the time it was received. A base and its
// segments make a generation; a restore replays a generation up to an
// instant (Generation).
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
	Conn          rsync.Options
	ListeningPort int
	Backend       storage.Backend
	Codec         storage.Codec
	// A segment is closed and stored every SegmentInterval (10s) or when
	// it holds SegmentSize bytes of commands (16 MiB), whichever comes first.
	SegmentInterval time.Duration
	SegmentSize     int64
	// SnapshotInterval starts a new generation with a new base (0: never).
	SnapshotInterval time.Duration
	// Base is what a base's manifest records, and how long a lock may go
	// unrefreshed: a base is stored as a backup marked Continuous, the
	// storage's lock held meanwhile (waited for while another run holds
	// it), by the package's snapshot jobs.
	Base BaseOptions
	// storeBase, when set, stores a base snapshot instead, read from r to
	// its end, as a backup marked Continuous at pos, and returns its
	// manifest: a hook for this package's tests, not part of the API.
	storeBase func(ctx context.Context, r io.Reader, size int64, pos ReplPosition) (*Manifest, error)
	// Resume is the generation to continue (nil: start a new one).
	Resume *Generation
	// RetryFor bounds how long the source or the storage may fail
	// without progress before Run gives up (0: forever).
	RetryFor   time.Duration
	MaxBackoff time.Duration // 30s
	MaxPending int           // segments waiting to be stored (4)
	Log        *slog.Logger

	// LinkTimeout is the longest a replication link may go without a
	// byte from the source (rsync.ReplicaOptions.Timeout: default 60s); a
	// stalled link is retried as a cut one.
	LinkTimeout time.Duration
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
	genFrom  time.Time
	replID   string
	cur      *SegmentBuilder
	curStart time.Time
	db       int   // selected after the last command received
	failed   error // the uploader gave up

	// catchUp is the offset up to which the stream being written
	// replays commands the previous link received, with their times
	// (0: none): the segment clock does not close a segment before it,
	// since a segment closed at now would claim commands received
	// before now that it does not hold, and the next one, starting at
	// now, would move their times forward past instants they were
	// received before.
	catchUp int64

	// The segments to store, in order, guarded by mu; cond wakes the
	// uploader, and the writers waiting for room.
	queue   []upload
	closing bool
	cond    *gosync.Cond
	durable atomic.Int64
	// dataEnd is the offset after the last stored command that changes
	// data (-1: not known yet, after a restart), and dataDB the database
	// selected there: where a failover's new master can continue from
	// when it cannot from durable. Guarded by mu.
	dataEnd int64
	dataDB  int
}

type upload struct {
	si      *SegmentInfo
	data    []byte
	dataEnd int64 // the segment's DataEnd
	dataDB  int
	// A barrier is not stored: done tells that those before it are.
	barrier bool
	// done, when not nil, is closed once everything before is stored.
	done chan struct{}
}

// NewContinuous checks the options.
func NewContinuous(opts ContinuousOptions) (*Continuous, error) {
	if opts.Backend == nil || opts.Source == "" {
		return nil, errors.New("continuous backup: Source and Backend are needed")
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
	c.st.Phase, c.st.Source = rsync.PhaseConnecting, opts.Source
	if g := opts.Resume; g != nil {
		c.gen, c.genFrom, c.replID = g.ID(), g.From(), g.Base.Replication.ReplID
		if n := len(g.Segments); n > 0 {
			// The stream goes on with the last segment's replication ID
			// (a failover changes it) and database.
			last := g.Segments[n-1]
			c.db = last.EndDB
			if last.ReplID != "" {
				c.replID = last.ReplID
			}
		}
		c.durable.Store(g.EndOffset())
		c.dataEnd = -1 // read from the segments if needed
		c.st.Generation, c.st.Received, c.st.Durable, c.st.RecoveryPoint = g.ID(), g.EndOffset(), g.EndOffset(), g.Until()
		if n := len(g.Segments); n > 0 {
			c.st.LastDurableCommand = g.Segments[n-1].Last
		}
	}
	return c, nil
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

// Run backs up until ctx is done (nil: a clean stop, every command
// received stored), or until the source or the storage fails for
// longer than RetryFor, or with an error retrying cannot fix (a source
// that refuses replication is a *RefusedError, at once).
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

	r := retry.Retrier{Backoff: retry.Backoff{First: 100 * time.Millisecond, Max: c.opts.MaxBackoff}, Limit: c.opts.RetryFor}
	for {
		progress := c.durable.Load()
		err := c.runOnce(ctx)
		// What was received is stored before anything else: a clean stop
		// loses nothing, and a reconnection continues from there.
		if derr := c.drain(); derr != nil && err == nil {
			err = derr
		}
		if ctx.Err() != nil {
			c.setPhase(rsync.PhaseDone)
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.failed
		}
		c.mu.Lock()
		c.st.Errors++
		c.st.LastError = rsync.Redact(err.Error())
		failed := c.failed
		c.mu.Unlock()
		if failed != nil {
			c.setPhase(rsync.PhaseDone)
			return failed
		}
		if !rsync.Retryable(err) || errors.As(err, new(*RefusedError)) {
			c.setPhase(rsync.PhaseDone)
			return err
		}
		if c.durable.Load() != progress {
			r.Progress()
		}
		backoff, ok := r.Failed()
		if !ok {
			c.setPhase(rsync.PhaseDone)
			return fmt.Errorf("gave up after %s of retries: %w", c.opts.RetryFor, err)
		}
		c.mu.Lock()
		c.st.Reconnects++
		c.st.Phase = rsync.PhaseBackoff
		c.mu.Unlock()
		c.log.Warn("continuous backup interrupted; reconnecting", "err", rsync.Redact(err.Error()), "in", backoff)
		if !retry.Wait(ctx, backoff) {
			c.setPhase(rsync.PhaseDone)
			return nil
		}
	}
}

// connect opens a link: a PSYNC continuing the generation, unless full
// (or there is none yet).
func (c *Continuous) connect(ctx context.Context, full bool) (*rsync.Link, time.Time, error) {
	ro := rsync.ReplicaOptions{Conn: c.opts.Conn, ListeningPort: c.opts.ListeningPort, Timeout: c.opts.LinkTimeout}
	c.mu.Lock()
	if c.gen != "" && !full {
		ro.ReplID, ro.Offset = c.replID, c.durable.Load()
	}
	c.mu.Unlock()
	addr := c.opts.Source
	if c.opts.Resolve != nil {
		var err error
		if addr, err = c.opts.Resolve(ctx); err != nil {
			return nil, time.Time{}, err
		}
	}
	l, err := rsync.OpenLink(ctx, addr, ro)
	if err != nil && ctx.Err() == nil && !rsync.Retryable(err) && rsync.ReplicationRefused(err) {
		// Not a failure retrying fixes: the source has no stream to follow.
		err = &RefusedError{Addr: addr, Continuous: true, Err: err}
	}
	return l, time.Now(), err
}

// dataOffset is the offset after the last stored command that changes
// data, and the database selected there; after a restart it is read
// from the generation's stored segments (0: none found).
func (c *Continuous) dataOffset(ctx context.Context) (int64, int) {
	c.mu.Lock()
	end, db := c.dataEnd, c.dataDB
	c.mu.Unlock()
	if end >= 0 || c.opts.Resume == nil {
		return max(end, 0), db
	}
	g := c.opts.Resume
	end, db, err := LastDataEnd(ctx, c.opts.Backend, g.Segments, g.Base.Compression, c.opts.Codec)
	if err != nil {
		c.log.Warn("could not read the stored segments back", "err", err)
		return 0, 0
	}
	c.mu.Lock()
	c.dataEnd, c.dataDB = end, db
	c.mu.Unlock()
	return end, db
}

// base stores the snapshot of a link that resynced in full: a new
// generation, which the caller starts streaming.
func (c *Continuous) base(ctx context.Context, l *rsync.Link, replied time.Time) (*Manifest, error) {
	snap, err := l.Snapshot()
	if err != nil {
		return nil, err
	}
	pos := ReplPosition{ReplID: l.ReplID, Offset: l.Offset, Time: replied.UTC()}
	var m *Manifest
	if c.opts.storeBase != nil {
		m, err = c.opts.storeBase(ctx, snap, l.SnapshotSize(), pos)
	} else {
		m, err = storeBase(ctx, c.opts.Backend, c.opts.Codec, c.opts.Base, snap, pos, c.log)
	}
	if err != nil {
		return nil, fmt.Errorf("base snapshot: %w", err)
	}
	return m, nil
}

// startGeneration makes the stream of l (whose base m is stored) the
// one written from now on.
func (c *Continuous) startGeneration(l *rsync.Link, m *Manifest) {
	c.log.Info("generation started", "generation", m.ID, "replid", l.ReplID, "offset", l.Offset)
	c.mu.Lock()
	c.gen, c.genFrom, c.replID, c.db = m.ID, m.Replication.Time, l.ReplID, 0
	c.dataEnd, c.dataDB = l.Offset, 0
	c.st.Generation, c.st.ReplID, c.st.Received, c.st.Durable = m.ID, l.ReplID, l.Offset, l.Offset
	c.st.RecoveryPoint = m.Replication.Time
	c.st.Generations++
	c.mu.Unlock()
	c.durable.Store(l.Offset)
}

// runOnce connects, stores a base if the source resyncs in full, and
// streams until the link ends, going on with the next generation's link
// each time a new base is stored.
func (c *Continuous) runOnce(ctx context.Context) error {
	c.setPhase(rsync.PhaseConnecting)
	l, replied, err := c.connect(ctx, false)
	if err != nil {
		return err
	}
	if l.Full && c.gen != "" {
		// A failover's new master accepts no offset past where its
		// history parted from the old master's, and the old one's last
		// PINGs may be past it: they change nothing, so the stream can go
		// on from the last command before them.
		if data, dataDB := c.dataOffset(ctx); data > 0 && data < c.durable.Load() {
			c.log.Info("the source cannot continue after the last PING; trying after the last command", "offset", c.durable.Load(), "data_offset", data)
			l.Close()
			addr := l.Addr()
			ro := rsync.ReplicaOptions{Conn: c.opts.Conn, ListeningPort: c.opts.ListeningPort, Timeout: c.opts.LinkTimeout, ReplID: c.replID, Offset: data}
			if l, err = rsync.OpenLink(ctx, addr, ro); err != nil {
				return err
			}
			replied = time.Now()
			if !l.Full {
				c.mu.Lock()
				c.st.Durable, c.st.Received = data, data
				c.db = dataDB
				c.mu.Unlock()
				c.durable.Store(data)
			}
		}
	}
	handed := false
	var times *timeIndex
	for {
		stop := context.AfterFunc(ctx, func() { l.Close() })
		switch {
		case handed:
		case l.Full:
			if c.gen != "" {
				c.log.Warn("the source could not continue the stream (full resync): a gap, so a new generation starts",
					"generation", c.gen, "offset", c.durable.Load(), "replid", c.replID)
			}
			c.setPhase(PhaseBase)
			m, err := c.base(ctx, l, replied)
			if err != nil {
				stop()
				l.Close()
				return err
			}
			c.startGeneration(l, m)
		default:
			if l.ReplID != c.replID {
				c.log.Info("the source has a new replication ID (a failover): continuing", "replid", l.ReplID, "was", c.replID)
			}
			c.log.Info("stream continued", "generation", c.gen, "offset", l.Offset)
			c.mu.Lock()
			c.replID, c.st.ReplID = l.ReplID, l.ReplID
			c.mu.Unlock()
		}
		next, err := c.stream(ctx, l, times)
		stop()
		l.Close()
		if next == nil {
			return err
		}
		// The next generation's base is stored: once every command of the
		// previous one up to then is too, go on with its link.
		l, handed, times = next.link, true, next.times
		if err := c.drain(); err != nil {
			l.Close()
			return err
		}
		c.startGeneration(l, next.base)
	}
}

// nextGeneration is a new base stored while the stream went on.
type nextGeneration struct {
	link *rsync.Link
	base *Manifest
	// times holds when the previous link received the stream's commands
	// since the base was asked for: the new link's stream, read only
	// once its base is stored, is the same bytes, and its commands keep
	// those times.
	times *timeIndex
}

// timeIndex maps replication offsets to receive times, to the
// millisecond: one entry per millisecond that received commands (the
// offset after the last of them), so that it stays small (16 bytes a
// millisecond at most) however fast the stream goes.
type timeIndex struct {
	mu   gosync.Mutex
	ends []int64
	ms   []int64
}

func (x *timeIndex) add(end int64, t time.Time) {
	ms := t.UnixMilli()
	x.mu.Lock()
	if n := len(x.ms); n > 0 && x.ms[n-1] == ms {
		x.ends[n-1] = end
	} else {
		x.ends, x.ms = append(x.ends, end), append(x.ms, ms)
	}
	x.mu.Unlock()
}

// at is the time the command ending at end was received, if known.
func (x *timeIndex) at(end int64) (time.Time, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	i, _ := slices.BinarySearch(x.ends, end)
	if i == len(x.ends) {
		return time.Time{}, false
	}
	return time.UnixMilli(x.ms[i]), true
}

// first is the earliest time held.
func (x *timeIndex) first() (time.Time, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.ms) == 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(x.ms[0]), true
}

// last is the offset after the last command held (0: none).
func (x *timeIndex) last() int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.ends) == 0 {
		return 0
	}
	return x.ends[len(x.ends)-1]
}

// stream writes the link's commands into segments until it ends, or
// until a new generation's base (taken every SnapshotInterval on a
// second link, while this one goes on, so that the generations overlap)
// is stored: then it returns that generation.
func (c *Continuous) stream(ctx context.Context, l *rsync.Link, times *timeIndex) (*nextGeneration, error) {
	start := time.Now()
	var catchUp int64
	if times != nil {
		if t, ok := times.first(); ok && t.Before(start) {
			start = t
		}
		if end := times.last(); end > l.Offset {
			catchUp = end
		} else {
			times = nil
		}
	}
	c.mu.Lock()
	if err := c.newSegmentLocked(l.Offset, start); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	c.catchUp = catchUp
	c.st.Phase = rsync.PhaseStreaming
	genFrom := c.genFrom
	c.mu.Unlock()
	// caughtUp is closed once the stream is past catchUp.
	caughtUp := make(chan struct{})
	if catchUp == 0 {
		close(caughtUp)
	}

	// Acks (every second, the durable offset: what the source may count
	// on), the segment clock and the next base run beside the reader.
	done := make(chan struct{})
	var wg gosync.WaitGroup
	var next atomic.Pointer[nextGeneration]
	var handoff *nextGeneration
	var basing atomic.Bool
	var retryAt time.Time // after a failed base
	defer func() {
		close(done)
		// A base under way is abandoned; one stored meanwhile stays a
		// generation of its own (restorable to its snapshot).
		if n := next.Load(); n != nil && n != handoff && n.link != nil {
			n.link.Close()
		}
		wg.Wait()
		if n := next.Load(); n != nil && n != handoff && n.link != nil {
			n.link.Close()
		}
	}()
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
			case <-timer.C:
				c.mu.Lock()
				// Read under mu, as the stream's receive times are: every
				// command appended so far was received before now.
				now := time.Now()
				if now.Sub(c.curStart) >= c.opts.SegmentInterval && c.catchUp == 0 {
					if err := c.rotateLocked(now); err != nil {
						c.mu.Unlock()
						l.Close()
						return
					}
				}
				c.mu.Unlock()
				if c.opts.SnapshotInterval > 0 && !basing.Load() && now.Sub(genFrom) >= c.opts.SnapshotInterval && !now.Before(retryAt) {
					basing.Store(true)
					retryAt = now.Add(max(time.Minute, c.opts.SnapshotInterval/24))
					wg.Go(func() {
						if !c.nextBase(ctx, l, &next, caughtUp, done) {
							basing.Store(false)
						}
					})
				}
			}
		}
	})

	var raw []byte
	prev := l.Offset
	lastAt := start // the receive time of the last command appended
	for {
		cmd, err := l.Next()
		if err != nil {
			c.mu.Lock()
			now := time.Now()
			if catchUp > 0 {
				// Cut while catching up (nextBase waits until it has):
				// closed at its last command's time, since those the
				// previous link received after it are not in it.
				now = lastAt
			}
			if rerr := c.rotateLocked(now); rerr != nil {
				err = rerr
			}
			c.mu.Unlock()
			if n := next.Load(); n != nil && n.base != nil {
				handoff = n
				return n, nil
			}
			return nil, err
		}
		raw = aof.AppendCommand(raw[:0], cmd.Args...)
		if int64(len(raw)) != cmd.Offset-prev {
			return nil, fmt.Errorf("replication stream from %s at offset %d: a command of %d bytes that re-encodes in %d: not the multibulk form Redis sends", l.Addr(), prev, cmd.Offset-prev, len(raw))
		}
		prev = cmd.Offset
		var known time.Time // when the previous link received it
		caught := false
		if times != nil {
			t, ok := times.at(cmd.Offset)
			if ok {
				known = t
			}
			// Past what the previous link received, or caught up with
			// it: the segment clock goes on.
			caught = !ok || cmd.Offset >= catchUp
		}
		c.mu.Lock()
		// The receive time is read under mu, as the segment clock's is: a
		// command read before a segment closes is in it, one read after
		// is in the next, never with a time before that one's start.
		now := time.Now()
		if !known.IsZero() {
			now = known
		}
		if caught {
			times, catchUp, c.catchUp = nil, 0, 0
			close(caughtUp)
		}
		if n := next.Load(); n != nil {
			n.times.add(cmd.Offset, now)
		}
		if len(cmd.Args) == 2 && bytes.EqualFold(cmd.Args[0], []byte("SELECT")) {
			if db, err := strconv.Atoi(string(cmd.Args[1])); err == nil {
				c.db = db
			}
		}
		if err := c.cur.Append(raw, now, c.db); err != nil {
			c.mu.Unlock()
			return nil, err
		}
		lastAt = now
		c.st.Received = cmd.Offset
		var err2 error
		if c.cur.Size() >= c.opts.SegmentSize {
			err2 = c.rotateLocked(now)
		}
		c.mu.Unlock()
		if err2 != nil {
			return nil, err2
		}
	}
}

// nextBase takes the next generation's base on a second link while the
// stream of l goes on; once it is stored, and the stream of l has caught
// up with the previous link's (caughtUp closed), l is closed, which ends
// the stream's generation after every command received until then. A
// failure is logged, and tried again a while later (ok false). It
// returns early when the stream ends (done closed).
func (c *Continuous) nextBase(ctx context.Context, l *rsync.Link, next *atomic.Pointer[nextGeneration], caughtUp, done <-chan struct{}) (ok bool) {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	c.log.Info("a new base snapshot is due: taking it while the stream goes on", "generation", gen, "every", c.opts.SnapshotInterval)
	// The stream's receive times are kept from now: the new link's
	// stream, read once its base is stored, takes them.
	next.Store(&nextGeneration{times: &timeIndex{}})
	nl, replied, err := c.connect(ctx, true)
	if err == nil && !nl.Full {
		nl.Close()
		err = errors.New("the source continued a stream it was asked to resync in full")
	}
	if err != nil {
		c.log.Warn("could not start the next generation's base; the current generation goes on", "err", rsync.Redact(err.Error()))
		next.Store(nil)
		return false
	}
	n := next.Load()
	next.Store(&nextGeneration{link: nl, times: n.times}) // its link closed by stream if it ends first
	stop := context.AfterFunc(ctx, func() { nl.Close() })
	defer stop()
	m, err := c.base(ctx, nl, replied)
	if err != nil {
		c.log.Warn("the next generation's base failed; the current generation goes on", "err", rsync.Redact(err.Error()))
		nl.Close()
		next.Store(nil)
		return false
	}
	next.Store(&nextGeneration{link: nl, base: m, times: n.times})
	// A stream still catching up holds commands only up to some the
	// previous link received before this base was taken: closed now, its
	// generation would lack the rest, which the previous generation holds
	// only up to its own end and this base only as a snapshot taken
	// later, and would end at its last command's time, before this base
	// begins (a gap no command explains). It reads what the source had
	// already sent, so this waits little: a diskless replica's stream
	// starts at its first ack once the source has put it online (within
	// a second), and a stalled link ends at its timeout.
	select {
	case <-caughtUp:
	case <-done:
	case <-ctx.Done():
	}
	l.Close()
	return true
}

func (c *Continuous) newSegmentLocked(offset int64, now time.Time) error {
	sb, err := NewSegmentBuilder(SegmentHeader{ReplID: c.replID, StartOffset: offset, Start: now, DB: c.db}, c.opts.Codec)
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
	var u upload
	offset := c.cur.Offset()
	si, data, err := c.cur.Finish(c.gen, now, c.db)
	if err != nil {
		return err
	}
	u.si, u.data = si, data
	u.dataEnd, u.dataDB = c.cur.DataEnd()
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
	c.queue = append(c.queue, upload{barrier: true, done: done})
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
				if u.dataEnd > 0 {
					c.dataEnd, c.dataDB = u.dataEnd, u.dataDB
				}
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
	r := retry.Retrier{Backoff: retry.Backoff{First: 200 * time.Millisecond, Max: c.opts.MaxBackoff}, Limit: c.opts.RetryFor}
	for {
		err := StoreSegment(ctx, c.opts.Backend, u.si, u.data)
		if err == nil {
			return nil
		}
		backoff, ok := r.Failed()
		if ctx.Err() != nil || !ok {
			return fmt.Errorf("gave up storing a segment after %s: %w", r.Failing().Round(time.Second), err)
		}
		c.mu.Lock()
		c.st.Errors++
		c.st.LastError = rsync.Redact(err.Error())
		c.mu.Unlock()
		c.log.Warn("storing a segment failed; retrying", "segment", u.si.Key(), "err", rsync.Redact(err.Error()), "in", backoff)
		retry.Wait(ctx, backoff) // cut short by ctx: one last try, then the error
	}
}
