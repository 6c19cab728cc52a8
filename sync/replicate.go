package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/rdb"
)

// ReplicateOptions configure Replicate.
type ReplicateOptions struct {
	Source ReplicaOptions
	// Restore configures how the snapshot's keys are written; its Conflict
	// defaults to ConflictReplace here (the target mirrors the source).
	Restore RestoreOptions
	// UntilCaughtUp stops once every command the source had written when
	// the snapshot was loaded has been applied.
	UntilCaughtUp bool
	// AckEvery is the interval of REPLCONF ACK (default 1s).
	AckEvery time.Duration
	Log      func(format string, args ...any)
}

// ReplicateStats count what Replicate did.
type ReplicateStats struct {
	Snapshot RestoreStats
	Commands int64 // stream commands applied
	ReplID   string
	Offset   int64 // replication offset of the last command applied
}

// Replicate follows a master as a replica and mirrors it into a target
// through w: a full resynchronization (the snapshot streamed into a
// Restorer, never spooled to disk), then the command stream in order,
// acknowledged every AckEvery with the offset of the last command the
// target confirmed. It returns when ctx is done, the link breaks, or,
// with UntilCaughtUp, the target has caught up.
//
// This is the first slice of live sync: a standalone target, no resume
// (every call starts with a full resynchronization), transactions passed
// through as they come.
func Replicate(ctx context.Context, addr string, w Writer, target *ServerInfo, opts ReplicateOptions) (ReplicateStats, error) {
	var st ReplicateStats
	if w.Cluster() {
		return st, errors.New("replicate: cluster targets are not supported yet")
	}
	if opts.Restore.Conflict == "" {
		opts.Restore.Conflict = ConflictReplace
	}
	if opts.AckEvery <= 0 {
		opts.AckEvery = time.Second
	}
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	opts.Source.RDBOnly = false
	l, err := OpenLink(ctx, addr, opts.Source)
	if err != nil {
		return st, err
	}
	defer l.Close()
	// Closing the link unblocks a Next waiting on a quiet master.
	stopWatch := context.AfterFunc(ctx, func() { l.Close() })
	defer stopWatch()
	if !l.Full {
		return st, errors.New("replicate: the master continued a stream this replica never started")
	}
	st.ReplID = l.ReplID
	logf("full resynchronization from %s: replication ID %s, offset %d", addr, l.ReplID, l.Offset)

	snap, err := l.Snapshot()
	if err != nil {
		return st, err
	}
	r, err := NewRestorer(w, target, opts.Restore)
	if err != nil {
		return st, err
	}
	if err := loadSnapshot(ctx, snap, r); err != nil {
		return st, fmt.Errorf("replicate: snapshot from %s: %w", addr, err)
	}
	st.Snapshot = r.Stats()
	if err := r.Err(); err != nil {
		return st, err
	}

	// Acks start once the snapshot is in, as a replica's do: the master
	// starts a diskless stream on the first one.
	var applied atomic.Int64 // offset of the last command the target confirmed
	applied.Store(l.Offset)
	ackStop := make(chan struct{})
	var ackWG gosync.WaitGroup
	ackWG.Add(1)
	go func() {
		defer ackWG.Done()
		t := time.NewTicker(opts.AckEvery)
		defer t.Stop()
		for {
			select {
			case <-ackStop:
				return
			case <-t.C:
				l.Ack(applied.Load())
			}
		}
	}()
	defer func() { close(ackStop); ackWG.Wait() }()
	l.Ack(l.Offset)

	// The offset to catch up to: the source's, once the snapshot is in.
	var goal int64 = -1
	if opts.UntilCaughtUp {
		if goal, err = masterOffset(ctx, addr, &opts.Source.Conn); err != nil {
			return st, err
		}
		if goal <= l.Offset {
			return st, waitApplied(ctx, w, &applied, l.Offset, &st)
		}
	}
	db := 0
	lastSent := l.Offset // offset of the last command sent to the target
	var failed atomic.Pointer[error]
	for {
		if e := failed.Load(); e != nil {
			return st, *e
		}
		sc, err := l.Next()
		if err != nil {
			if ctx.Err() != nil {
				return st, ctx.Err()
			}
			return st, err
		}
		name := strings.ToLower(string(sc.Args[0]))
		off := sc.Offset
		switch {
		case name == "ping":
		case name == "replconf":
			if len(sc.Args) > 1 && strings.EqualFold(string(sc.Args[1]), "getack") {
				l.Ack(applied.Load())
			}
		case name == "select" && len(sc.Args) == 2:
			n, err := strconv.Atoi(string(sc.Args[1]))
			if err != nil {
				return st, fmt.Errorf("replicate: stream at offset %d: bad SELECT %q", off, sc.Args[1])
			}
			db = n
		default:
			st.Commands++
			err := w.Send(ctx, &Command{DB: db, Args: sc.Args, Done: func(_ aof.Value, err error) {
				if err != nil {
					e := fmt.Errorf("replicate: the target refused %s at offset %d: %w", strings.ToUpper(name), off, err)
					failed.CompareAndSwap(nil, &e)
					return
				}
				applied.Store(off)
			}})
			if err != nil {
				return st, err
			}
			lastSent = off
		}
		if goal >= 0 && off >= goal {
			err := waitApplied(ctx, w, &applied, lastSent, &st)
			st.Offset = off
			return st, err
		}
	}
}

// waitApplied waits until the target confirmed every command up to off.
func waitApplied(ctx context.Context, w Writer, applied *atomic.Int64, off int64, st *ReplicateStats) error {
	for applied.Load() < off {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if err := w.(interface{ failed() error }).failed(); err != nil {
			return err
		}
	}
	st.Offset = applied.Load()
	return nil
}

// loadSnapshot writes every key and function of an RDB stream.
func loadSnapshot(ctx context.Context, snap io.Reader, r *Restorer) error {
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
			err = r.Key(ctx, rd.KeyValue())
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
