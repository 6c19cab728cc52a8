package sync

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/countio"
	"github.com/redkit/redkit/internal/retry"
)

// Native sync: the target loads the source's snapshot itself, as fast as
// it loads its own dump at start-up, and then applies the command stream
// as any replica does. It is made a replica of redkit (REPLICAOF), and
// redkit relays the source's replication link to it byte for byte: the
// PSYNC the target sends is the one redkit sends the source, so the
// target's own replication ID and offset are the checkpoint, kept by
// Redis itself across a redkit crash, and a resumed link continues with
// +CONTINUE (exactly once). With UntilCaughtUp the target is promoted
// (REPLICAOF NO ONE) once it has every command the source had when the
// stream started. The target is read-only until then; its data is
// replaced by the source's, as with any replica.

// NativeOptions configure a NativeSync.
type NativeOptions struct {
	// Source resolves the source's address on every link (a Sentinel
	// lookup follows failovers).
	Source        func(ctx context.Context) (string, error)
	SourceName    string
	SourceConn    Options
	ListeningPort int // announced to the source
	// LinkTimeout is the longest the source's link may go without a
	// byte while redkit waits for one (ReplicaOptions.Timeout: default
	// 60s); not counted while the target loads the snapshot, when a
	// diskless source holds the stream back until the target's first ACK.
	LinkTimeout time.Duration

	Target     string // a standalone server
	TargetConn Options
	// Listen is where redkit listens for the target's replication link,
	// and the address given to the target with REPLICAOF. Empty: the local
	// address redkit reaches the target from, on a free port (127.0.0.1
	// for a target on the loopback).
	Listen string

	UntilCaughtUp bool
	// FlushTarget empties a target that is a master holding keys
	// (FLUSHALL ASYNC) before it becomes a replica: its data is replaced
	// anyway, and an empty target loads the snapshot straight from the
	// link as it comes (repl-diskless-load on-empty-db, set for the run
	// when it is "disabled") instead of storing it first.
	FlushTarget bool
	// RetryFor bounds how long the link may stay down without progress
	// (0: forever).
	RetryFor time.Duration
	// Poll is how often the target's offset is read while streaming
	// (default 20ms): it times the lag.
	Poll time.Duration
	// OnSnapshotWait, if set, is called when the source keeps a link
	// waiting before its snapshot (ReplicaOptions.OnSnapshotWait).
	OnSnapshotWait func(SnapshotWait)
	Log            *slog.Logger
}

// NativeSync relays a source's replication link to a target that loads
// and applies it natively.
type NativeSync struct {
	opts NativeOptions
	log  *slog.Logger

	mu      gosync.Mutex
	phase   string
	lastErr string
	replid  string
	marks   []mark // stream chunks relayed and not yet applied

	fullSyncs  atomic.Int64
	fullBytes  atomic.Int64
	fullTotal  atomic.Int64
	fullKeys   atomic.Int64
	keysTotal  atomic.Int64
	received   atomic.Int64 // offset after the last complete command relayed
	applied    atomic.Int64 // the target's offset
	commands   atomic.Int64 // commands the target applied
	errs       atomic.Int64
	reconnects atomic.Int64

	// Latency, if set, is called with how long stream chunks took from
	// receipt to the target's applying them (to the poll's precision).
	Latency func(time.Duration)
}

// mark is a chunk of the stream: the offset after its last complete
// command, the commands up to there, and when it came.
type mark struct {
	end  int64
	cmds int64
	t    time.Time
}

// NewNativeSync returns a NativeSync; Run starts it.
func NewNativeSync(opts NativeOptions) *NativeSync {
	if opts.Poll <= 0 {
		opts.Poll = 20 * time.Millisecond
	}
	log := orDiscard(opts.Log)
	return &NativeSync{opts: opts, log: log, phase: PhaseConnecting}
}

// Status returns the current state; safe from any goroutine.
func (n *NativeSync) Status() SyncStatus {
	n.mu.Lock()
	st := SyncStatus{Phase: n.phase, Source: n.opts.SourceName, ReplID: n.replid, LastError: n.lastErr}
	if len(n.marks) > 0 && st.Phase == PhaseStreaming {
		st.LagSeconds = time.Since(n.marks[0].t).Seconds()
	}
	n.mu.Unlock()
	st.FullSyncs = n.fullSyncs.Load()
	st.FullBytes, st.FullBytesTotal = n.fullBytes.Load(), n.fullTotal.Load()
	st.FullKeys, st.FullKeysTotal = n.fullKeys.Load(), n.keysTotal.Load()
	st.Received, st.Applied = n.received.Load(), n.applied.Load()
	if st.Received > st.Applied && st.Phase == PhaseStreaming {
		st.LagBytes = st.Received - st.Applied
	}
	st.Commands = n.commands.Load()
	st.Errors = n.errs.Load()
	st.Reconnects = n.reconnects.Load()
	return st
}

func (n *NativeSync) setPhase(p string) {
	n.mu.Lock()
	n.phase = p
	n.mu.Unlock()
}

// errCaughtUp ends a link once the target has what UntilCaughtUp asked.
var errCaughtUp = errors.New("caught up")

// tokenPrefix marks the masterauth redkit gives the target, so that a
// later run knows not to restore it.
const tokenPrefix = "redkit-native-"

// Run makes the target a replica of redkit and relays the source to it
// until ctx is done (the target stays a replica, at a command boundary,
// ready to continue), until caught up with UntilCaughtUp (the target is
// promoted), or until an error retrying cannot fix.
func (n *NativeSync) Run(ctx context.Context) error {
	defer n.setPhase(PhaseDone)
	ctl, err := Dial(ctx, n.opts.Target, &n.opts.TargetConn)
	if err != nil {
		return fmt.Errorf("target %s: %w", n.opts.Target, err)
	}
	defer ctl.Close()
	dst, err := n.check(ctx, ctl)
	if err != nil {
		return err
	}
	origLoad := ""
	if dst.Role == "master" {
		if origLoad, err = n.prepare(ctl); err != nil {
			return err
		}
		if origLoad != "" {
			// Only a full sync needs it: restored however the run ends.
			defer func() {
				if _, err := ctl.DoString("CONFIG", "SET", "repl-diskless-load", origLoad); err != nil {
					n.log.Warn("could not restore the target's repl-diskless-load", "value", origLoad, "err", err)
				}
			}()
		}
	}
	ln, host, port, err := n.listen(ctl)
	if err != nil {
		return err
	}
	defer ln.Close()
	origAuth := ""
	if v, err := ctl.DoString("CONFIG", "GET", "masterauth"); err == nil && len(v.Elems) == 2 {
		origAuth = string(v.Elems[1].Str)
		if strings.HasPrefix(origAuth, tokenPrefix) {
			origAuth = "" // an earlier run's
		}
	}
	var rnd [16]byte
	rand.Read(rnd[:])
	token := tokenPrefix + hex.EncodeToString(rnd[:])
	if _, err := ctl.DoString("CONFIG", "SET", "masterauth", token); err != nil {
		return fmt.Errorf("target %s: CONFIG SET masterauth (native mode needs CONFIG and REPLICAOF rights): %w", n.opts.Target, err)
	}
	if _, err := ctl.DoString("REPLICAOF", host, port); err != nil {
		return fmt.Errorf("target %s: REPLICAOF %s %s: %w", n.opts.Target, host, port, err)
	}
	n.log.Info("native sync: the target is a replica of redkit, which relays the source's replication link to it",
		"target", n.opts.Target, "replicaof", net.JoinHostPort(host, port))

	conns := make(chan net.Conn)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(conns)
				return
			}
			select {
			case conns <- c:
			case <-ctx.Done():
				c.Close()
			}
		}
	}()
	// The target reconnects by itself: the Retrier only bounds an outage.
	rt := retry.Retrier{Limit: n.opts.RetryFor}
	progress := int64(-1)
	for {
		select {
		case <-ctx.Done():
			return nil
		case c, ok := <-conns:
			if !ok {
				return fmt.Errorf("listening on %s: closed", ln.Addr())
			}
			err := n.serve(ctx, c, token)
			if errors.Is(err, errCaughtUp) {
				return n.promote(ctl, origAuth)
			}
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				continue
			}
			n.errs.Add(1)
			n.mu.Lock()
			n.lastErr = err.Error()
			n.mu.Unlock()
			if !retryable(err) {
				return err
			}
			if r := n.received.Load(); r != progress {
				progress = r
				rt.Progress()
			}
			if _, ok := rt.Failed(); !ok {
				return fmt.Errorf("gave up after %s of retries: %w", n.opts.RetryFor, err)
			}
			n.reconnects.Add(1)
			n.setPhase(PhaseBackoff)
			n.log.Warn("link interrupted; the target reconnects in about a second", "err", err)
		case <-time.After(5 * time.Second):
			// No link: the target may have been restarted without its
			// REPLICAOF, or promoted by someone else.
			info, err := Info(ctl)
			if err != nil {
				n.log.Warn("target unreachable", "err", err)
				continue
			}
			if info.Role == "master" {
				n.log.Warn("the target is a master again (restarted, or promoted by hand?): making it a replica of redkit again")
				ctl.DoString("CONFIG", "SET", "masterauth", token)
				if _, err := ctl.DoString("REPLICAOF", host, port); err != nil {
					return fmt.Errorf("target %s: REPLICAOF %s %s: %w", n.opts.Target, host, port, err)
				}
			}
		}
	}
}

// check refuses a target that cannot be a replica of this source.
func (n *NativeSync) check(ctx context.Context, ctl *Conn) (*ServerInfo, error) {
	dst, err := Info(ctl)
	if err != nil {
		return nil, err
	}
	if dst.Cluster {
		return nil, fmt.Errorf("target %s is a cluster node: %w", n.opts.Target, ErrNativeCluster)
	}
	if dst.Role == "slave" && dst.Fields["master_link_status"] == "up" {
		ours := false
		dst, ours, err = n.waitLinkDown(ctx, ctl, dst)
		if err != nil {
			return nil, err
		}
		if ours && dst.Role == "slave" && dst.Fields["master_link_status"] == "up" {
			return nil, fmt.Errorf("target %s is the replica of a native sync that is still running (its link to %s:%s stayed up for %s): stop that run first",
				n.opts.Target, dst.Fields["master_host"], dst.Fields["master_port"], linkDownWait)
		}
	}
	if dst.Role == "slave" && dst.Fields["master_link_status"] == "up" {
		return nil, fmt.Errorf("target %s is a replica of %s:%s with its link up: %w",
			n.opts.Target, dst.Fields["master_host"], dst.Fields["master_port"], ErrNativeReplica)
	}
	addr, err := n.opts.Source(ctx)
	if err != nil {
		return nil, err
	}
	sc, err := Dial(ctx, addr, &n.opts.SourceConn)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", n.opts.SourceName, err)
	}
	defer sc.Close()
	src, err := Info(sc)
	if err != nil {
		return nil, err
	}
	if src.RDBVersion > 0 && dst.RDBVersion > 0 && src.RDBVersion > dst.RDBVersion {
		return nil, fmt.Errorf("the target (%s %s, RDB %d) cannot load the source's snapshots (%s %s, RDB %d): %w",
			dst.Server, dst.Version, dst.RDBVersion, src.Server, src.Version, src.RDBVersion, ErrNativeVersion)
	}
	if k, err := keyCount(sc); err == nil {
		n.keysTotal.Store(k)
	}
	return dst, nil
}

// linkDownWait bounds how long check waits for the link of an earlier
// native sync's replica to go down.
var linkDownWait = 10 * time.Second

// waitLinkDown waits, for a target that is the replica of an earlier
// native sync (its masterauth is a redkit token), until its link to that
// run is seen down, and returns its INFO then. A run killed with SIGKILL
// leaves its link up for the target until the target's event loop reads
// the end of the connection, which under load can come after a run
// restarted at once has read INFO. A link up for linkDownWait is another
// run's that is alive (or one the target has not given up yet): the INFO
// returned still says up, and check refuses it. A replica of any other
// master is returned as it is, ours false.
func (n *NativeSync) waitLinkDown(ctx context.Context, ctl *Conn, dst *ServerInfo) (*ServerInfo, bool, error) {
	v, err := ctl.DoString("CONFIG", "GET", "masterauth")
	if err != nil || len(v.Elems) != 2 || !strings.HasPrefix(string(v.Elems[1].Str), tokenPrefix) {
		return dst, false, nil
	}
	n.log.Info("the target is the replica of an earlier native sync with its link up: waiting for the link to go down",
		"replicaof", net.JoinHostPort(dst.Fields["master_host"], dst.Fields["master_port"]))
	deadline := time.Now().Add(linkDownWait)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, true, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if dst, err = Info(ctl); err != nil {
			return nil, true, err
		}
		if dst.Role != "slave" || dst.Fields["master_link_status"] != "up" {
			break
		}
	}
	return dst, true, nil
}

// prepare readies a target that is a master for its full sync: emptied
// with FlushTarget, and told to load the snapshot from the link when it
// is empty. It returns repl-diskless-load's value to restore ("": none).
func (n *NativeSync) prepare(ctl *Conn) (string, error) {
	keys := func() int64 {
		k, err := keyCount(ctl)
		if err != nil {
			return -1
		}
		return k
	}
	if n.opts.FlushTarget && keys() != 0 {
		if _, err := ctl.DoString("FLUSHALL", "ASYNC"); err != nil {
			return "", fmt.Errorf("target %s: FLUSHALL: %w", n.opts.Target, err)
		}
		n.log.Info("target emptied (FLUSHALL ASYNC): its data is replaced by the source's")
	}
	v, err := ctl.DoString("CONFIG", "GET", "repl-diskless-load")
	if err != nil || len(v.Elems) != 2 || string(v.Elems[1].Str) != "disabled" || keys() != 0 {
		return "", nil
	}
	if _, err := ctl.DoString("CONFIG", "SET", "repl-diskless-load", "on-empty-db"); err != nil {
		return "", nil // an old server: it stores the snapshot first
	}
	n.log.Info("the empty target loads the snapshot as it comes (repl-diskless-load on-empty-db for this run)")
	return "disabled", nil
}

// listen opens the listener the target connects to, and the host and
// port to give it.
func (n *NativeSync) listen(ctl *Conn) (net.Listener, string, string, error) {
	addr := n.opts.Listen
	if addr == "" {
		h, _, _ := net.SplitHostPort(ctl.nc.LocalAddr().String())
		addr = net.JoinHostPort(h, "0")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", "", fmt.Errorf("listening for the target's link: %w", err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		h, _, _ := net.SplitHostPort(ctl.nc.LocalAddr().String())
		host = h
	}
	return ln, host, port, nil
}

// promote makes the target a master again, with the data it has.
func (n *NativeSync) promote(ctl *Conn, origAuth string) error {
	if _, err := ctl.DoString("REPLICAOF", "NO", "ONE"); err != nil {
		return fmt.Errorf("target %s: REPLICAOF NO ONE: %w", n.opts.Target, err)
	}
	if _, err := ctl.DoString("CONFIG", "SET", "masterauth", origAuth); err != nil {
		n.log.Warn("could not restore the target's masterauth", "err", err)
	}
	off := n.applied.Load()
	if info, err := Info(ctl); err == nil {
		if o, err := strconv.ParseInt(info.Fields["master_repl_offset"], 10, 64); err == nil {
			off = o
			n.applied.Store(o)
		}
	}
	n.log.Info("caught up: the target is a master again, with the source's data up to its offset", "offset", off)
	return nil
}

// serve handles one replication link from the target: its handshake,
// then the source's link relayed both ways until either side breaks, ctx
// is done (nil) or UntilCaughtUp is met (errCaughtUp).
func (n *NativeSync) serve(ctx context.Context, tc net.Conn, token string) error {
	defer tc.Close()
	defer context.AfterFunc(ctx, func() { tc.Close() })()
	// The RESP reader reads through br (bufio returns br itself, being
	// as large), so that the keep-alive newlines of a loading target can
	// be peeked at between commands.
	br := bufio.NewReaderSize(tc, 64<<10)
	tr := aof.NewRESPReader(br)
	authed := false
	var psync [][]byte
	for psync == nil {
		tc.SetReadDeadline(time.Now().Add(30 * time.Second))
		args, err := tr.ReadCommand()
		if err != nil {
			return &resumableError{fmt.Errorf("the target's handshake: %w", err)}
		}
		var reply string
		switch {
		case aof.Classify(args[0]) == aof.ClassPing:
			reply = "+PONG\r\n"
		case bytes.EqualFold(args[0], []byte("auth")):
			if string(args[len(args)-1]) == token {
				authed, reply = true, "+OK\r\n"
			} else {
				reply = "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
			}
		case !authed:
			reply = "-NOAUTH Authentication required.\r\n"
		case aof.Classify(args[0]) == aof.ClassReplconf:
			reply = "+OK\r\n"
		case bytes.EqualFold(args[0], []byte("psync")) && len(args) == 3:
			psync = args
			continue
		default:
			reply = "-ERR unknown command\r\n"
		}
		if _, err := io.WriteString(tc, reply); err != nil {
			return &resumableError{err}
		}
	}
	tc.SetReadDeadline(time.Time{})
	ro := ReplicaOptions{Conn: n.opts.SourceConn, ListeningPort: n.opts.ListeningPort, Timeout: n.opts.LinkTimeout, OnSnapshotWait: n.opts.OnSnapshotWait}
	if id := string(psync[1]); id != "?" {
		off, err := strconv.ParseInt(string(psync[2]), 10, 64)
		if err != nil {
			return fmt.Errorf("the target's PSYNC %s %q: bad offset", id, psync[2])
		}
		ro.ReplID, ro.Offset = id, off-1
	}
	n.setPhase(PhaseConnecting)
	addr, err := n.opts.Source(ctx)
	if err == nil {
		var l *Link
		if l, err = OpenLink(ctx, addr, ro); err == nil {
			defer l.Close()
			return n.relay(ctx, l, tc, br, tr)
		}
	}
	io.WriteString(tc, "-NOMASTERLINK Can't SYNC while not connected with my master\r\n")
	return err
}

// relay answers the target's PSYNC with the source's reply and copies
// the link both ways.
func (n *NativeSync) relay(ctx context.Context, l *Link, tc net.Conn, br *bufio.Reader, tr *aof.RESPReader) error {
	n.mu.Lock()
	n.replid, n.marks = l.ReplID, n.marks[:0]
	n.mu.Unlock()
	reply := "+CONTINUE " + l.ReplID + "\r\n"
	if l.Full {
		reply = fmt.Sprintf("+FULLRESYNC %s %d\r\n", l.ReplID, l.Offset)
	}
	if _, err := io.WriteString(tc, reply); err != nil {
		return &resumableError{err}
	}
	n.received.Store(l.Offset)
	loaded := make(chan struct{})
	var loadedOnce gosync.Once
	if l.Full {
		n.fullSyncs.Add(1)
		n.fullBytes.Store(0)
		n.fullKeys.Store(0)
		n.setPhase(PhaseFullSync)
		n.log.Info("full sync: the target loads the source's snapshot natively", "replid", l.ReplID, "offset", l.Offset)
	} else {
		n.applied.Store(l.Offset)
		loadedOnce.Do(func() { close(loaded) })
		n.setPhase(PhaseStreaming)
		n.log.Info("continuing the stream (partial resync)", "replid", l.ReplID, "offset", l.Offset)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	context.AfterFunc(ctx, func() {
		l.Close()
		tc.Close()
	})
	stop := func(err error) { cancel(err) }
	var wg gosync.WaitGroup
	// The target's side: REPLCONF ACK (and anything else) to the source.
	// Its first ACK after a full sync says it has loaded the snapshot;
	// while it loads, it sends a newline every second, for the source's
	// repl-timeout.
	wg.Go(func() {
		for {
			if b, err := br.Peek(1); err == nil && b[0] == '\n' {
				br.ReadByte()
				if err := l.sendRaw([]byte("\n")); err != nil {
					stop(&resumableError{fmt.Errorf("the source's link: %w", err)})
					return
				}
				continue
			}
			args, err := tr.ReadCommand()
			if err != nil {
				stop(&resumableError{fmt.Errorf("the target's link: %w", err)})
				return
			}
			if len(args) >= 3 && aof.Classify(args[0]) == aof.ClassReplconf && bytes.EqualFold(args[1], []byte("ack")) {
				if off, err := strconv.ParseInt(string(args[2]), 10, 64); err == nil {
					n.advance(off)
				}
				loadedOnce.Do(func() {
					close(loaded)
					n.setPhase(PhaseStreaming)
					n.log.Info("the target loaded the snapshot", "offset", n.applied.Load())
				})
			}
			if err := l.send(args); err != nil {
				stop(&resumableError{fmt.Errorf("the source's link: %w", err)})
				return
			}
		}
	})
	// The source's side: the snapshot, then the stream, to the target.
	wg.Go(func() {
		err := n.down(ctx, l, tc, loaded)
		stop(&resumableError{err})
	})
	// The target's offset, read often: the ACKs come once a second.
	wg.Go(func() { n.poll(ctx, loaded) })
	if n.opts.UntilCaughtUp {
		wg.Go(func() {
			if err := n.untilCaughtUp(ctx, loaded); err != nil {
				stop(err)
			}
		})
	}
	wg.Wait()
	err := context.Cause(ctx)
	switch {
	case errors.Is(err, errCaughtUp):
		return err
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return nil // the caller's ctx: a clean stop
	}
	return err
}

// down copies the source's link to the target: keep-alives, the snapshot
// (counted), then the stream (scanned for command boundaries) once the
// target has loaded the snapshot.
func (n *NativeSync) down(ctx context.Context, l *Link, tc net.Conn, loaded <-chan struct{}) error {
	br := l.c.raw()
	buf := make([]byte, 256<<10)
	var rest []byte // stream bytes read with the snapshot's end
	if l.Full {
		var header string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return fmt.Errorf("snapshot header from %s: %w", l.c.Addr(), err)
			}
			if _, err := io.WriteString(tc, line); err != nil {
				return fmt.Errorf("to the target: %w", err)
			}
			if line != "\n" {
				header = strings.TrimRight(line, "\r\n")
				break
			}
			l.wait.keepAlive(true)
		}
		if mark, ok := strings.CutPrefix(header, "$EOF:"); ok && len(mark) == 40 {
			n.fullTotal.Store(-1)
			var err error
			if rest, err = n.copyUntilMark(br, tc, []byte(mark), buf); err != nil {
				return err
			}
		} else if size, err := strconv.ParseInt(strings.TrimPrefix(header, "$"), 10, 64); err == nil && header[0] == '$' && size >= 0 {
			n.fullTotal.Store(size)
			w := &countio.Writer{W: tc, N: &n.fullBytes}
			if _, err := io.CopyBuffer(w, io.LimitReader(br, size), buf); err != nil {
				return fmt.Errorf("snapshot from %s at byte %d: %w", l.c.Addr(), n.fullBytes.Load(), err)
			}
			if n.fullBytes.Load() < size {
				return fmt.Errorf("snapshot from %s: %w at byte %d of %d", l.c.Addr(), io.ErrUnexpectedEOF, n.fullBytes.Load(), size)
			}
		} else {
			return fmt.Errorf("%w from %s: snapshot header %q", ErrBadHandshake, l.c.Addr(), header)
		}
		n.log.Info("snapshot relayed; the target is loading it", "bytes", n.fullBytes.Load())
	}
	sc := &aof.Scanner{}
	base, cmds0 := l.Offset, n.commands.Load()
	chunk := func(p []byte) error {
		if _, err := tc.Write(p); err != nil {
			return fmt.Errorf("to the target: %w", err)
		}
		if err := sc.Feed(p); err != nil {
			// "replication stream at offset <n>: <what>"
			return fmt.Errorf("replication stream at %w", err)
		}
		end := base + sc.End()
		if end == n.received.Load() {
			return nil
		}
		n.received.Store(end)
		now := time.Now()
		n.mu.Lock()
		if k := len(n.marks); k > 0 && now.Sub(n.marks[k-1].t) < time.Millisecond {
			n.marks[k-1].end, n.marks[k-1].cmds = end, cmds0+sc.Commands()
		} else {
			n.marks = append(n.marks, mark{end: end, cmds: cmds0 + sc.Commands(), t: now})
		}
		n.mu.Unlock()
		return nil
	}
	if len(rest) > 0 {
		if err := chunk(rest); err != nil {
			return err
		}
	}
	// Nothing is read until the target has loaded the snapshot: a
	// diskless source sends nothing until its first ACK, and a loading
	// target reads nothing, for however long the load takes, which the
	// link's timeout must not count. The source buffers the stream
	// meanwhile, as for any loading replica.
	select {
	case <-loaded:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	for {
		k, err := br.Read(buf)
		if k > 0 {
			if err := chunk(buf[:k]); err != nil {
				return err
			}
		}
		if err != nil {
			return fmt.Errorf("replication stream from %s at offset %d: %w", l.c.Addr(), base+sc.Offset(), err)
		}
	}
}

// copyUntilMark copies a diskless snapshot up to and with its 40-byte
// end mark, and returns what came after the mark in the same read.
func (n *NativeSync) copyUntilMark(br *bufio.Reader, tc net.Conn, mark, buf []byte) ([]byte, error) {
	var tail []byte // the last bytes written, up to len(mark)
	window := make([]byte, 0, len(mark)+len(buf))
	for {
		k, err := br.Read(buf)
		if k > 0 {
			window = append(append(window[:0], tail...), buf[:k]...)
			if i := bytes.Index(window, mark); i >= 0 {
				end := i + len(mark) - len(tail) // in buf
				if _, err := tc.Write(buf[:end]); err != nil {
					return nil, fmt.Errorf("to the target: %w", err)
				}
				n.fullBytes.Add(int64(end))
				return bytes.Clone(buf[end:k]), nil
			}
			if _, err := tc.Write(buf[:k]); err != nil {
				return nil, fmt.Errorf("to the target: %w", err)
			}
			n.fullBytes.Add(int64(k))
			tail = append(tail[:0], window[max(0, len(window)-len(mark)):]...)
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, fmt.Errorf("snapshot at byte %d: %w", n.fullBytes.Load(), err)
		}
	}
}

// advance records the target's offset, and with it the commands applied
// and their latency.
func (n *NativeSync) advance(off int64) {
	for {
		cur := n.applied.Load()
		if off <= cur || n.applied.CompareAndSwap(cur, off) {
			break
		}
	}
	now := time.Now()
	n.mu.Lock()
	i := 0
	for i < len(n.marks) && n.marks[i].end <= off {
		if n.Latency != nil {
			n.Latency(now.Sub(n.marks[i].t))
		}
		n.commands.Store(n.marks[i].cmds)
		i++
	}
	n.marks = append(n.marks[:0], n.marks[i:]...)
	n.mu.Unlock()
}

// poll reads the target's offset (slave_repl_offset) every Poll once it
// has loaded the snapshot.
func (n *NativeSync) poll(ctx context.Context, loaded <-chan struct{}) {
	select {
	case <-ctx.Done():
		return
	case <-loaded:
	}
	c, err := Dial(ctx, n.opts.Target, &n.opts.TargetConn)
	if err != nil {
		return
	}
	defer c.Close()
	if k, err := keyCount(c); err == nil {
		n.fullKeys.Store(k)
	}
	t := time.NewTicker(n.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := c.DoString("INFO", "replication")
		if err != nil {
			return
		}
		if off, err := strconv.ParseInt(parseInfo(v.Str)["slave_repl_offset"], 10, 64); err == nil {
			n.advance(off)
		}
	}
}

// untilCaughtUp waits until the target has the source's offset of when
// the stream started: errCaughtUp. The link is then cut; the target
// drops a command or transaction it has only in part, as a replica does,
// and is at a command boundary when promoted.
func (n *NativeSync) untilCaughtUp(ctx context.Context, loaded <-chan struct{}) error {
	select {
	case <-ctx.Done():
		return nil
	case <-loaded:
	}
	addr, err := n.opts.Source(ctx)
	if err != nil {
		return &resumableError{err}
	}
	goal, err := masterOffset(ctx, addr, &n.opts.SourceConn)
	if err != nil {
		return &resumableError{err}
	}
	n.log.Info("waiting until the target has the source's offset", "goal", goal)
	t := time.NewTicker(n.opts.Poll)
	defer t.Stop()
	for n.applied.Load() < goal {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	return errCaughtUp
}
