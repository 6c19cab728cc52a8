package sync

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/aof"
)

// resumableError is a failure after which the sync resumes from its
// position.
type resumableError struct{ err error }

func (e *resumableError) Error() string { return e.err.Error() }
func (e *resumableError) Unwrap() error { return e.err }

// streamApplier applies a replication stream to a target.
type streamApplier interface {
	// command queues one command for the target's database db; at is
	// the stream position just after it.
	command(db int, args [][]byte, at Pos, now time.Time, buffered bool) error
	noop(p Pos)
	flush() error
	discard() error
	close() error
	idle(ctx context.Context) error
	position() Pos
	lag() time.Duration
	inTransaction() bool
}

func (a *applier) inTransaction() bool { return a.inTx }

// The cluster applier writes the stream into a Redis Cluster through a
// cluster Writer: each command to its slot's master, MOVED and ASK
// followed. A command whose keys span several slots is split per slot
// when that keeps its meaning (DEL, UNLINK, EXISTS, TOUCH, MSET), and
// refused otherwise. The source's transactions are applied per slot,
// each slot's part as one Lua script (atomic on its node, like MULTI/EXEC;
// a cluster refuses transactions across slots); a transaction spanning
// several slots is split with a warning, or refused when strict.
//
// The position advances over a command once it and every command before
// it are confirmed. It is saved beside the data, not with it: after a
// crash, the commands after it are applied again (at least once).
type clusterApplier struct {
	w      Writer
	table  commandTable
	strict bool
	log    *slog.Logger

	mu      gosync.Mutex
	ring    []pending // commands sent, in stream order, not yet all confirmed
	applied Pos       // the position every command before is confirmed at
	last    Pos       // the last position queued
	failed  atomic.Pointer[error]

	inTx  bool
	tx    [][][]byte // the source transaction being read (copies)
	txAt  []Pos
	split int64 // transactions split across slots
}

type pending struct {
	at    Pos
	left  int // replies still awaited
	first time.Time
}

// txScript runs commands given as ARGV: a count, then that many
// arguments, for each. It runs on the node of KEYS[1]'s slot.
const txScript = `local i, n = 1, #ARGV
while i <= n do
  local c = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + c))
  i = i + c + 1
end
return 1`

func newClusterApplier(w Writer, table commandTable, at Pos, strict bool, log *slog.Logger) *clusterApplier {
	return &clusterApplier{w: w, table: table, strict: strict, log: log, applied: at, last: at}
}

func (a *clusterApplier) err() error {
	if e := a.failed.Load(); e != nil {
		return *e
	}
	return nil
}

func (a *clusterApplier) fail(err error) { a.failed.CompareAndSwap(nil, &err) }

func (a *clusterApplier) inTransaction() bool { return a.inTx }

func (a *clusterApplier) position() Pos {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied
}

func (a *clusterApplier) lag() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.ring) == 0 {
		return 0
	}
	return time.Since(a.ring[0].first)
}

// noop advances over a command that needs nothing applied; inside a
// transaction the position stays at its start until it is applied.
func (a *clusterApplier) noop(p Pos) {
	if a.inTx {
		return
	}
	a.mu.Lock()
	a.last = p.carry(a.last)
	if len(a.ring) == 0 {
		a.applied = a.last
	}
	a.mu.Unlock()
}

// track registers a command at p that n Writer commands carry.
func (a *clusterApplier) track(p Pos, n int, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p = p.withData()
	a.ring = append(a.ring, pending{at: p, left: n, first: now})
	a.last = p
}

// done records one reply for the command at p.
func (a *clusterApplier) done(p Pos, name string, err error) {
	if err != nil {
		var re *RedisError
		if errors.As(err, &re) && !Transient(err) {
			err = &ApplyError{Command: name, Offset: p.Offset, Err: err}
		} else {
			// A broken connection or a cluster failing over: resume from
			// the position, applying what follows it again.
			err = &resumableError{err}
		}
		a.fail(err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// The ring is in stream order: offsets ascend.
	if i, ok := slices.BinarySearchFunc(a.ring, p.Offset, func(e pending, off int64) int { return cmp.Compare(e.at.Offset, off) }); ok && a.ring[i].left > 0 {
		a.ring[i].left--
	}
	n := 0
	for n < len(a.ring) && a.ring[n].left == 0 {
		a.applied = a.ring[n].at
		n++
	}
	if n > 0 {
		a.ring = append(a.ring[:0], a.ring[n:]...)
		if len(a.ring) == 0 && a.last.Offset > a.applied.Offset {
			a.applied = a.last
		}
	}
}

func (a *clusterApplier) command(db int, args [][]byte, at Pos, now time.Time, _ bool) error {
	if err := a.err(); err != nil {
		return err
	}
	name := args[0]
	switch {
	case bytes.EqualFold(name, []byte("multi")):
		a.inTx, a.tx, a.txAt = true, a.tx[:0], a.txAt[:0]
		return nil
	case bytes.EqualFold(name, []byte("exec")):
		a.inTx = false
		return a.sendTx(at, now)
	}
	if db != 0 {
		return &ClusterDBError{DB: db, Command: strings.ToUpper(string(name)), Offset: at.Offset}
	}
	if a.inTx {
		cp := make([][]byte, len(args))
		for i, x := range args {
			cp[i] = bytes.Clone(x)
		}
		a.tx = append(a.tx, cp)
		a.txAt = append(a.txAt, at)
		return nil
	}
	return a.sendOne(args, at, now)
}

// slotsOf groups the key arguments of args by slot.
func (a *clusterApplier) slotsOf(args [][]byte) (keys []int, slots map[int][]int, err error) {
	name := strings.ToLower(string(args[0]))
	spec, ok := a.table[name]
	if ok && spec.first == 0 && len(args) > 1 {
		if sub, ok2 := a.table[name+"|"+strings.ToLower(string(args[1]))]; ok2 {
			spec = sub
		}
	}
	if !ok {
		return nil, nil, nil
	}
	if keys, err = spec.keys(name, args); err != nil {
		return nil, nil, err
	}
	slots = map[int][]int{}
	for _, i := range keys {
		s := Slot(args[i])
		slots[s] = append(slots[s], i)
	}
	return keys, slots, nil
}

func (a *clusterApplier) sendOne(args [][]byte, at Pos, now time.Time) error {
	name := strings.ToUpper(string(args[0]))
	keys, slots, err := a.slotsOf(args)
	if err != nil {
		return fmt.Errorf("%s at offset %d: %w", name, at.Offset, err)
	}
	ctx := context.Background()
	switch {
	case len(keys) == 0:
		// Keyless: FLUSHALL, FUNCTION LOAD... go to every master;
		// PUBLISH to one (a cluster spreads messages itself).
		var key []byte
		if strings.EqualFold(name, "publish") && len(args) > 1 {
			key = args[1]
		}
		a.track(at, 1, now)
		return a.w.Send(ctx, &Command{Key: key, Args: args, Done: func(_ aof.Value, err error) { a.done(at, name, err) }})
	case len(slots) == 1:
		a.track(at, 1, now)
		return a.w.Send(ctx, &Command{Key: args[keys[0]], Args: args, Done: func(_ aof.Value, err error) { a.done(at, name, err) }})
	}
	switch name {
	case "DEL", "UNLINK", "EXISTS", "TOUCH", "MSET":
	default:
		return fmt.Errorf("%s at offset %d has keys in %d slots: a cluster cannot apply it (it is not split, lest it change meaning)", name, at.Offset, len(slots))
	}
	a.track(at, len(slots), now)
	for _, idx := range slots {
		part := [][]byte{args[0]}
		for _, i := range idx {
			part = append(part, args[i])
			if name == "MSET" && i+1 < len(args) {
				part = append(part, args[i+1])
			}
		}
		if err := a.w.Send(ctx, &Command{Key: args[idx[0]], Args: part, Done: func(_ aof.Value, err error) { a.done(at, name, err) }}); err != nil {
			return err
		}
	}
	return nil
}

// sendTx applies the source transaction just ended at end: each slot's
// commands as one script.
func (a *clusterApplier) sendTx(end Pos, now time.Time) error {
	type part struct {
		key  []byte
		argv [][]byte
		n    int
	}
	var parts []*part
	bySlot := map[int]*part{}
	var keyless [][][]byte
	for j, cmd := range a.tx {
		keys, slots, err := a.slotsOf(cmd)
		if err != nil {
			return fmt.Errorf("%s at offset %d: %w", strings.ToUpper(string(cmd[0])), a.txAt[j].Offset, err)
		}
		if len(keys) == 0 {
			keyless = append(keyless, cmd)
			continue
		}
		if len(slots) > 1 {
			return fmt.Errorf("%s at offset %d, in a transaction, has keys in %d slots: a cluster cannot apply it", strings.ToUpper(string(cmd[0])), a.txAt[j].Offset, len(slots))
		}
		s := Slot(cmd[keys[0]])
		p := bySlot[s]
		if p == nil {
			p = &part{key: cmd[keys[0]]}
			bySlot[s] = p
			parts = append(parts, p)
		}
		p.argv = append(p.argv, strconv.AppendInt(nil, int64(len(cmd)), 10))
		p.argv = append(p.argv, cmd...)
		p.n++
	}
	if len(parts)+len(keyless) == 0 {
		a.noop(end)
		return nil
	}
	if len(parts) > 1 || len(parts) == 1 && len(keyless) > 0 {
		if a.strict {
			return fmt.Errorf("the transaction ending at offset %d spans %d slots: %w", end.Offset, len(parts), ErrCrossSlotTx)
		}
		if a.split++; a.split == 1 || a.split%1000 == 0 {
			a.log.Warn(LogTxSplit,
				"offset", end.Offset, "slots", len(parts), "split_so_far", a.split)
		}
	}
	a.track(end, len(parts)+len(keyless), now)
	ctx := context.Background()
	for _, p := range parts {
		args := append([][]byte{[]byte("EVAL"), []byte(txScript), []byte("1"), p.key}, p.argv...)
		if err := a.w.Send(ctx, &Command{Key: p.key, Args: args, Done: func(_ aof.Value, err error) { a.done(end, "the transaction", err) }}); err != nil {
			return err
		}
	}
	for _, cmd := range keyless {
		name := strings.ToUpper(string(cmd[0]))
		if err := a.w.Send(ctx, &Command{Args: cmd, Done: func(_ aof.Value, err error) { a.done(end, name, err) }}); err != nil {
			return err
		}
	}
	return nil
}

func (a *clusterApplier) flush() error { return a.err() }

// discard drops a transaction cut short.
func (a *clusterApplier) discard() error {
	a.inTx, a.tx, a.txAt = false, a.tx[:0], a.txAt[:0]
	return a.err()
}

func (a *clusterApplier) close() error {
	err := a.w.Close()
	if e := a.err(); e != nil {
		return e
	}
	return err
}

func (a *clusterApplier) idle(ctx context.Context) error {
	return waitIdle(ctx, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.ring) == 0
	}, a.err)
}
