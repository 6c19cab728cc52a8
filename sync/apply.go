package sync

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/aof"
)

// The applier writes a replication stream into a standalone target over
// one pipelined connection, in batches. A batch ends only between the
// source's transactions, when the stream has nothing more buffered, or
// at maxBatchCommands or maxBatchBytes.
//
// With a checkpoint key, every batch is one MULTI/EXEC that ends with
// SET key "replid offset": the target holds the commands and the offset
// they bring it to, or neither. A sync that stopped for any reason (kill
// -9, a cut link, a crash of the target) reads that key and continues
// the stream from exactly there: exactly once. The source's own
// MULTI/EXEC pairs are dropped then, their commands running inside the
// batch's transaction, which never ends in the middle of one.
//
// A batch's EXEC is sent only once every batch before it is confirmed
// (its MULTI and commands go ahead, queued on the target meanwhile): a
// batch the target refused (EXECABORT: OOM at maxmemory, a command it
// does not know) is followed by no EXEC, so no later batch and no later
// checkpoint can commit behind it, whatever memory the target has freed
// by then; closing the connection drops the transaction left open. A
// pipelined EXEC could commit the next batch and move the key past the
// refused one, which the next run would then skip. (Redis before 8.4 has
// no compare-and-set without Lua, and WATCH cannot span the previous
// EXEC, which unwatches.)
//
// Without a key, commands go as they come (the source's MULTI/EXEC
// included) and the offset is only known to this process.

const (
	maxBatchCommands = 4096
	maxBatchBytes    = 1 << 20
	maxInflight      = 64 // batches sent and not yet answered
)

// reply kinds the receiver expects, in the order commands were sent.
const (
	recCmd    = iota // a command outside MULTI: any reply but an error
	recMulti         // MULTI: +OK
	recQueued        // a command inside MULTI: +QUEUED
	recExec          // EXEC: an array, one reply per queued command
)

type record struct {
	kind    uint8
	nameAt  int32 // the command's name in batch.names
	nameLen int32
	db      int32 // the stream's database at the command
	offset  int64 // replication offset just after the command (0: the applier's own)
}

// Pos is a position in the replication stream: the offset just after a
// command and the database the stream had selected there.
//
// DataOffset and DataDB are the same for the last command before it that
// was applied (not a PING, REPLCONF, SELECT or filtered command): where
// to continue from when a failover's new master has a history that
// differs after it (PSYNC2 accepts no offset past its own).
type Pos struct {
	Offset     int64
	DB         int
	DataOffset int64
	DataDB     int
}

// withData makes p a position just after an applied command.
func (p Pos) withData() Pos {
	p.DataOffset, p.DataDB = p.Offset, p.DB
	return p
}

// carry gives p the data position of prev: p follows only noops.
func (p Pos) carry(prev Pos) Pos {
	p.DataOffset, p.DataDB = prev.DataOffset, prev.DataDB
	return p
}

type batch struct {
	recs  []record
	names []byte
	end   Pos       // where the target is once the batch is applied
	first time.Time // when its first command was received
	bytes int
	cmds  int // source commands in it
}

func (b *batch) reset() {
	b.recs, b.names = b.recs[:0], b.names[:0]
	b.end, b.first, b.bytes, b.cmds = Pos{}, time.Time{}, 0, 0
}

func (b *batch) add(kind uint8, name []byte, offset int64) {
	b.recs = append(b.recs, record{kind: kind, nameAt: int32(len(b.names)), nameLen: int32(len(name)), db: int32(b.end.DB), offset: offset})
	b.names = append(b.names, name...)
}

func (b *batch) name(r *record) string {
	return string(bytes.ToUpper(b.names[r.nameAt : r.nameAt+r.nameLen]))
}

// ApplyError is a command of the stream that the target refused.
type ApplyError struct {
	Command string
	Offset  int64 // replication offset just after it
	Err     error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("the target refused %s at replication offset %d: %v", e.Command, e.Offset, e.Err)
}
func (e *ApplyError) Unwrap() error { return e.Err }

type applier struct {
	c      *Conn
	w      *aof.Writer
	bw     *bufio.Writer
	key    []byte // checkpoint key; nil: none
	replid string

	db       int  // database the connection is on once everything sent has run
	inTx     bool // inside the source's MULTI
	cur      *batch
	inflight chan *batch
	pool     gosync.Pool
	recvDone chan struct{}
	answered chan struct{} // a token after each batch the receiver is done with

	failed  atomic.Pointer[error]
	applied atomic.Int64        // offset the target is at, as far as confirmed
	pos     atomic.Pointer[Pos] // the same offset, with the stream's database
	pending atomic.Int64        // batches sent and not answered
	latency func(time.Duration)
	onFail  func() // called once when the applier fails
	sentEnd Pos    // end of the last batch sent

	queued []int // the receiver's records queued since the last MULTI, reused

	mu     gosync.Mutex
	firsts []time.Time // first-command times of the batches in flight, oldest first
	num    [64]byte
}

// newApplier starts applying to c, whose target is at offset of replid.
func newApplier(c *Conn, key string, replid string, at Pos, latency func(time.Duration), onFail func()) *applier {
	a := &applier{c: c, w: c.w, bw: c.bw, replid: replid, inflight: make(chan *batch, maxInflight),
		recvDone: make(chan struct{}), answered: make(chan struct{}, 1), latency: latency, onFail: onFail}
	if key != "" {
		a.key = []byte(key)
	}
	a.db = -1 // unknown: the first command selects
	a.setApplied(at)
	a.sentEnd = at
	a.pool.New = func() any { return new(batch) }
	go a.receive()
	return a
}

func (a *applier) setApplied(p Pos) {
	a.pos.Store(&p)
	a.applied.Store(p.Offset)
}

// position is where the target is, as far as confirmed.
func (a *applier) position() Pos { return *a.pos.Load() }

func (a *applier) err() error {
	if e := a.failed.Load(); e != nil {
		return *e
	}
	return nil
}

func (a *applier) fail(err error) {
	if a.failed.CompareAndSwap(nil, &err) {
		a.c.nc.Close()
		select {
		case a.answered <- struct{}{}: // wakes waitConfirmed
		default:
		}
		if a.onFail != nil {
			a.onFail()
		}
	}
}

func (a *applier) send(args ...[]byte) error {
	if err := a.w.WriteCommand(args...); err != nil {
		a.fail(fmt.Errorf("write to the target %s: %w", a.c.addr, err))
		return a.err()
	}
	return nil
}

// command queues one command of the stream (not PING, REPLCONF or
// SELECT) for the target's database db; at is the position just after
// it (with the stream's own database, which a mapping may change).
// buffered tells whether more of the stream is already read: the batch
// goes when it is not.
func (a *applier) command(db int, args [][]byte, at Pos, now time.Time, buffered bool) error {
	offset := at.Offset
	if err := a.err(); err != nil {
		return err
	}
	name := args[0]
	class := aof.Classify(name)
	multi, exec := class == aof.ClassMulti, class == aof.ClassExec
	b := a.cur
	if b == nil {
		b = a.pool.Get().(*batch)
		b.reset()
		b.first = now
		a.cur = b
		if a.key != nil {
			if err := a.send([]byte("MULTI")); err != nil {
				return err
			}
			b.add(recMulti, nil, 0)
		}
	}
	b.cmds++
	b.end = at.withData()
	switch {
	case multi && a.key != nil:
		a.inTx = true
	case exec && a.key != nil:
		a.inTx = false
	default:
		if db != a.db && !multi && !exec {
			if err := a.send([]byte("SELECT"), strconv.AppendInt(a.num[:0], int64(db), 10)); err != nil {
				return err
			}
			b.add(a.kind(), []byte("select"), offset)
			a.db = db
		}
		if err := a.send(args...); err != nil {
			return err
		}
		switch {
		case multi:
			b.add(recMulti, name, offset)
			a.inTx = true
		case exec:
			b.add(recExec, name, offset)
			a.inTx = false
		default:
			b.add(a.kind(), name, offset)
		}
		for _, x := range args {
			b.bytes += len(x)
		}
	}
	if a.inTx || buffered && b.cmds < maxBatchCommands && b.bytes < maxBatchBytes {
		return nil
	}
	return a.flush()
}

// kind is what a command sent now is answered with.
func (a *applier) kind() uint8 {
	if a.key != nil || a.inTx {
		return recQueued
	}
	return recCmd
}

// flush ends the batch being built (with the checkpoint and EXEC) and
// sends it. It must not be called inside the source's transaction.
func (a *applier) flush() error {
	b := a.cur
	if b == nil {
		return a.err()
	}
	if a.key != nil {
		if a.db != 0 {
			if err := a.send([]byte("SELECT"), []byte("0")); err != nil {
				return err
			}
			b.add(recQueued, []byte("select"), 0)
			a.db = 0
		}
		val := appendTargetValue(a.num[:0], a.replid, b.end)
		if err := a.send([]byte("SET"), a.key, val); err != nil {
			return err
		}
		b.add(recQueued, []byte("set"), 0)
		if err := a.waitConfirmed(); err != nil {
			return err
		}
		if err := a.send([]byte("EXEC")); err != nil {
			return err
		}
		b.add(recExec, []byte("exec"), 0)
	}
	return a.sendBatch()
}

// waitConfirmed sends what is buffered (the open batch's commands get
// queued on the target) and waits until every batch sent is confirmed;
// it returns the applier's failure if one was not.
func (a *applier) waitConfirmed() error {
	if a.pending.Load() == 0 {
		return a.err()
	}
	if err := a.bw.Flush(); err != nil {
		a.fail(fmt.Errorf("write to the target %s: %w", a.c.addr, err))
		return a.err()
	}
	for a.pending.Load() > 0 {
		if err := a.err(); err != nil {
			return err
		}
		select {
		case <-a.answered:
		case <-a.recvDone:
			return a.err()
		}
	}
	return a.err()
}

func (a *applier) sendBatch() error {
	b := a.cur
	a.cur = nil
	if err := a.bw.Flush(); err != nil {
		a.fail(fmt.Errorf("write to the target %s: %w", a.c.addr, err))
		return a.err()
	}
	a.sentEnd = b.end
	a.mu.Lock()
	a.firsts = append(a.firsts, b.first)
	a.mu.Unlock()
	a.pending.Add(1)
	select {
	case a.inflight <- b:
	case <-a.recvDone:
		return a.err()
	}
	return nil
}

// noop records that the stream up to p needed nothing applied (PING,
// REPLCONF, SELECT, a filtered command): with nothing in flight, the
// target is at p too.
//
// With a checkpoint key, a noop with no batch open opens one that only
// moves the key: the position on the target follows the source's PINGs,
// so that a source restarted from its RDB (whose backlog starts at its
// offset) can still continue the stream.
func (a *applier) noop(p Pos) {
	switch {
	case a.cur != nil:
		a.cur.end = p.carry(a.cur.end)
	case a.key != nil:
		if a.err() != nil || p.Offset <= a.sentEnd.Offset {
			return
		}
		b := a.pool.Get().(*batch)
		b.reset()
		b.first = time.Now()
		a.cur = b
		if a.send([]byte("MULTI")) != nil {
			return
		}
		b.add(recMulti, nil, 0)
		b.end = p.carry(a.sentEnd)
	case a.pending.Load() == 0:
		p = p.carry(a.sentEnd)
		a.setApplied(p)
		a.sentEnd = p
	}
}

// lag is how long the oldest command not yet applied has waited.
func (a *applier) lag() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.firsts) == 0 {
		return 0
	}
	return time.Since(a.firsts[0])
}

// discard drops the batch being built when stopping inside the source's
// transaction: the transaction is applied whole after a restart.
func (a *applier) discard() error {
	b := a.cur
	if b == nil {
		return a.err()
	}
	if !a.inTx {
		return a.flush()
	}
	a.inTx = false
	// Everything since our MULTI (with a key) or the source's is dropped.
	if err := a.send([]byte("DISCARD")); err != nil {
		return err
	}
	b.add(recCmd, []byte("discard"), 0)
	b.end = a.sentEnd
	if a.key == nil {
		// Without a key, what was sent before the source's MULTI ran.
		for i := len(b.recs) - 1; i > 0; i-- {
			if b.recs[i].kind == recMulti {
				b.end = Pos{Offset: b.recs[i-1].offset, DB: int(b.recs[i-1].db)}.withData()
				break
			}
		}
	}
	a.db = -1
	return a.sendBatch()
}

// close waits until every batch sent is answered.
func (a *applier) close() error {
	close(a.inflight)
	<-a.recvDone
	return a.err()
}

// receive reads the replies, batch by batch.
func (a *applier) receive() {
	defer close(a.recvDone)
	r := a.c.r
	for b := range a.inflight {
		if a.err() != nil {
			continue // drain
		}
		queued := a.queued[:0] // records queued since the last MULTI
		var queueErr error
		for i := range b.recs {
			rec := &b.recs[i]
			// Replies are checked, not kept: no allocation per reply.
			var (
				n    int64
				kind aof.Kind
				text []byte
				err  error
			)
			if rec.kind == recExec {
				n, kind, text, err = r.ReadArrayStart()
			} else {
				kind, text, err = r.SkipValue()
			}
			if err != nil {
				a.fail(fmt.Errorf("read from the target %s: %w", a.c.addr, err))
				break
			}
			isErr := kind == aof.Error || kind == aof.BulkError
			switch rec.kind {
			case recMulti:
				queued, queueErr = queued[:0], nil
			case recQueued:
				queued = append(queued, i)
				if isErr && queueErr == nil {
					queueErr = a.refused(b, rec, string(text))
				}
				continue
			case recExec:
				if isErr {
					if queueErr != nil {
						a.fail(queueErr)
					} else {
						a.fail(a.refused(b, rec, string(text)))
					}
					break
				}
				// One reply per queued command, each read whole.
				for j := range n {
					k, text, err := r.SkipValue()
					if err != nil {
						a.fail(fmt.Errorf("read from the target %s: %w", a.c.addr, err))
						break
					}
					if (k == aof.Error || k == aof.BulkError) && int(j) < len(queued) && a.err() == nil {
						a.fail(a.refused(b, &b.recs[queued[j]], string(text)))
					}
				}
				continue
			}
			if isErr {
				a.fail(a.refused(b, rec, string(text)))
			}
		}
		a.queued = queued
		if a.err() != nil {
			continue
		}
		a.setApplied(b.end)
		if a.latency != nil {
			a.latency(time.Since(b.first))
		}
		a.mu.Lock()
		a.firsts = a.firsts[1:]
		a.mu.Unlock()
		a.pending.Add(-1)
		a.pool.Put(b)
		select {
		case a.answered <- struct{}{}:
		default:
		}
	}
}

func (a *applier) refused(b *batch, rec *record, msg string) error {
	return &ApplyError{Command: b.name(rec), Offset: rec.offset, Err: &RedisError{Msg: msg}}
}

// idle waits until every batch sent is answered, or ctx is done.
func (a *applier) idle(ctx context.Context) error {
	return waitIdle(ctx, func() bool { return a.pending.Load() == 0 }, a.err)
}

// waitIdle polls until done says so, failed returns an error, or ctx is
// done.
func waitIdle(ctx context.Context, done func() bool, failed func() error) error {
	for !done() {
		if err := failed(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return failed()
}
