package sync

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/retry"
)

// This file holds the pipe, one pipelined connection to one node, used by
// both Writers, and the standalone Writer built on a single pipe.
//
// A pipe has a writer goroutine (run) that dials, writes queued commands
// and reconnects, and, per connection, a reader goroutine (read) that
// matches replies to the commands in flight, in order. Commands are
// encoded once, at Send, into bytes kept until their final reply, so they
// can be written again after a transient error or a reconnect.

const (
	defaultDepth    = 512
	defaultRetryFor = 60 * time.Second
	backoffMin      = 50 * time.Millisecond
	backoffMax      = 2 * time.Second
	writeBatch      = 64 // commands taken from the queue per lock
	maxRedirects    = 16 // MOVED/ASK followed per command before giving up
	// While coalesceInflight commands await replies, the writer yields
	// once before flushing less than coalesceBytes: fewer, larger writes.
	coalesceInflight = 32
	coalesceBytes    = 32 << 10
)

// writerBackoff is the writers' pause before attempt n (0-based): 50ms
// doubling to 2s.
func writerBackoff() retry.Backoff { return retry.Backoff{First: backoffMin, Max: backoffMax} }

// item is one command sent to a Writer, from Send to its final reply.
type item struct {
	seq       uint64
	buf       []byte   // the RESP encoding, owned
	segs      [][]byte // when set, the rest of the encoding after buf: borrowed chunks, then an owned tail
	db        int
	slot      int // -1: no key
	idem      bool
	done      func(aof.Value, error)
	sem       *pipe // whose depth the item holds until its final reply
	group     *group
	acct      *pipe // cluster: the pipe the item is counted in for its slot
	asking    bool  // send ASKING first, once
	redirects int
	retrying  time.Time // first transient failure, zero if none

	// standalone: the result, kept until earlier commands are done
	v   aof.Value
	err error
}

// maxPooledBuf is the largest encoding buffer kept for reuse.
const maxPooledBuf = 64 << 10

// newItem encodes cmd into an item from pool, which recycles items and
// their encoding buffers: one Writer may send hundreds of millions of
// commands.
func newItem(pool *gosync.Pool, cmd *Command) *item {
	it, _ := pool.Get().(*item)
	if it == nil {
		it = new(item)
	}
	if cmd.Chunked != nil {
		it.buf, it.segs = appendChunked(it.buf[:0], cmd)
	} else {
		it.buf = aof.AppendCommand(it.buf[:0], cmd.Args...)
	}
	it.db, it.idem, it.done, it.slot = cmd.DB, cmd.Idempotent, cmd.Done, -1
	return it
}

// size is the length of the item's encoding.
func (it *item) size() int64 {
	n := int64(len(it.buf))
	for _, s := range it.segs {
		n += int64(len(s))
	}
	return n
}

// appendChunked encodes cmd with its chunked argument: b holds what comes
// before the argument's bytes, segs the chunks themselves (not copied),
// then what follows them.
func appendChunked(b []byte, cmd *Command) ([]byte, [][]byte) {
	var total int64
	for _, c := range cmd.Chunked {
		total += int64(len(c))
	}
	b = aof.AppendArrayHeader(b, len(cmd.Args))
	for _, a := range cmd.Args[:cmd.ChunkedArg] {
		b = aof.AppendBulk(b, a)
	}
	b = aof.AppendBulkHeader(b, int(total))
	tail := []byte{'\r', '\n'}
	for _, a := range cmd.Args[cmd.ChunkedArg+1:] {
		tail = aof.AppendBulk(tail, a)
	}
	segs := make([][]byte, 0, len(cmd.Chunked)+1)
	segs = append(append(segs, cmd.Chunked...), tail)
	return b, segs
}

// free recycles it after its final reply; nothing may use it after.
func (it *item) free(pool *gosync.Pool) {
	buf := it.buf
	shared := it.group != nil // broadcast items share one buffer
	*it = item{}
	if !shared && cap(buf) <= maxPooledBuf {
		it.buf = buf[:0]
	}
	pool.Put(it)
}

var (
	askingCmd = aof.AppendCommand(nil, []byte("ASKING"))
)

// sent is one command on the wire: an item, or an internal SELECT or
// ASKING whose reply the pipe consumes.
type sent struct {
	it   *item
	kind byte // 0: it; 'S': SELECT db; 'A': ASKING
	db   int
}

// stats are a Writer's counters.
type stats struct {
	commands, bytes, retries, redirects, reconnects atomic.Int64
}

func (s *stats) get() WriterStats {
	return WriterStats{Commands: s.commands.Load(), Bytes: s.bytes.Load(), Retries: s.retries.Load(),
		Redirects: s.redirects.Load(), Reconnects: s.reconnects.Load()}
}

// tracker counts commands sent and not yet done, for Close. Counting is
// one atomic add; only a waiter takes the lock.
type tracker struct {
	n    atomic.Int64
	mu   gosync.Mutex
	idle chan struct{} // made by a waiter, closed when n drops to 0
}

func (t *tracker) add() { t.n.Add(1) }

func (t *tracker) sub() {
	if t.n.Add(-1) != 0 {
		return
	}
	t.mu.Lock()
	if t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
	t.mu.Unlock()
}

// wait waits until nothing is outstanding or ctx is done.
func (t *tracker) wait(ctx context.Context) {
	t.mu.Lock()
	if t.n.Load() == 0 {
		// sub, which saw no waiter or closed the last one, ran before
		t.mu.Unlock()
		return
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
	}
}

// pipe is one pipelined connection to one node.
type pipe struct {
	addr    string
	opts    *WriterOptions
	depth   int
	ctx     context.Context // the Writer's: cancelled when it fails
	st      *stats
	logf    func(format string, args ...any)
	cluster bool // on a broken connection give the commands back (onDown) instead of reconnecting
	// onReply receives each command's final reply or error, from one of
	// the pipe's goroutines, without the pipe's lock.
	onReply func(p *pipe, it *item, v aof.Value, err error)
	// onDown (cluster) receives the commands of a pipe whose connection
	// broke or could not be made: the pipe is done.
	onDown func(p *pipe, its []*item, err error)
	// onFatal makes the Writer fail.
	onFatal func(err error)

	mu       gosync.Mutex
	queue    []*item // to write, in seq order
	inflight []sent  // written, awaiting replies, in wire order, from head
	head     int
	n        atomic.Int64 // items holding this pipe's depth
	waiters  atomic.Int32 // Sends waiting for depth: release pokes space
	pause    time.Time
	streak   atomic.Int64 // transient errors in a row (changed under mu)
	closing  bool         // exit once queue and inflight are empty
	down     bool         // gone: enqueue refuses
	idle     bool         // the writer waits for wake: enqueue pokes it
	dbs      atomic.Int64 // databases on the server, 0 if unknown

	wake   chan struct{} // the writer has work
	more   chan struct{} // the reader has replies to wait for
	space  chan struct{} // depth was released
	exited chan struct{}
}

func newPipe(ctx context.Context, addr string, opts *WriterOptions, st *stats) *pipe {
	p := &pipe{addr: addr, opts: opts, depth: opts.Depth, ctx: ctx, st: st, logf: opts.Log,
		wake: make(chan struct{}, 1), more: make(chan struct{}, 1), space: make(chan struct{}, 1),
		exited: make(chan struct{})}
	if p.logf == nil {
		p.logf = func(string, ...any) {}
	}
	return p
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// acquire takes one unit of depth, waiting while depth commands hold it.
func (p *pipe) acquire(ctx context.Context) error {
	for {
		if p.n.Add(1) <= int64(p.depth) {
			return nil
		}
		p.n.Add(-1)
		// Say so before looking again: a release either sees the waiter
		// and pokes, or came before the look and left room.
		p.waiters.Add(1)
		if p.n.Load() < int64(p.depth) {
			p.waiters.Add(-1)
			continue
		}
		select {
		case <-p.space:
		case <-ctx.Done():
			p.waiters.Add(-1)
			return ctx.Err()
		case <-p.ctx.Done():
			p.waiters.Add(-1)
			return context.Cause(p.ctx)
		}
		p.waiters.Add(-1)
	}
}

func (p *pipe) release() {
	p.n.Add(-1)
	if p.waiters.Load() > 0 {
		poke(p.space)
	}
}

// enqueue queues it for writing, before any queued item sent after it.
// It reports false when the pipe is gone.
func (p *pipe) enqueue(it *item) bool {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		return false
	}
	p.insert(it)
	wake := p.idle
	p.idle = false
	p.mu.Unlock()
	if wake {
		poke(p.wake)
	}
	return true
}

// insert puts it in the queue in seq order. p.mu is held.
func (p *pipe) insert(it *item) {
	i := len(p.queue)
	for i > 0 && p.queue[i-1].seq > it.seq {
		i--
	}
	p.queue = append(p.queue, nil)
	copy(p.queue[i+1:], p.queue[i:])
	p.queue[i] = it
}

func (p *pipe) inflightLen() int { return len(p.inflight) - p.head }

// close makes the pipe exit once everything queued has its reply.
func (p *pipe) close() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	poke(p.wake)
}

// run is the writer goroutine: it dials, writes, and reconnects.
func (p *pipe) run() {
	defer close(p.exited)
	r := retry.Retrier{Backoff: writerBackoff(), Limit: p.opts.RetryFor}
	var lastErr error
	for first := true; ; first = false {
		if p.ctx.Err() != nil {
			p.failAll(context.Cause(p.ctx))
			return
		}
		c, err := p.dial()
		if err == nil {
			if !first {
				p.st.reconnects.Add(1)
				p.logf("writer: reconnected to %s", p.addr)
			}
			var replied bool
			replied, err = p.session(c)
			if err == nil {
				return // closed
			}
			if replied {
				r.Progress()
			}
		}
		if p.ctx.Err() != nil {
			p.failAll(context.Cause(p.ctx))
			return
		}
		lastErr = err
		if code := ErrorCode(err); code != "" && !Transient(err) && !p.cluster {
			// WRONGPASS, NOPERM...: waiting will not help
			err = fmt.Errorf("writer: %w", err)
			p.onFatal(err)
			p.failAll(err)
			return
		}
		if p.cluster {
			p.goDown(err) // the cluster writer logs it
			return
		}
		d, ok := r.Failed()
		if !ok {
			err := fmt.Errorf("%s unreachable for %v: %w", p.addr, p.opts.RetryFor, lastErr)
			p.onFatal(err)
			p.failAll(err)
			return
		}
		p.logf("writer: connection to %s: %v; reconnecting in %v", p.addr, err, d)
		retry.Wait(p.ctx, d)
	}
}

func (p *pipe) dial() (*Conn, error) {
	o := p.opts.Conn
	o.DB = 0
	c, err := Dial(p.ctx, p.addr, &o)
	if err != nil {
		return nil, err
	}
	if !p.cluster {
		if v, err := c.DoString("CONFIG", "GET", "databases"); err == nil && len(v.Elems) == 2 {
			if n, err := strconv.Atoi(string(v.Elems[1].Str)); err == nil && n > 0 {
				p.dbs.Store(int64(n))
			}
		}
	}
	return c, nil
}

// session writes on one connection until it breaks (a non-nil error) or
// the pipe is closed and drained (nil). replied tells whether any reply
// came.
func (p *pipe) session(c *Conn) (replied bool, err error) {
	dead := make(chan struct{})
	readErr := make(chan error, 1)
	var gotReply atomic.Bool
	go p.read(c, dead, readErr, &gotReply)
	plan := 0 // the database selected once what is written runs
	var wire []sent
	yielded := false
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		p.mu.Lock()
		for {
			if len(p.queue) > 0 && !time.Now().Before(p.pause) {
				break
			}
			if p.closing && len(p.queue) == 0 && p.inflightLen() == 0 {
				p.down = true
				p.mu.Unlock()
				close(dead)
				c.Close()
				<-readErr
				return gotReply.Load(), nil
			}
			if len(p.queue) == 0 && !yielded && c.bw.Buffered() > 0 && c.bw.Buffered() < coalesceBytes &&
				p.inflightLen() >= coalesceInflight {
				// The server has work: give Send a chance to add commands
				// so that they go in one write.
				yielded = true
				p.mu.Unlock()
				runtime.Gosched()
				p.mu.Lock()
				continue
			}
			var pauseC <-chan time.Time
			if len(p.queue) > 0 {
				if timer == nil {
					timer = time.NewTimer(time.Until(p.pause))
				} else {
					timer.Reset(time.Until(p.pause))
				}
				pauseC = timer.C
			}
			p.idle = true // from here on, enqueue pokes wake
			p.mu.Unlock()
			if c.bw.Buffered() > 0 {
				if err := p.flush(c); err != nil {
					return p.broken(c, dead, readErr, err, &gotReply)
				}
			}
			select {
			case <-p.wake:
			case <-pauseC:
			case err := <-readErr:
				return p.broken(c, dead, nil, err, &gotReply)
			case <-p.ctx.Done():
				return p.broken(c, dead, readErr, context.Cause(p.ctx), &gotReply)
			}
			p.mu.Lock()
		}
		k := min(len(p.queue), writeBatch)
		wire = wire[:0]
		for _, it := range p.queue[:k] {
			if it.db != plan {
				wire = append(wire, sent{kind: 'S', db: it.db})
				plan = it.db
			}
			if it.asking {
				wire = append(wire, sent{kind: 'A'})
				it.asking = false
			}
			wire = append(wire, sent{it: it})
		}
		clear(p.queue[:k])
		p.queue = p.queue[k:]
		if p.head > 256 && p.head > len(p.inflight)/2 {
			n := copy(p.inflight, p.inflight[p.head:])
			clear(p.inflight[n:])
			p.inflight, p.head = p.inflight[:n], 0
		}
		p.inflight = append(p.inflight, wire...)
		more := len(p.queue) > 0 && !time.Now().Before(p.pause)
		busy := p.inflightLen() >= coalesceInflight+len(wire)
		p.mu.Unlock()
		poke(p.more)
		yielded = false
		if t := p.opts.Conn.writeTimeout(); t > 0 {
			// large arguments bypass the buffer: the deadline must be
			// fresh for every write, not only for flushes
			c.nc.SetWriteDeadline(time.Now().Add(t))
		}
		werr := writeWire(c, wire)
		if werr == nil && !more && !busy {
			werr = p.flush(c)
		}
		if werr != nil {
			return p.broken(c, dead, readErr, werr, &gotReply)
		}
	}
}

// writeWire writes commands as session planned them.
func writeWire(c *Conn, wire []sent) error {
	for _, s := range wire {
		var b []byte
		var segs [][]byte
		switch s.kind {
		case 'S':
			b = aof.SelectCommand(s.db)
		case 'A':
			b = askingCmd
		default:
			// Read the item before writing it: once its last byte reaches
			// the server, the reply may come and the reader may recycle it.
			b, segs = s.it.buf, s.it.segs
		}
		if _, err := c.bw.Write(b); err != nil {
			return err
		}
		for _, seg := range segs {
			if _, err := c.bw.Write(seg); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *pipe) flush(c *Conn) error {
	if t := p.opts.Conn.writeTimeout(); t > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(t))
	}
	return c.bw.Flush()
}

// read is the reader goroutine of one connection.
func (p *pipe) read(c *Conn, dead chan struct{}, errc chan<- error, replied *atomic.Bool) {
	timeout := p.opts.Conn.readTimeout()
	pending := 0      // replies known to be awaited
	var set time.Time // when the read deadline was set
	for n := 0; ; n++ {
		if pending == 0 {
			p.mu.Lock()
			for p.inflightLen() == 0 {
				p.mu.Unlock()
				select {
				case <-p.more:
				case <-dead:
					errc <- nil
					return
				}
				p.mu.Lock()
			}
			p.mu.Unlock()
			n = 0 // set the deadline after a wait
		}
		if timeout > 0 && (n == 0 || time.Since(set) > timeout/8) {
			// Refreshed after a wait, and when an eighth of the timeout
			// went by: each reply has at least 7/8 of it, at a fraction
			// of the cost of a deadline per reply.
			set = time.Now()
			c.nc.SetReadDeadline(set.Add(timeout))
		}
		v, err := c.r.ReadValue()
		if err != nil {
			c.nc.Close()
			errc <- fmt.Errorf("read from %s: %w", p.addr, err)
			return
		}
		replied.Store(true)
		p.mu.Lock()
		s := p.inflight[p.head]
		p.inflight[p.head] = sent{}
		p.head++
		if p.head == len(p.inflight) {
			p.inflight, p.head = p.inflight[:0], 0
		}
		pending = p.inflightLen()
		p.mu.Unlock()
		var rerr error
		if v.Kind == aof.Error || v.Kind == aof.BulkError {
			rerr = &RedisError{Msg: string(v.Str)}
			v = aof.Value{}
		}
		switch s.kind {
		case 'S':
			if rerr != nil {
				// Commands written after it would land in the wrong database.
				err := fmt.Errorf("select db %d on %s: %w", s.db, p.addr, rerr)
				p.onFatal(err)
				c.nc.Close()
				errc <- err
				return
			}
		case 'A':
			// an error here shows in the next reply (MOVED)
		default:
			p.reply(s.it, v, rerr)
		}
	}
}

// transientReply tells whether an error reply means the server did not
// run the command and will later.
func transientReply(err error) bool {
	switch ErrorCode(err) {
	case "LOADING", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "BUSY":
		return true
	}
	return false
}

// reply handles one reply: transient errors are retried after a pause,
// the rest go to onReply.
func (p *pipe) reply(it *item, v aof.Value, err error) {
	if err != nil && transientReply(err) {
		now := time.Now()
		if it.retrying.IsZero() {
			it.retrying = now
		}
		if now.Sub(it.retrying) < p.opts.RetryFor {
			p.mu.Lock()
			d := writerBackoff().Delay(int(p.streak.Load()))
			if p.streak.Load() == 0 {
				p.logf("writer: %s answered %q: retrying", p.addr, err.Error())
			}
			p.streak.Add(1)
			if until := now.Add(d); until.After(p.pause) {
				p.pause = until
			}
			p.insert(it)
			p.mu.Unlock()
			p.st.retries.Add(1)
			poke(p.wake)
			return
		}
	}
	if p.streak.Load() != 0 {
		p.streak.Store(0)
	}
	p.onReply(p, it, v, err)
}

// broken ends a session whose connection failed: idempotent commands in
// flight are queued again, the others fail with ErrUnknownOutcome.
func (p *pipe) broken(c *Conn, dead chan struct{}, readErr chan error, err error, replied *atomic.Bool) (bool, error) {
	close(dead)
	c.nc.Close()
	if readErr != nil {
		if rerr := <-readErr; rerr != nil && err == nil {
			err = rerr
		}
	}
	p.mu.Lock()
	var unknown []*item
	resent := 0
	for _, s := range p.inflight[p.head:] {
		if s.kind != 0 {
			continue
		}
		if s.it.idem && p.ctx.Err() == nil {
			p.insert(s.it)
			resent++
		} else {
			unknown = append(unknown, s.it)
		}
	}
	clear(p.inflight)
	p.inflight, p.head = p.inflight[:0], 0
	p.mu.Unlock()
	p.st.retries.Add(int64(resent))
	for _, it := range unknown {
		if p.ctx.Err() != nil {
			p.onReply(p, it, aof.Value{}, context.Cause(p.ctx))
			continue
		}
		p.onReply(p, it, aof.Value{}, fmt.Errorf("%s: %w (%v)", p.addr, ErrUnknownOutcome, err))
	}
	if err == nil {
		err = errors.New("connection closed")
	}
	return replied.Load(), err
}

// failAll fails every queued command with err; the pipe is gone.
func (p *pipe) failAll(err error) {
	p.mu.Lock()
	p.down = true
	q := p.queue
	p.queue = nil
	var fl []*item
	for _, s := range p.inflight[p.head:] {
		if s.kind == 0 {
			fl = append(fl, s.it)
		}
	}
	p.inflight, p.head = nil, 0
	p.mu.Unlock()
	for _, it := range append(fl, q...) {
		p.onReply(p, it, aof.Value{}, err)
	}
}

// goDown (cluster) hands the queued commands back to the cluster writer.
func (p *pipe) goDown(err error) {
	p.mu.Lock()
	p.down = true
	q := p.queue
	p.queue = nil
	p.mu.Unlock()
	p.onDown(p, q, err)
}

// pipelineWriter is the Writer of a standalone server: one pipe, Done
// called in Send order.
type pipelineWriter struct {
	writerBase
	p *pipe

	dmu  gosync.Mutex
	ring []*item // results by seq % depth, until earlier ones are done
	next uint64  // next seq to deliver
}

// writerBase is what both Writers share: their context, counters, item
// pool, and the error that made them fail.
type writerBase struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	st     stats
	out    tracker
	seq    atomic.Uint64
	items  gosync.Pool

	errMu  gosync.Mutex
	err    error
	closed atomic.Bool
}

// setErr records the Writer's first error and cancels its context.
func (w *writerBase) setErr(err error) {
	w.errMu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.errMu.Unlock()
	w.cancel(err)
}

func (w *writerBase) failed() error {
	if w.ctx.Err() == nil {
		return nil // setErr cancels ctx once err is set
	}
	w.errMu.Lock()
	defer w.errMu.Unlock()
	if w.err == nil && w.ctx.Err() != nil {
		w.err = context.Cause(w.ctx) // the watcher may not have run yet
	}
	return w.err
}

func (w *writerBase) Stats() WriterStats { return w.st.get() }

// checkSend refuses a command when the Writer has failed or closed, or
// the command is empty.
func (w *writerBase) checkSend(cmd *Command) error {
	if err := w.failed(); err != nil {
		return err
	}
	if w.closed.Load() {
		return errors.New("writer: Send after Close")
	}
	if len(cmd.Args) == 0 {
		return errors.New("writer: empty command")
	}
	return nil
}

var _ Writer = (*pipelineWriter)(nil)

func (o *WriterOptions) defaults() WriterOptions {
	c := *o
	if c.Depth <= 0 {
		c.Depth = defaultDepth
	}
	if c.RetryFor <= 0 {
		c.RetryFor = defaultRetryFor
	}
	if c.Log == nil {
		c.Log = func(string, ...any) {}
	}
	return c
}

// newPipelineWriter is the standalone Writer.
func newPipelineWriter(ctx context.Context, addr string, opts WriterOptions) (Writer, error) {
	o := opts.defaults()
	// Fail early on a wrong address or password, like the cluster writer.
	c, err := Dial(ctx, addr, &Options{Username: o.Conn.Username, Password: o.Conn.Password, TLS: o.Conn.TLS,
		ConnectTimeout: o.Conn.ConnectTimeout, ReadTimeout: o.Conn.ReadTimeout, WriteTimeout: o.Conn.WriteTimeout})
	if err != nil {
		return nil, fmt.Errorf("writer: %w", err)
	}
	dbs := 0
	if v, err := c.DoString("CONFIG", "GET", "databases"); err == nil && len(v.Elems) == 2 {
		dbs, _ = strconv.Atoi(string(v.Elems[1].Str))
	}
	c.Close()
	w := &pipelineWriter{ring: make([]*item, o.Depth)}
	w.ctx, w.cancel = context.WithCancelCause(ctx)
	w.p = newPipe(w.ctx, addr, &o, &w.st)
	w.p.dbs.Store(int64(dbs))
	w.p.onReply = w.onReply
	w.p.onFatal = w.fail
	go w.p.run()
	go func() {
		<-w.ctx.Done()
		w.fail(context.Cause(w.ctx))
	}()
	return w, nil
}

func (w *pipelineWriter) fail(err error) { w.setErr(err) }

func (w *pipelineWriter) Cluster() bool { return false }

func (w *pipelineWriter) Send(ctx context.Context, cmd *Command) error {
	if err := w.checkSend(cmd); err != nil {
		return err
	}
	if err := w.p.acquire(ctx); err != nil {
		return err
	}
	it := newItem(&w.items, cmd)
	it.sem = w.p
	it.seq = w.seq.Add(1) - 1
	w.out.add()
	dbs := int(w.p.dbs.Load())
	if it.db < 0 || dbs > 0 && it.db >= dbs {
		w.onReply(w.p, it, aof.Value{}, fmt.Errorf("writer: db %d out of range (the server has %d)", it.db, dbs))
		return nil
	}
	if !w.p.enqueue(it) {
		err := w.failed()
		if err == nil {
			err = errors.New("writer: closed")
		}
		w.onReply(w.p, it, aof.Value{}, err)
		return err
	}
	return nil
}

// onReply delivers results in seq order.
func (w *pipelineWriter) onReply(_ *pipe, it *item, v aof.Value, err error) {
	it.v, it.err = v, err
	w.dmu.Lock()
	defer w.dmu.Unlock()
	if err == nil || errors.As(err, new(*RedisError)) {
		w.st.commands.Add(1)
		w.st.bytes.Add(it.size())
	}
	w.ring[it.seq%uint64(len(w.ring))] = it
	for {
		i := w.next % uint64(len(w.ring))
		x := w.ring[i]
		if x == nil || x.seq != w.next {
			return
		}
		w.ring[i] = nil
		w.next++
		if x.done != nil {
			x.done(x.v, x.err)
		}
		sem := x.sem
		x.free(&w.items)
		sem.release()
		w.out.sub()
	}
}

func (w *pipelineWriter) Close() error {
	if w.closed.Swap(true) {
		return w.failed()
	}
	w.out.wait(w.ctx)
	w.p.close()
	<-w.p.exited
	err := w.failed()
	w.cancel(errors.New("writer closed"))
	return err
}
