package sync

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/retry"
	"github.com/redkit/redkit/rdb"
)

// A scan sync (ScanSyncer) mirrors a source that refuses replication by
// reading its keys, for servers without PSYNC: managed services,
// proxies, ACL users without +psync.
//
// The contract. Before the first SCAN it subscribes to the keyspace
// notifications of the source (of each master of a cluster), so that no
// change made after a key is read goes unseen. Then one loop per master
// alternates batches of the full pass (SCAN, then DUMP and PEXPIRETIME of
// each key, the scanner of scan.go) and batches of the keys notified
// since, each key of a burst queued once (coalesced). Every read of a
// key, whether from the pass or a notification, is applied to the target
// through the same ordered path (a Restorer with replace semantics,
// then DEL for the keys found gone), in the order the reads were made:
// a read that started after a write is applied after every earlier read
// of that key, so the target ends with the newest. Expired, evicted,
// deleted and renamed-away keys are notified, found gone and deleted on
// the target.
//
// Guarantee: once the source's writes pause, the target converges to
// the source (every key the filter keeps, as of its last read). There is
// no transaction kept, no exactly-once: each key is copied whole, each
// as of when it was read, keys of one moment may come from different
// moments.
//
// Notifications are fire and forget: when the subscription is lost (a
// cut connection, CLIENT KILL, the pubsub output buffer limit) or the
// queue outgrows MaxQueue, the master is subscribed again and a new full
// pass starts (counted in Rescans). Keys deleted on the source while the
// subscription was down are not seen by that pass: they stay on the
// target. FLUSHDB and FLUSHALL send no notification per key: the keys
// they remove stay on the target too. Functions are copied at the start
// of each pass, not followed.
type ScanSyncer struct {
	opts    ScanSyncOptions
	log     *slog.Logger
	masters []*scanMaster
	// sweep: a rescan deletes the target's keys the source no longer has
	// (the target was empty, or emptied, when the sync began). Set by Run
	// before the masters start.
	sweep bool

	mu      gosync.Mutex
	phase   string
	lastErr string
	errs    atomic.Int64
}

// ScanSyncOptions configure a ScanSyncer.
type ScanSyncOptions struct {
	// Sources are the servers read: the source, or every master of a
	// cluster source (SourceCluster).
	Sources       []string
	SourceName    string // the source's URL without password, for logs
	SourceConn    Options
	SourceCluster bool

	Target        string // a standalone server, or any node of a cluster
	TargetConn    Options
	TargetCluster bool
	// Restore configures the writes; its Conflict is always
	// ConflictReplace.
	Restore RestoreOptions
	// Filter, if set, selects the databases and keys copied (its Deny
	// list does not apply: no command is copied).
	Filter *SyncFilter
	// FlushTarget empties the target (FLUSHALL) before the first pass.
	FlushTarget bool

	// UntilCaughtUp stops once the full pass is done, the queue of
	// notified keys is applied, and no notification came for QuietPeriod.
	UntilCaughtUp bool
	// QuietPeriod: default 1s.
	QuietPeriod time.Duration
	// MaxQueue bounds the keys queued per master (default 1,000,000);
	// past it the queue is dropped and a full pass starts again.
	MaxQueue int
	// AllowUnchecked goes on when nothing can tell whether the source
	// sends notifications (CONFIG refused, the probe key refused)
	// instead of failing with a NotifyError.
	AllowUnchecked bool
	// MaxDump and TempDir are ScanOptions': collections above MaxDump
	// are read in chunks, spooled in TempDir, and written to the target
	// by commands.
	MaxDump int64
	TempDir string

	// RetryFor bounds how long a lost source connection is retried
	// without success (0: forever), with backoff up to MaxBackoff (30s).
	RetryFor   time.Duration
	MaxBackoff time.Duration
	Log        *slog.Logger
}

// PhaseScanning is a scan sync's phase while a full pass runs; then it
// is PhaseStreaming (notified keys only).
const PhaseScanning = "scanning"

// ScanCounts are a scan sync's own counters, summed over the masters.
type ScanCounts struct {
	KeysScanned  int64 `json:"keys_scanned"`  // keys the current or last pass read
	KeysExpected int64 `json:"keys_expected"` // the source's key count when that pass began
	// Notifications received (those the filter keeps), and notified keys
	// read again and applied (written or deleted): a burst on one key is
	// applied once.
	NotificationsReceived int64 `json:"notifications_received"`
	NotificationsApplied  int64 `json:"notifications_applied"`
	QueueLength           int64 `json:"queue_length"` // notified keys waiting
	Rescans               int64 `json:"rescans"`      // full passes after the first
	KeysDeleted           int64 `json:"keys_deleted"` // DELs sent for keys found gone
}

// ScanSyncStatus is a ScanSyncer's state: the fields of SyncStatus that
// apply (Phase, Source, FullSyncs: passes, FullKeys and FullKeysTotal:
// the pass's keys, Commands: notified keys applied, Errors, Reconnects,
// LastError) and the scan counts.
type ScanSyncStatus struct {
	SyncStatus
	ScanCounts
}

// NewScanSyncer returns a ScanSyncer; Run starts it.
func NewScanSyncer(opts ScanSyncOptions) *ScanSyncer {
	opts.Restore.Conflict = ConflictReplace
	if opts.QuietPeriod <= 0 {
		opts.QuietPeriod = time.Second
	}
	if opts.MaxQueue <= 0 {
		opts.MaxQueue = 1_000_000
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	s := &ScanSyncer{opts: opts, log: orDiscard(opts.Log), phase: PhaseConnecting}
	for i, a := range opts.Sources {
		m := &scanMaster{s: s, addr: a, idx: i, pending: map[pendingID]struct{}{}, wake: make(chan struct{}, 1)}
		m.log = s.log // each line names its source
		s.masters = append(s.masters, m)
	}
	return s
}

// Status returns the current state; safe from any goroutine.
func (s *ScanSyncer) Status() ScanSyncStatus {
	s.mu.Lock()
	st := ScanSyncStatus{SyncStatus: SyncStatus{Phase: s.phase, Source: s.opts.SourceName, LastError: s.lastErr}}
	s.mu.Unlock()
	scanning, backoff := false, false
	for _, m := range s.masters {
		st.KeysScanned += m.scanned.Load()
		st.KeysExpected += m.expected.Load()
		st.NotificationsReceived += m.received.Load()
		st.NotificationsApplied += m.applied.Load()
		st.Rescans += m.rescans.Load()
		st.KeysDeleted += m.deleted.Load()
		st.Reconnects += m.reconnects.Load()
		st.FullSyncs += m.passes.Load()
		m.mu.Lock()
		st.QueueLength += int64(len(m.order))
		m.mu.Unlock()
		scanning = scanning || m.scanning.Load()
		backoff = backoff || m.backoff.Load()
	}
	if st.Phase == PhaseStreaming {
		switch {
		case backoff:
			st.Phase = PhaseBackoff
		case scanning:
			st.Phase = PhaseScanning
		}
	}
	st.FullKeys, st.FullKeysTotal, st.FullBytesTotal = st.KeysScanned, st.KeysExpected, -1
	st.Commands = st.NotificationsApplied
	st.Errors = s.errs.Load()
	return st
}

func (s *ScanSyncer) setPhase(p string) {
	s.mu.Lock()
	s.phase = p
	s.mu.Unlock()
}

func (s *ScanSyncer) setErr(err error) {
	s.errs.Add(1)
	s.mu.Lock()
	s.lastErr = err.Error()
	s.mu.Unlock()
}

// Run syncs until ctx is done (nil), until caught up with UntilCaughtUp
// (nil), or until an error: a NotifyError before anything is copied, a
// key or DEL the target refused, a source that stays unreachable for
// RetryFor. Notification settings it changed are put back before it
// returns.
func (s *ScanSyncer) Run(ctx context.Context) (err error) {
	defer s.setPhase(PhaseDone)
	if len(s.masters) == 0 {
		return errors.New("no source")
	}
	tc, err := Dial(ctx, s.opts.Target, &s.opts.TargetConn)
	if err != nil {
		return err
	}
	info, err := Info(tc)
	tc.Close()
	if err != nil {
		return err
	}
	defer func() {
		// Put back what was changed, whatever happened.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, m := range s.masters {
			if !m.ns.set {
				continue
			}
			if rerr := restoreNotify(rctx, m.addr, s.opts.SourceConn, m.ns); rerr != nil {
				m.log.Error("notify-keyspace-events not restored: set it back by hand", "source", m.addr, "value", m.ns.old, "err", rerr)
				if err == nil {
					err = fmt.Errorf("restore notify-keyspace-events %q on %s: %w", m.ns.old, m.addr, rerr)
				}
			} else {
				m.log.Info("notify-keyspace-events restored", "source", m.addr, "value", m.ns.old)
			}
		}
	}()
	defer func() {
		for _, m := range s.masters {
			m.closeSource()
		}
	}()
	for _, m := range s.masters {
		if err := m.prepare(ctx, info); err != nil {
			for _, o := range s.masters {
				o.closeTarget()
			}
			return err
		}
	}
	// A rescan deletes the target's keys the source lacks only when the
	// target held none when the sync began: keys that were there before
	// are not the sync's to delete.
	s.sweep = s.opts.FlushTarget
	if !s.sweep {
		if s.sweep, err = s.targetEmpty(ctx); err != nil {
			for _, m := range s.masters {
				m.closeTarget()
			}
			return err
		}
	}
	if s.opts.FlushTarget {
		if err := s.masters[0].r.Flush(ctx); err != nil {
			for _, m := range s.masters {
				m.closeTarget()
			}
			return err
		}
		s.log.Info("target emptied (FLUSHALL) before the first pass")
	}
	s.setPhase(PhaseStreaming)

	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errs := make([]error, len(s.masters))
	var wg gosync.WaitGroup
	for i, m := range s.masters {
		wg.Go(func() {
			if err := m.run(lctx); err != nil {
				errs[i] = err
				if s.opts.SourceCluster {
					errs[i] = fmt.Errorf("%s: %w", m.addr, err)
				}
				s.setErr(errs[i])
				cancel(errs[i])
			}
		})
	}
	if s.opts.UntilCaughtUp {
		wg.Go(func() { s.watchCaughtUp(lctx, cancel) })
	}
	wg.Wait()
	for _, m := range s.masters {
		if cerr := m.closeTarget(); cerr != nil && errs[m.idx] == nil {
			errs[m.idx] = cerr
		}
	}
	if err := errors.Join(errs...); err != nil && !(ctx.Err() != nil && errors.Is(err, context.Canceled)) {
		return err
	}
	for _, m := range s.masters {
		if err := m.failures(); err != nil {
			return err
		}
	}
	return nil
}

// errScanCaughtUp ends the loops once caught up.
var errScanCaughtUp = errors.New("caught up")

// watchCaughtUp cancels the loops once every master has finished its
// pass and applied its queue, and no notification came for QuietPeriod.
func (s *ScanSyncer) watchCaughtUp(ctx context.Context, cancel context.CancelCauseFunc) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		quiet := true
		for _, m := range s.masters {
			since := max(m.idleSince.Load(), m.lastNotify.Load())
			if !m.idle.Load() || now-since < int64(s.opts.QuietPeriod) {
				quiet = false
				break
			}
		}
		if quiet {
			s.log.Info("caught up: the pass is done, every notified key applied, and no notification came for the quiet period", "quiet_period", s.opts.QuietPeriod)
			cancel(errScanCaughtUp)
			return
		}
	}
}

// pendingID is a queued key.
type pendingID struct {
	db  int
	key string
}

// scanMaster is one source server's loop.
type scanMaster struct {
	s    *ScanSyncer
	addr string
	idx  int
	log  *slog.Logger
	ns   notifySetting

	sub   *subscription
	c     *Conn
	sc    *scanner
	scst  ScanStats
	w     Writer
	r     *Restorer
	rbuf  bytes.Buffer
	gone  []pendingID
	vers  int
	retry retry.Retrier

	// The pass.
	dbs    []int
	dbi    int
	cursor string

	// The queue of notified keys, filled by the subscription's goroutine.
	mu       gosync.Mutex
	pending  map[pendingID]struct{}
	order    []pendingID
	overflow bool
	wake     chan struct{}

	delFailed atomic.Int64
	rstats    RestoreStats
	rfails    []*KeyError
	delErr    atomic.Pointer[error]

	scanning, backoff, idle                                            atomic.Bool
	idleSince, lastNotify                                              atomic.Int64
	scanned, expected, received, applied, rescans, deleted, reconnects atomic.Int64
	passes                                                             atomic.Int64
}

// onKey queues a notified key (from the subscription's goroutine).
func (m *scanMaster) onKey(db int, key []byte) {
	f := m.s.opts.Filter
	if !f.keepDB(db) || !f.keepKey(key, 0) {
		return
	}
	m.received.Add(1)
	m.lastNotify.Store(time.Now().UnixNano())
	id := pendingID{db, string(key)}
	m.mu.Lock()
	if _, ok := m.pending[id]; !ok && !m.overflow {
		if len(m.order) >= m.s.opts.MaxQueue {
			// Dropped: a new pass reads every key again.
			m.overflow = true
			clear(m.pending)
			m.order = nil
		} else {
			m.pending[id] = struct{}{}
			m.order = append(m.order, id)
		}
	}
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// take removes up to n keys of one database from the queue's head.
func (m *scanMaster) take(n int) (int, []aof.Value) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.order) == 0 {
		return 0, nil
	}
	db := m.order[0].db
	var keys []aof.Value
	i := 0
	for ; i < len(m.order) && len(keys) < n && m.order[i].db == db; i++ {
		delete(m.pending, m.order[i])
		keys = append(keys, aof.Value{Kind: aof.BulkString, Str: []byte(m.order[i].key)})
	}
	m.order = m.order[i:]
	if len(m.order) == 0 {
		m.order = nil
	}
	return db, keys
}

// requeue puts keys whose read failed back at the queue's head.
func (m *scanMaster) requeue(db int, keys []aof.Value) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var back []pendingID
	for _, k := range keys {
		id := pendingID{db, string(k.Str)}
		if _, ok := m.pending[id]; !ok {
			m.pending[id] = struct{}{}
			back = append(back, id)
		}
	}
	m.order = append(back, m.order...)
}

func (m *scanMaster) takeOverflow() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.overflow
	m.overflow = false
	return o
}

// prepare connects to the source and the target, makes sure the source
// notifies every change, and subscribes, before anything is read.
func (m *scanMaster) prepare(ctx context.Context, info *ServerInfo) error {
	so := m.s.opts
	m.retry = retry.Retrier{Backoff: retry.Backoff{First: 100 * time.Millisecond, Max: so.MaxBackoff}, Limit: so.RetryFor}
	if err := m.connectSource(ctx); err != nil {
		return err
	}
	ns, err := readNotify(m.c)
	if err != nil {
		return err
	}
	m.ns = ns
	if ns.set {
		m.log.Warn("keyspace notifications turned on for the sync; the old value is put back when it ends",
			"source", m.addr, "notify_keyspace_events", notifyWant(ns.old), "old", ns.old)
	}
	if m.sub, err = subscribe(ctx, m.addr, so.SourceConn, m.onKey); err != nil {
		return err
	}
	if !ns.checked {
		var onNode func([]byte) bool
		if so.SourceCluster {
			ranges, err := ClusterSlots(m.c)
			if err != nil {
				return fmt.Errorf("CLUSTER SLOTS on %s: %w", m.addr, err)
			}
			onNode = func(key []byte) bool {
				s := Slot(key)
				for _, r := range ranges {
					if s >= r.Start && s <= r.End {
						return r.Master == m.addr
					}
				}
				return false
			}
		}
		ok, err := probe(m.c, m.sub, onNode)
		switch {
		case err != nil && m.c.Err() != nil:
			return err
		case err != nil && so.AllowUnchecked:
			m.log.Warn("could not check keyspace notifications (CONFIG and the probe key's write are refused): going on as told; without them changes made during the sync are missed",
				"source", m.addr, "err", err, "needed", "notify-keyspace-events "+notifyWant(""))
		case err != nil:
			return &NotifyError{Addr: m.addr, Want: notifyWant(""), Err: err}
		case !ok:
			return &NotifyError{Addr: m.addr, Want: notifyWant(""), Checked: true, Err: errors.New("no notification")}
		default:
			m.log.Info("keyspace notifications are on (a probe key's write was notified; CONFIG is refused)", "source", m.addr)
		}
	}
	// The version of the DUMP payloads: the first key's, or the
	// server's own.
	if m.vers, err = m.sc.probeVersion(m.keyDBs()); err != nil {
		return err
	}
	if m.vers == 0 {
		si, err := Info(m.c)
		if err != nil {
			return err
		}
		m.vers = si.RDBVersion
	}
	m.vers = min(max(m.vers, 10), rdb.MaxRedisVersion)
	m.sc.version = m.vers
	// Not stopped with ctx: what was sent before a stop is applied.
	m.w, err = NewWriter(context.WithoutCancel(ctx), so.Target, so.TargetCluster, WriterOptions{Conn: so.TargetConn, Log: func(f string, a ...any) {
		m.log.Info(fmt.Sprintf(f, a...))
	}})
	if err != nil {
		return err
	}
	if m.r, err = NewRestorer(m.w, info, so.Restore); err != nil {
		m.w.Close()
		m.w = nil
		return err
	}
	return nil
}

// connectSource (re)connects the data connection.
func (m *scanMaster) connectSource(ctx context.Context) error {
	o := m.s.opts.SourceConn
	o.DB = 0
	c, err := Dial(ctx, m.addr, &o)
	if err != nil {
		return err
	}
	pttl := m.sc != nil && m.sc.pttl
	if m.scst.DBs == nil {
		m.scst.DBs = map[int]int64{}
	}
	m.c = c
	m.sc = newScanner(c, 0, &m.scst, ScanOptions{MaxDump: m.s.opts.MaxDump, TempDir: m.s.opts.TempDir})
	m.sc.pttl, m.sc.version = pttl, m.vers
	m.sc.gone = func(db int, key []byte) { m.gone = append(m.gone, pendingID{db, string(key)}) }
	return nil
}

func (m *scanMaster) closeSource() {
	if m.sub != nil {
		m.sub.close()
	}
	if m.c != nil {
		m.c.Close()
	}
}

// closeTarget waits for the target's replies and closes the writer.
func (m *scanMaster) closeTarget() error {
	if m.r == nil {
		return nil
	}
	r := m.r
	m.r = nil
	err := r.Close()
	m.rstats, m.rfails = r.Stats(), r.Failures()
	return err
}

// failures is the error for keys and DELs the target refused, if any.
func (m *scanMaster) failures() error {
	if m.rstats.Failed > 0 {
		return fmt.Errorf("the target refused %d keys, first %w", m.rstats.Failed, m.rfails[0])
	}
	if n := m.delFailed.Load(); n > 0 {
		return fmt.Errorf("the target refused %d DELs of keys gone from the source, first: %w", n, *m.delErr.Load())
	}
	return nil
}

// keyDBs lists the databases the filter keeps that hold keys (INFO
// keyspace), and sets the pass's expected count.
func (m *scanMaster) keyDBs() []int {
	var dbs []int
	var n int64
	if v, err := m.c.DoString("INFO", "keyspace"); err == nil {
		for db, k := range ParseKeyspace(v.Str) {
			if k > 0 && m.s.opts.Filter.keepDB(db) {
				dbs = append(dbs, db)
				n += k
			}
		}
	}
	slices.Sort(dbs)
	m.expected.Store(n)
	return dbs
}

// startPass begins a full pass: every database that holds keys, and the
// functions (from the first source only: a cluster's masters share them).
func (m *scanMaster) startPass(ctx context.Context) error {
	m.dbs, m.dbi, m.cursor = m.keyDBs(), 0, "0"
	m.scanned.Store(0)
	m.passes.Add(1)
	m.scanning.Store(len(m.dbs) > 0)
	if m.idx != 0 {
		return nil
	}
	v, err := m.c.DoString("FUNCTION", "DUMP")
	if err != nil || v.Kind != aof.BulkString || v.Null {
		if m.c.Err() != nil {
			return err
		}
		return nil // no functions to copy, or none readable
	}
	m.rbuf.Reset()
	w, err := rdb.NewWriter(&m.rbuf, rdb.WriterOptions{Version: m.vers})
	if err != nil {
		return err
	}
	if _, err := w.WriteFunctionsPayload(v.Str); err != nil {
		m.log.Warn("functions not copied", "source", m.addr, "err", err)
		return nil
	}
	if err := w.Close(); err != nil {
		return err
	}
	return m.apply(ctx, bytes.NewReader(m.rbuf.Bytes()), false)
}

// run is the master's ordered loop.
func (m *scanMaster) run(ctx context.Context) error {
	if err := m.startPass(ctx); err != nil {
		return err
	}
	m.log.Info("full pass", "source", m.addr, "keys", m.expected.Load())
	for {
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-m.sub.lost:
			m.log.Warn("the keyspace notifications' subscription was lost: subscribing again, then a full pass reads every key again", "source", m.addr, "err", m.sub.err)
			if err := m.resubscribe(ctx); err != nil {
				return err
			}
			if err := m.rescan(ctx); err != nil {
				return m.failed(ctx, err, 0, nil)
			}
			continue
		default:
		}
		if m.takeOverflow() {
			m.log.Warn("more notified keys queued than the queue holds: dropped, a full pass reads every key again", "source", m.addr, "max_queue", m.s.opts.MaxQueue)
			if err := m.rescan(ctx); err != nil {
				return m.failed(ctx, err, 0, nil)
			}
		}
		did := false
		if db, keys := m.take(scanSyncBatch); len(keys) > 0 {
			did = true
			if err := m.readApply(ctx, db, keys, true); err != nil {
				if err := m.failed(ctx, err, db, keys); err != nil {
					return err
				}
				continue
			}
		}
		if m.scanning.Load() {
			did = true
			if err := m.scanStep(ctx); err != nil {
				if err := m.failed(ctx, err, 0, nil); err != nil {
					return err
				}
				continue
			}
		}
		if !did {
			m.idleSince.Store(time.Now().UnixNano())
			m.idle.Store(true)
			select {
			case <-ctx.Done():
			case <-m.wake:
			case <-m.sub.lost:
			}
			m.idle.Store(false)
		}
	}
}

// failed decides after an error of the loop: nil when ctx is done or the
// source was reconnected (the keys of the failed read queued again);
// the error when it is the target's, or retrying gave up.
func (m *scanMaster) failed(ctx context.Context, err error, db int, keys []aof.Value) error {
	if ctx.Err() != nil {
		return nil
	}
	if m.c.Err() == nil && !Transient(err) {
		return err
	}
	if keys != nil {
		m.requeue(db, keys)
	}
	m.s.setErr(err)
	for {
		if waited, gaveUp := m.wait(ctx, err, "source connection lost; reconnecting"); gaveUp != nil || !waited {
			return gaveUp
		}
		m.reconnects.Add(1)
		m.c.Close()
		if err = m.connectSource(ctx); err == nil {
			m.retry.Progress()
			return nil
		}
	}
}

// resubscribe subscribes again after a lost subscription, retrying.
func (m *scanMaster) resubscribe(ctx context.Context) error {
	for {
		sub, err := subscribe(ctx, m.addr, m.s.opts.SourceConn, m.onKey)
		if err == nil {
			m.sub = sub
			m.retry.Progress()
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		m.s.setErr(err)
		if waited, gaveUp := m.wait(ctx, err, "subscribing again failed; retrying"); gaveUp != nil || !waited {
			return gaveUp
		}
	}
}

// wait backs off after err, logged with msg, counted against RetryFor:
// waited is false when ctx ended first; gaveUp is set when the retries
// are spent.
func (m *scanMaster) wait(ctx context.Context, err error, msg string) (waited bool, gaveUp error) {
	d, ok := m.retry.Failed()
	if !ok {
		return false, fmt.Errorf("gave up after %s of retries: %w", m.s.opts.RetryFor, err)
	}
	m.log.Warn(msg, "source", m.addr, "err", err, "in", d)
	m.backoff.Store(true)
	defer m.backoff.Store(false)
	return retry.Wait(ctx, d), nil
}

// rescan starts a new full pass, counted.
func (m *scanMaster) rescan(ctx context.Context) error {
	m.rescans.Add(1)
	if err := m.sweep(ctx); err != nil {
		return err
	}
	if err := m.startPass(ctx); err != nil {
		return err
	}
	m.log.Info("full pass again", "source", m.addr, "keys", m.expected.Load(), "rescans", m.rescans.Load())
	return nil
}

// scanSyncBatch is how many keys are read and applied at a time.
const scanSyncBatch = 512

// scanStep runs one SCAN of the pass and applies its keys.
func (m *scanMaster) scanStep(ctx context.Context) error {
	db := m.dbs[m.dbi]
	if err := m.sc.selectDB(db); err != nil {
		return err
	}
	next, keys, err := m.sc.scan(m.cursor)
	if err != nil {
		return err
	}
	m.scanned.Add(int64(len(keys)))
	f := m.s.opts.Filter
	kept := keys[:0]
	for _, k := range keys {
		if f.keepKey(k.Str, 0) && !bytes.HasPrefix(k.Str, []byte(ProbePrefix)) {
			kept = append(kept, k)
		}
	}
	for len(kept) > 0 {
		n := min(len(kept), scanSyncBatch)
		if err := m.readApply(ctx, db, kept[:n], false); err != nil {
			return err
		}
		kept = kept[n:]
	}
	if m.cursor = next; m.cursor == "0" {
		if m.dbi++; m.dbi == len(m.dbs) {
			m.scanning.Store(false)
			m.log.Info("full pass done", "source", m.addr, "keys", m.scanned.Load())
		}
	}
	return nil
}

// readApply reads keys of db (DUMP and PEXPIRETIME, the scanner's
// dumpBatch) into an RDB of the batch, then applies it: each key
// written, each key gone deleted. notified counts them as notified keys
// applied, and deletes those the filter's type drops. The batch's RDB
// streams through a pipe from the reading goroutine to the applying
// one, and the next batch is read only once this one is applied, so
// every read of a key is applied in order.
func (m *scanMaster) readApply(ctx context.Context, db int, keys []aof.Value, notified bool) error {
	m.gone = m.gone[:0]
	if err := m.sc.selectDB(db); err != nil {
		return err
	}
	// The batch streams from the source's replies to the target's
	// writes: a big key read in chunks is never held whole.
	pr, pw := io.Pipe()
	read := make(chan error, 1)
	go func() {
		err := func() error {
			w, err := rdb.NewWriter(pw, rdb.WriterOptions{Version: m.vers})
			if err != nil {
				return err
			}
			m.sc.w = w
			if err := m.sc.dumpBatch(db, keys); err != nil {
				return err
			}
			return w.Close()
		}()
		pw.CloseWithError(err)
		read <- err
	}()
	err := m.apply(ctx, pr, notified)
	pr.CloseWithError(errApplyStopped)
	if rerr := <-read; rerr != nil && !errors.Is(rerr, errApplyStopped) {
		return rerr // the source's error, which also ended apply
	}
	if err != nil {
		return err
	}
	for _, g := range m.gone {
		if err := m.del(ctx, g.db, []byte(g.key)); err != nil {
			return err
		}
	}
	if notified {
		m.applied.Add(int64(len(keys)))
	}
	return nil
}

// errApplyStopped ends a batch's read when its apply stopped first.
var errApplyStopped = errors.New("the batch's writes stopped")

// apply writes the keys and functions of an RDB of one batch to the
// target.
func (m *scanMaster) apply(ctx context.Context, file io.Reader, notified bool) error {
	var dropped func(*rdb.KeyValue) error
	if notified {
		// Of a type the filter drops now: a copy of an older value of
		// another type goes.
		dropped = func(kv *rdb.KeyValue) error { return m.del(ctx, kv.DB, kv.Key) }
	}
	return loadSnapshot(ctx, file, m.r, m.s.opts.Filter, dropped)
}

// del deletes a key of the source's database db on the target, through
// the Restorer's Writer, so after every earlier write of it.
func (m *scanMaster) del(ctx context.Context, db int, key []byte) error {
	tdb := m.s.opts.Filter.mapDB(db)
	if m.w.Cluster() && tdb != 0 {
		return &ClusterDBError{DB: tdb, Key: bytes.Clone(key)}
	}
	k := bytes.Clone(key)
	m.deleted.Add(1)
	return m.w.Send(ctx, &Command{DB: tdb, Key: k, Args: [][]byte{[]byte("DEL"), k}, Idempotent: true,
		Done: func(_ aof.Value, err error) {
			if err != nil {
				m.delFailed.Add(1)
				m.delErr.CompareAndSwap(nil, &err)
			}
		}})
}

// sweep deletes the keys of the target (those the filter keeps, in the
// databases the source's go to) that the source no longer has: after a
// lost subscription or a dropped queue, deletions made meanwhile were
// not notified. Each DEL goes after every write sent before it; a key
// the source creates again later is notified (the subscription is up
// again) and written after the DEL.
func (m *scanMaster) sweep(ctx context.Context) error {
	so := m.s.opts
	f := so.Filter
	if !m.s.sweep {
		m.log.Warn("keys the source deleted while notifications were lost may stay on the target: it held keys when the sync began, and a sync deletes only from a target that was empty (or emptied) then", "source", m.addr)
		return nil
	}
	nodes, err := m.s.targetNodes(ctx)
	if err != nil {
		return err
	}
	// The slots of this master, when the source is a cluster.
	var mine func(key []byte) bool
	sourceDBs := []int{0}
	if so.SourceCluster {
		ranges, err := ClusterSlots(m.c)
		if err != nil {
			return err
		}
		mine = func(key []byte) bool {
			s := Slot(key)
			for _, r := range ranges {
				if s >= r.Start && s <= r.End {
					return r.Master == m.addr
				}
			}
			return false
		}
	} else {
		sourceDBs = sourceDBs[:0]
		for db := range 16 {
			sourceDBs = append(sourceDBs, db)
		}
		if f != nil {
			for db := range f.DBMap {
				if !slices.Contains(sourceDBs, db) {
					sourceDBs = append(sourceDBs, db)
				}
			}
		}
	}
	var deleted int64
	for _, node := range nodes {
		o := so.TargetConn
		o.DB = 0
		tc, err := Dial(ctx, node, &o)
		if err != nil {
			return err
		}
		n, err := m.sweepNode(ctx, tc, sourceDBs, mine)
		tc.Close()
		deleted += n
		if err != nil {
			return err
		}
	}
	if deleted > 0 {
		m.log.Info("keys the source no longer has deleted from the target", "source", m.addr, "keys", deleted)
	}
	return nil
}

// targetNodes lists where the target's keys are: the target, or each
// master of a cluster target.
func (s *ScanSyncer) targetNodes(ctx context.Context) ([]string, error) {
	so := s.opts
	if !so.TargetCluster {
		return []string{so.Target}, nil
	}
	c, err := Dial(ctx, so.Target, &so.TargetConn)
	if err != nil {
		return nil, err
	}
	ranges, err := ClusterSlots(c)
	c.Close()
	if err != nil {
		return nil, err
	}
	var nodes []string
	for _, r := range ranges {
		if !slices.Contains(nodes, r.Master) {
			nodes = append(nodes, r.Master)
		}
	}
	return nodes, nil
}

// targetEmpty tells whether the target holds no key at all.
func (s *ScanSyncer) targetEmpty(ctx context.Context) (bool, error) {
	nodes, err := s.targetNodes(ctx)
	if err != nil {
		return false, err
	}
	for _, node := range nodes {
		o := s.opts.TargetConn
		c, err := Dial(ctx, node, &o)
		if err != nil {
			return false, err
		}
		v, err := c.DoString("INFO", "keyspace")
		c.Close()
		if err != nil {
			return false, err
		}
		for _, n := range ParseKeyspace(v.Str) {
			if n > 0 {
				return false, nil
			}
		}
	}
	return true, nil
}

// sweepNode sweeps one target server.
func (m *scanMaster) sweepNode(ctx context.Context, tc *Conn, sourceDBs []int, mine func([]byte) bool) (int64, error) {
	f := m.s.opts.Filter
	v, err := tc.DoString("INFO", "keyspace")
	if err != nil {
		return 0, err
	}
	tdbs := slices.Sorted(func(yield func(int) bool) {
		for db := range ParseKeyspace(v.Str) {
			if !yield(db) {
				return
			}
		}
	})
	ts := &scanner{c: tc, st: &ScanStats{}}
	var deleted int64
	for _, tdb := range tdbs {
		var from []int // the source's databases written to tdb
		for _, s := range sourceDBs {
			if f.keepDB(s) && f.mapDB(s) == tdb {
				from = append(from, s)
			}
		}
		if len(from) == 0 {
			continue
		}
		if err := ts.selectDB(tdb); err != nil {
			return deleted, err
		}
		cursor := "0"
		for {
			if err := ctx.Err(); err != nil {
				return deleted, err
			}
			next, keys, err := ts.scan(cursor)
			if err != nil {
				return deleted, err
			}
			var check [][]byte
			for _, k := range keys {
				if f.keepKey(k.Str, 0) && !bytes.HasPrefix(k.Str, []byte(ProbePrefix)) && (mine == nil || mine(k.Str)) {
					check = append(check, k.Str)
				}
			}
			absent, err := m.absent(from, check)
			if err != nil {
				return deleted, err
			}
			for _, k := range absent {
				if err := m.del(ctx, from[0], k); err != nil {
					return deleted, err
				}
				deleted++
			}
			if cursor = next; cursor == "0" {
				break
			}
		}
	}
	return deleted, nil
}

// absent returns the keys that none of the source's databases dbs has.
func (m *scanMaster) absent(dbs []int, keys [][]byte) ([][]byte, error) {
	for _, db := range dbs {
		if len(keys) == 0 {
			return nil, nil
		}
		if err := m.sc.selectDB(db); err != nil {
			return nil, err
		}
		for _, k := range keys {
			if err := m.c.Send([]byte("EXISTS"), k); err != nil {
				return nil, err
			}
		}
		if err := m.c.Flush(); err != nil {
			return nil, err
		}
		var still [][]byte
		var firstErr error
		for _, k := range keys {
			v, err := m.c.Receive()
			if m.c.Err() != nil {
				return nil, err
			}
			if err != nil {
				firstErr = cmp.Or(firstErr, fmt.Errorf("EXISTS %q: %w", k, err))
				continue
			}
			if v.Int == 0 {
				still = append(still, k)
			}
		}
		if firstErr != nil {
			return nil, firstErr
		}
		keys = still
	}
	return keys, nil
}
