package sync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/retry"
)

// refreshEvery rate-limits the background refreshes of the slot map that
// MOVED replies trigger.
const refreshEvery = time.Second

// downLogEvery rate-limits the log lines about one failed node.
const downLogEvery = 5 * time.Second

// group is a command sent to every master (Key == nil): Done is called
// once, with the first error.
type group struct {
	left atomic.Int32
	mu   gosync.Mutex
	v    aof.Value
	err  error
	done func(aof.Value, error)
}

func (g *group) finish(v aof.Value, err error) {
	g.mu.Lock()
	if err != nil && g.err == nil {
		g.err = err
	}
	if g.v.Kind == 0 {
		g.v = v
	}
	g.mu.Unlock()
	if g.left.Add(-1) == 0 && g.done != nil {
		g.done(g.v, g.err)
	}
}

// clusterWriter is the Writer of a Redis Cluster: one pipe per master,
// commands routed by the slot of their key.
//
// Order: the commands of one slot go to one pipe at a time. While some
// are in flight on a pipe (slotPipe, slotCount), later ones follow them
// there even if the map changed, so that MOVED replies redirect them in
// order; commands handed back by a failed node wait (held) with the later
// ones of their slot until the map is refreshed.
type clusterWriter struct {
	writerBase
	opts WriterOptions
	wg   gosync.WaitGroup

	mu         gosync.Mutex
	owner      [SlotCount]string // master address of each slot, "" unknown
	pipes      map[string]*pipe
	known      map[string]bool      // every node seen, to refresh the map from
	down       map[string]bool      // failed nodes, until the map is refreshed
	downLogged map[string]time.Time // last log line about each failed node
	slotPipe   [SlotCount]*pipe
	slotCount  [SlotCount]int32
	held       []*item // waiting for a refreshed map
	// waiting holds, after a MOVED, the commands of a slot that must
	// wait for the earlier ones still in flight on the old master.
	waiting     map[int][]*item
	slotHeld    [SlotCount]int32
	heldSince   time.Time
	recovering  bool
	refreshing  bool
	lastRefresh time.Time
	lastMoved   time.Time // last MOVED logged
	closing     bool
}

var _ Writer = (*clusterWriter)(nil)

// newClusterWriter is the cluster Writer.
func newClusterWriter(ctx context.Context, addr string, opts WriterOptions) (Writer, error) {
	o := opts.defaults()
	w := &clusterWriter{opts: o, pipes: map[string]*pipe{}, known: map[string]bool{addr: true}, waiting: map[int][]*item{}, down: map[string]bool{},
		downLogged: map[string]time.Time{}}
	w.ctx, w.cancel = context.WithCancelCause(ctx)
	ranges, err := w.slots(ctx, []string{addr})
	if err != nil {
		w.cancel(err)
		return nil, fmt.Errorf("writer: %w", err)
	}
	w.mu.Lock()
	w.apply(ranges)
	w.lastRefresh = time.Now()
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		<-w.ctx.Done()
		w.fail(context.Cause(w.ctx))
	}()
	return w, nil
}

func (w *clusterWriter) logf(format string, args ...any) { w.opts.Log(format, args...) }

// slots reads CLUSTER SLOTS from the first of addrs that answers.
func (w *clusterWriter) slots(ctx context.Context, addrs []string) ([]SlotRange, error) {
	var errs []error
	for _, a := range addrs {
		o := w.opts.Conn
		o.DB = 0
		c, err := Dial(ctx, a, &o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r, err := ClusterSlots(c)
		c.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(r) == 0 {
			errs = append(errs, fmt.Errorf("%s: no slot assigned", a))
			continue
		}
		return r, nil
	}
	return nil, fmt.Errorf("read the cluster's slots: %w", errors.Join(errs...))
}

// apply installs a slot map. w.mu is held.
func (w *clusterWriter) apply(ranges []SlotRange) {
	var owner [SlotCount]string
	for _, r := range ranges {
		w.known[r.Master] = true
		for _, a := range r.Replicas {
			w.known[a] = true
		}
		for s := max(r.Start, 0); s <= r.End && s < SlotCount; s++ {
			owner[s] = r.Master
		}
	}
	changed, example := 0, -1
	for s := range owner {
		if w.owner[s] != owner[s] {
			changed++
			if example < 0 {
				example = s
			}
		}
	}
	if changed > 0 && w.owner != ([SlotCount]string{}) {
		w.logf("writer: cluster map refreshed: %d slots changed owner (slot %d: %q -> %q)", changed, example, w.owner[example], owner[example])
	}
	w.owner = owner
	clear(w.down) // try them again
}

// pipeFor returns the pipe to addr, starting one if needed. w.mu is held.
func (w *clusterWriter) pipeFor(addr string) *pipe {
	if p := w.pipes[addr]; p != nil {
		return p
	}
	w.known[addr] = true
	p := newPipe(w.ctx, addr, &w.opts, &w.st)
	p.cluster = true
	p.onReply = w.onReply
	p.onDown = w.onDown
	p.onFatal = w.fail
	w.pipes[addr] = p
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		p.run()
	}()
	return p
}

// target is where a new command for slot s goes now. w.mu is held.
func (w *clusterWriter) target(s int) *pipe {
	if w.slotCount[s] > 0 {
		return w.slotPipe[s]
	}
	if a := w.owner[s]; a == "" || w.down[a] {
		return nil
	}
	return w.pipeFor(w.owner[s])
}

// place queues it for its slot's master, or holds it. w.mu is held.
func (w *clusterWriter) place(it *item, recovering bool) {
	s := it.slot
	if w.slotHeld[s] > 0 && !recovering {
		w.hold(it)
		return
	}
	if q, ok := w.waiting[s]; ok {
		w.waiting[s] = insertSeq(q, it)
		return
	}
	p := w.target(s)
	if p == nil || !p.enqueue(it) {
		w.hold(it)
		return
	}
	if w.slotCount[s] == 0 || w.slotPipe[s] == p {
		w.slotPipe[s] = p
		w.slotCount[s]++
		it.acct = p
	}
}

// unaccount forgets where it was counted. w.mu is held.
func (w *clusterWriter) unaccount(it *item) {
	if it.acct == nil || it.slot < 0 {
		return
	}
	s := it.slot
	if w.slotPipe[s] == it.acct {
		w.slotCount[s]--
		if w.slotCount[s] == 0 {
			w.slotPipe[s] = nil
			if q, ok := w.waiting[s]; ok {
				// the old master has nothing more of this slot: go on at
				// the new one, in order
				delete(w.waiting, s)
				for _, x := range q {
					w.place(x, false)
				}
			}
		}
	}
	it.acct = nil
}

// insertSeq inserts it into q in seq order.
func insertSeq(q []*item, it *item) []*item {
	i := len(q)
	for i > 0 && q[i-1].seq > it.seq {
		i--
	}
	q = append(q, nil)
	copy(q[i+1:], q[i:])
	q[i] = it
	return q
}

// hold keeps it until the map is refreshed. w.mu is held.
func (w *clusterWriter) hold(it *item) {
	if len(w.held) == 0 {
		w.heldSince = time.Now()
	}
	w.held = append(w.held, it)
	if it.slot >= 0 {
		w.slotHeld[it.slot]++
	}
	w.startRecover()
}

// startRecover starts recover unless it runs. w.mu is held.
func (w *clusterWriter) startRecover() {
	if !w.recovering && w.ctx.Err() == nil {
		w.recovering = true
		w.wg.Add(1)
		go w.recover()
	}
}

// recover refreshes the map until the held commands can be placed, within
// RetryFor.
func (w *clusterWriter) recover() {
	defer w.wg.Done()
	for attempt := 0; ; attempt++ {
		if !retry.Wait(w.ctx, writerBackoff().Delay(attempt)) {
			w.mu.Lock()
			w.recovering = false
			w.mu.Unlock()
			return
		}
		ranges, err := w.slots(w.ctx, w.refreshAddrs())
		w.mu.Lock()
		if err == nil {
			w.apply(ranges)
			w.lastRefresh = time.Now()
		}
		held := w.held
		w.held = nil
		for _, it := range held {
			if it.slot >= 0 {
				w.slotHeld[it.slot]--
			}
		}
		if err != nil && time.Since(w.heldSince) > w.opts.RetryFor {
			w.recovering = false
			w.mu.Unlock()
			err = fmt.Errorf("cluster unreachable for %v: %w", w.opts.RetryFor, err)
			for _, it := range held {
				w.onReply(nil, it, aof.Value{}, err)
			}
			w.fail(err)
			return
		}
		if err != nil {
			w.logf("writer: refresh the cluster map: %v", err)
			w.held = held
			for _, it := range held {
				if it.slot >= 0 {
					w.slotHeld[it.slot]++
				}
			}
			w.mu.Unlock()
			continue
		}
		var lost []*item
		for _, it := range held {
			if it.slot < 0 {
				lost = append(lost, it) // a broadcast: its node is gone
				continue
			}
			w.place(it, true)
			w.st.retries.Add(1)
		}
		done := len(w.held) == 0
		if done {
			w.recovering = false
		}
		w.mu.Unlock()
		for _, it := range lost {
			w.onReply(nil, it, aof.Value{}, fmt.Errorf("broadcast command: node failed: %w", ErrUnknownOutcome))
		}
		if done {
			return
		}
	}
}

// refreshAddrs lists the nodes to ask for the map: masters first.
func (w *clusterWriter) refreshAddrs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, a := range w.owner {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for a := range w.known {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// refreshSoon refreshes the map in the background, at most once per
// refreshEvery. w.mu is held.
func (w *clusterWriter) refreshSoon() {
	if w.refreshing || w.ctx.Err() != nil {
		return
	}
	w.refreshing = true
	wait := time.Until(w.lastRefresh.Add(refreshEvery))
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		var ranges []SlotRange
		err := context.Cause(w.ctx)
		if wait <= 0 || retry.Wait(w.ctx, wait) {
			ranges, err = w.slots(w.ctx, w.refreshAddrs())
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.refreshing = false
		w.lastRefresh = time.Now()
		if err != nil {
			if w.ctx.Err() == nil {
				w.logf("writer: refresh the cluster map: %v", err)
			}
			return
		}
		w.apply(ranges)
	}()
}

func (w *clusterWriter) fail(err error) {
	w.setErr(err)
	w.mu.Lock()
	held := w.held
	w.held = nil
	for _, it := range held {
		if it.slot >= 0 {
			w.slotHeld[it.slot]--
		}
	}
	w.mu.Unlock()
	for _, it := range held {
		w.onReply(nil, it, aof.Value{}, err)
	}
}

func (w *clusterWriter) Cluster() bool { return true }

func (w *clusterWriter) Send(ctx context.Context, cmd *Command) error {
	if err := w.checkSend(cmd); err != nil {
		return err
	}
	if cmd.DB != 0 {
		if cmd.Done != nil {
			cmd.Done(aof.Value{}, fmt.Errorf("db %d: %w", cmd.DB, ErrClusterDB))
		}
		return nil
	}
	if cmd.Key == nil {
		return w.broadcast(ctx, cmd)
	}
	slot := Slot(cmd.Key)
	var p *pipe
	for start := time.Now(); ; {
		// The slot's master may be down, or the slot unassigned: wait
		// for the map to be refreshed rather than pile up commands.
		w.mu.Lock()
		p = w.target(slot)
		if p == nil {
			w.refreshSoon()
		}
		w.mu.Unlock()
		if p != nil {
			break
		}
		if time.Since(start) > w.opts.RetryFor {
			if cmd.Done != nil {
				cmd.Done(aof.Value{}, fmt.Errorf("slot %d: no reachable master for %v", slot, w.opts.RetryFor))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.ctx.Done():
			return context.Cause(w.ctx)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := p.acquire(ctx); err != nil {
		return err
	}
	it := newItem(&w.items, cmd)
	it.slot = slot
	it.sem = p
	it.seq = w.seq.Add(1) - 1
	w.out.add()
	w.mu.Lock()
	w.place(it, false)
	w.mu.Unlock()
	return nil
}

// broadcast sends cmd to every master.
func (w *clusterWriter) broadcast(ctx context.Context, cmd *Command) error {
	w.mu.Lock()
	var masters []string
	seen := map[string]bool{}
	for _, a := range w.owner {
		if a != "" && !seen[a] {
			seen[a] = true
			masters = append(masters, a)
		}
	}
	w.mu.Unlock()
	g := &group{done: cmd.Done}
	g.left.Store(int32(len(masters)))
	var buf []byte
	var segs [][]byte
	if cmd.Chunked != nil {
		buf, segs = appendChunked(nil, cmd)
	} else {
		buf = aof.AppendCommand(nil, cmd.Args...)
	}
	for i, a := range masters {
		it := &item{buf: buf, segs: segs, idem: cmd.Idempotent, slot: -1, group: g}
		w.mu.Lock()
		p := w.pipeFor(a)
		w.mu.Unlock()
		if err := p.acquire(ctx); err != nil {
			// the masters not reached yet count as failed
			for range masters[i:] {
				g.finish(aof.Value{}, err)
			}
			return err
		}
		it.sem = p
		it.seq = w.seq.Add(1) - 1
		w.out.add()
		if !p.enqueue(it) {
			w.onReply(p, it, aof.Value{}, fmt.Errorf("broadcast to %s: node failed: %w", a, ErrUnknownOutcome))
		}
	}
	return nil
}

// onReply handles a command's final reply on p (nil: from the held list).
func (w *clusterWriter) onReply(p *pipe, it *item, v aof.Value, err error) {
	if code := ErrorCode(err); (code == "MOVED" || code == "ASK") && it.slot >= 0 && it.redirects < maxRedirects &&
		w.ctx.Err() == nil {
		if addr, ok := redirectAddr(err, p); ok {
			w.redirect(it, code == "ASK", addr)
			return
		}
	}
	w.mu.Lock()
	w.unaccount(it)
	w.mu.Unlock()
	if err == nil || errors.As(err, new(*RedisError)) {
		w.st.commands.Add(1)
		w.st.bytes.Add(it.size())
	}
	if it.group != nil {
		it.group.finish(v, err)
	} else if it.done != nil {
		it.done(v, err)
	}
	sem := it.sem
	it.free(&w.items)
	if sem != nil {
		sem.release()
	}
	w.out.sub()
}

// redirectAddr reads the address of "MOVED 3999 host:port"; an empty host
// is the host of the node that answered.
func redirectAddr(err error, p *pipe) (string, bool) {
	f := strings.Fields(err.Error())
	if len(f) != 3 {
		return "", false
	}
	host, port, e := net.SplitHostPort(f[2])
	if e != nil {
		return "", false
	}
	if _, e := strconv.Atoi(port); e != nil {
		return "", false
	}
	if host == "" && p != nil {
		host, _, _ = net.SplitHostPort(p.addr)
	}
	return net.JoinHostPort(host, port), true
}

// redirect sends it to addr after MOVED (updating the map) or ASK.
func (w *clusterWriter) redirect(it *item, ask bool, addr string) {
	w.st.redirects.Add(1)
	w.st.retries.Add(1)
	it.redirects++
	w.mu.Lock()
	defer w.mu.Unlock()
	if !ask {
		if w.owner[it.slot] != addr {
			if time.Since(w.lastMoved) > refreshEvery {
				w.logf("writer: slot %d moved to %s (MOVED; further moves within %v not logged)", it.slot, addr, refreshEvery)
				w.lastMoved = time.Now()
			}
			w.owner[it.slot] = addr
		}
		w.refreshSoon()
	}
	if !ask && (w.slotCount[it.slot] > 1 || w.slotCount[it.slot] == 1 && it.acct == nil || w.waiting[it.slot] != nil) {
		// Later commands of the slot are still on the old master: this
		// one waits for them, and new ones wait behind it; unaccount
		// places them all once the old master has none left.
		w.waiting[it.slot] = insertSeq(w.waiting[it.slot], it)
		acct := it.acct != nil
		w.unaccount(it)
		if !acct && w.slotCount[it.slot] == 0 {
			q := w.waiting[it.slot]
			delete(w.waiting, it.slot)
			for _, x := range q {
				w.place(x, false)
			}
		}
		return
	}
	w.unaccount(it)
	it.asking = ask
	p := w.pipeFor(addr)
	if !p.enqueue(it) {
		it.asking = false
		w.hold(it)
	}
}

// onDown takes the commands of a failed pipe: they wait for a refreshed
// map.
func (w *clusterWriter) onDown(p *pipe, its []*item, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pipes[p.addr] == p {
		delete(w.pipes, p.addr)
	}
	w.down[p.addr] = true
	for _, it := range its {
		w.unaccount(it)
	}
	if time.Since(w.downLogged[p.addr]) > downLogEvery {
		w.logf("writer: node %s failed (%v): %d commands wait for the cluster map (further failures of this node within %v not logged)",
			p.addr, err, len(its), downLogEvery)
		w.downLogged[p.addr] = time.Now()
	}
	for _, it := range its {
		w.hold(it)
	}
	w.startRecover() // the map is stale: refresh it
}

func (w *clusterWriter) Close() error {
	if w.closed.Swap(true) {
		return w.failed()
	}
	w.out.wait(w.ctx)
	w.mu.Lock()
	w.closing = true
	pipes := make([]*pipe, 0, len(w.pipes))
	for _, p := range w.pipes {
		pipes = append(pipes, p)
	}
	w.mu.Unlock()
	for _, p := range pipes {
		p.close()
	}
	for _, p := range pipes {
		<-p.exited
	}
	err := w.failed()
	w.cancel(errors.New("writer closed"))
	w.wg.Wait()
	return err
}
