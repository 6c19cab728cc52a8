package sync

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redkit/redkit/internal/redistest"
)

func digestOf(t *testing.T, s *redistest.Server) string {
	t.Helper()
	d, err := s.Client().Do(context.Background(), "DEBUG", "DIGEST").Text()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// mirrorDigest is the target's DEBUG DIGEST without the sync's
// checkpoint key (read, then deleted), and the checkpoint it held.
func mirrorDigest(t *testing.T, s *redistest.Server, key string) (string, *Checkpoint) {
	t.Helper()
	ctx := context.Background()
	var cp *Checkpoint
	if key != "" {
		v, err := s.Client().Get(ctx, key).Result()
		if err != nil {
			t.Fatalf("checkpoint key %s: %v", key, err)
		}
		if cp, err = parseTargetValue([]byte(v)); err != nil {
			t.Fatal(err)
		}
		s.Client().Del(ctx, key)
	}
	return digestOf(t, s), cp
}

// testLogger logs to t.Log until the test ends. A line logged after
// that (by a goroutine the test failed to stop) is dropped: t.Log then
// would panic the whole test binary.
func testLogger(t *testing.T) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct {
	t    *testing.T
	mu   gosync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func syncOptions(t *testing.T, src, dst *redistest.Server) SyncOptions {
	return SyncOptions{
		Source:        func(context.Context) (string, error) { return src.Addr(), nil },
		SourceName:    src.Addr(),
		Target:        dst.Addr(),
		CheckpointKey: CheckpointKey(src.Addr()),
		AckEvery:      100 * time.Millisecond,
		Log:           testLogger(t),
	}
}

// waitMirror waits until the target (less its checkpoint key) has the
// source's digest. Meanwhile only the source's INFO is asked, until the
// sync has acknowledged the source's offset: DEBUG DIGEST holds a
// server's event loop for seconds with 20 MB on a busy machine, and
// asked in a loop of the target it starves the full sync it waits for
// (the loading of the snapshot, and through it the source's transfer).
func waitMirror(t *testing.T, src, dst *redistest.Server, key string, errc <-chan error) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var got, want string
	for {
		off, acked := replicaAcked(t, src)
		if acked >= off {
			if got, want = digestOfWithout(t, dst, key), digestOf(t, src); got == want {
				return
			}
		}
		select {
		case err := <-errc:
			t.Fatalf("the sync ended early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			diffKeys(t, src, dst)
			t.Fatalf("the target never caught up: digest %s, want %s; source offset %d, acknowledged %d", got, want, off, acked)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// replicaAcked returns the source's replication offset and the least
// offset its replicas acknowledged (-1 without a replica online).
func replicaAcked(t *testing.T, src *redistest.Server) (off, acked int64) {
	t.Helper()
	v, err := src.Client().Info(context.Background(), "replication").Result()
	if err != nil {
		t.Fatalf("INFO on %s: %v", src.Addr(), err)
	}
	acked = -1
	for _, line := range strings.Split(v, "\r\n") {
		if x, ok := strings.CutPrefix(line, "master_repl_offset:"); ok {
			off, _ = strconv.ParseInt(x, 10, 64)
		}
		name, fields, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "slave") || !strings.Contains(fields, "state=online") {
			continue
		}
		for _, f := range strings.Split(fields, ",") {
			if x, ok := strings.CutPrefix(f, "offset="); ok {
				n, _ := strconv.ParseInt(x, 10, 64)
				if acked < 0 || n < acked {
					acked = n
				}
			}
		}
	}
	return off, acked
}

// digestOfWithout is the target's DEBUG DIGEST as if key did not exist:
// the key is dumped, then deleted, digested and restored in one
// MULTI/EXEC, so that the running sync never sees it missing.
func digestOfWithout(t *testing.T, s *redistest.Server, key string) string {
	t.Helper()
	if key == "" {
		return digestOf(t, s)
	}
	ctx := context.Background()
	var dig *redis.Cmd
	var err error
	for range 100 {
		if err = s.Client().Watch(ctx, func(tx *redis.Tx) error {
			val, err := tx.Dump(ctx, key).Result()
			if errors.Is(err, redis.Nil) {
				dig = tx.Do(ctx, "DEBUG", "DIGEST")
				return dig.Err()
			}
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Del(ctx, key)
				dig = p.Do(ctx, "DEBUG", "DIGEST")
				p.Restore(ctx, key, 0, val)
				return nil
			})
			return err
		}, key); !errors.Is(err, redis.TxFailedErr) {
			break
		}
	}
	if err != nil {
		t.Fatalf("digest of %s: %v", s.Addr(), err)
	}
	return dig.Val().(string)
}

func runSync(ctx context.Context, opts SyncOptions) (*Syncer, chan error) {
	s := NewSyncer(opts)
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	return s, errc
}

// TestSyncResume mirrors a diskless source that takes writes during the
// full sync and after, stops, takes more writes, and resumes with a
// partial resynchronization: sync_partial_ok goes up by one, sync_full
// does not, and the target ends equal to the source.
func TestSyncResume(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-diskless-sync-delay 0"}})
	if err := redistest.FillMixed(ctx, src.Client(), 1); err != nil {
		t.Fatal(err)
	}
	dst := redistest.Start(t, redistest.Options{})
	opts := syncOptions(t, src, dst)
	opts.CheckpointFile = filepath.Join(t.TempDir(), "checkpoint.json")

	w := redistest.StartWriter(t, src, 1)
	rctx, cancel := context.WithCancel(ctx)
	s, errc := runSync(rctx, opts)
	w.WaitRounds(t, 300)
	w.Halt(t)
	waitMirror(t, src, dst, opts.CheckpointKey, errc)
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	st := s.Status()
	if st.FullSyncs != 1 || st.Commands == 0 || st.Phase != PhaseDone {
		t.Errorf("status: %+v", st)
	}
	cp, err := LoadCheckpoint(opts.CheckpointFile)
	if err != nil || !cp.Valid() {
		t.Fatalf("checkpoint file: %+v, %v", cp, err)
	}
	full0, partial0 := src.InfoInt(t, "sync_full"), src.InfoInt(t, "sync_partial_ok")

	// More writes while no sync runs; then resume.
	w = redistest.StartWriter(t, src, 2)
	w.WaitRounds(t, 200)
	w.Halt(t)
	opts.UntilCaughtUp = true
	s2 := NewSyncer(opts)
	if err := s2.Run(ctx); err != nil {
		t.Fatal(err)
	}
	full1, partial1 := src.InfoInt(t, "sync_full"), src.InfoInt(t, "sync_partial_ok")
	if full1 != full0 || partial1 != partial0+1 {
		t.Errorf("sync_full %d -> %d, sync_partial_ok %d -> %d: want a partial resync", full0, full1, partial0, partial1)
	}
	want := digestOf(t, src)
	got, kcp := mirrorDigest(t, dst, opts.CheckpointKey)
	if got != want {
		t.Errorf("after resume: digest %s, want %s", got, want)
	}
	if st := s2.Status(); st.FullSyncs != 0 || kcp.Offset > st.Applied || kcp.Offset < cp.Offset {
		t.Errorf("status %+v, key %+v, first checkpoint %+v", st, kcp, cp)
	}
}

// TestSyncResumeInDB stops a sync while the stream is in database 2 and
// resumes it: the continued stream has no SELECT until the database
// changes, so the checkpoint must say which one it is in.
func TestSyncResumeInDB(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	dst := redistest.Start(t, redistest.Options{})
	c2 := redis.NewClient(&redis.Options{Addr: src.Addr(), DB: 2})
	defer c2.Close()
	opts := syncOptions(t, src, dst)
	opts.UntilCaughtUp = true
	if err := NewSyncer(opts).Run(ctx); err != nil {
		t.Fatal(err)
	}
	c2.Incr(ctx, "n") // the stream selects db 2
	if err := NewSyncer(opts).Run(ctx); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		c2.Incr(ctx, "n") // no SELECT in the stream
	}
	if err := NewSyncer(opts).Run(ctx); err != nil {
		t.Fatal(err)
	}
	got, cp := mirrorDigest(t, dst, opts.CheckpointKey)
	if want := digestOf(t, src); got != want || cp.DB != 2 {
		t.Errorf("digest %s, want %s; checkpoint %+v", got, want, cp)
	}
}

// TestSyncForwardPubSub republishes the source's messages on the target
// with ForwardPubSub, and drops them without.
func TestSyncForwardPubSub(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	for _, forward := range []bool{false, true} {
		dst := redistest.Start(t, redistest.Options{})
		sub := dst.Client().Subscribe(ctx, "news")
		if _, err := sub.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		opts := syncOptions(t, src, dst)
		opts.ForwardPubSub = forward
		rctx, cancel := context.WithCancel(ctx)
		s, errc := runSync(rctx, opts)
		for s.Status().Phase != PhaseStreaming {
			time.Sleep(5 * time.Millisecond)
		}
		src.Client().Publish(ctx, "news", "hello")
		// A value of its own in each round: the second round's full
		// sync already has the first round's, and a mirror that has
		// it would tell nothing about the stream.
		src.Client().Set(ctx, "after", strconv.FormatBool(forward), 0)
		// The SET follows the PUBLISH on the one connection that
		// applies the stream: once the target has it, a forwarded
		// message is in the subscriber's socket, ahead of the marker
		// published on the target now.
		waitMirror(t, src, dst, opts.CheckpointKey, errc)
		dst.Client().Publish(ctx, "news", "marker")
		want := []string{"marker"}
		if forward {
			want = []string{"hello", "marker"}
		}
		for _, w := range want {
			mctx, mcancel := context.WithTimeout(ctx, 30*time.Second)
			m, err := sub.ReceiveMessage(mctx)
			mcancel()
			if err != nil {
				t.Fatalf("forward %v: waiting for %q: %v", forward, w, err)
			}
			if m.Payload != w {
				t.Errorf("forward %v: got %q, want %q", forward, m.Payload, w)
			}
		}
		sub.Close()
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestSyncDiskBased mirrors a disk-based source ($<length> payload)
// without a checkpoint key, the snapshot spooled to a file first.
func TestSyncDiskBased(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync no"}})
	if err := redistest.FillMixed(ctx, src.Client(), 2); err != nil {
		t.Fatal(err)
	}
	dst := redistest.Start(t, redistest.Options{})
	w := redistest.StartWriter(t, src, 3)
	w.WaitRounds(t, 100)
	opts := syncOptions(t, src, dst)
	opts.CheckpointKey = ""
	opts.SpoolDir = t.TempDir()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, errc := runSync(rctx, opts)
	for s.Status().Phase != PhaseStreaming {
		select {
		case err := <-errc:
			t.Fatal(err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	time.Sleep(200 * time.Millisecond)
	w.Halt(t)
	waitMirror(t, src, dst, "", errc)
	if st := s.Status(); st.FullBytesTotal <= 0 || st.FullBytes != st.FullBytesTotal || st.FullKeys == 0 {
		t.Errorf("status: %+v", st)
	}
	if left, _ := os.ReadDir(opts.SpoolDir); len(left) != 0 {
		t.Errorf("spool files left: %v", left)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// proxy forwards TCP connections to addr; Cut breaks them all.
type proxy struct {
	ln    net.Listener
	addr  string
	mu    gosync.Mutex
	conns []net.Conn
	// cutAfter, when positive, breaks a connection after that many bytes
	// from the server, once.
	cutAfter atomic.Int64
}

func startProxy(t *testing.T, addr string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, addr: addr}
	t.Cleanup(func() { ln.Close(); p.Cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() {
				if n := p.cutAfter.Swap(0); n > 0 {
					io.CopyN(c, s, n)
					c.Close()
					s.Close()
					return
				}
				io.Copy(c, s)
				c.Close()
			}()
		}
	}()
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestSyncCutLink cuts the link to the source in the middle of the
// snapshot and several times in the middle of the stream: the sync
// reconnects by itself, resumes, and the target ends equal, every
// command applied once.
func TestSyncCutLink(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync no", "repl-backlog-size 64mb"}})
	if err := redistest.FillMixed(ctx, src.Client(), 3); err != nil {
		t.Fatal(err)
	}
	dst := redistest.Start(t, redistest.Options{})
	p := startProxy(t, src.Addr())
	opts := syncOptions(t, src, dst)
	opts.Source = func(context.Context) (string, error) { return p.Addr(), nil }
	// The first link breaks 1 MB into the payload (after PING, REPLCONF
	// and PSYNC replies of a few hundred bytes).
	p.cutAfter.Store(1 << 20)
	w := redistest.StartWriter(t, src, 4)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, errc := runSync(rctx, opts)
	// The cut in the payload is the first reconnect; then five cuts in
	// the stream, each once the sync is streaming again and has applied
	// 100 more commands.
	for i := range 5 {
		var base int64 = -1
		for {
			st := s.Status()
			if st.Phase == PhaseStreaming && st.Reconnects == int64(i+1) {
				if base < 0 {
					base = st.Commands
				}
				if st.Commands >= base+100 {
					break
				}
			}
			select {
			case err := <-errc:
				t.Fatal(err)
			case <-time.After(2 * time.Millisecond):
			}
		}
		p.Cut()
	}
	w.Halt(t)
	waitMirror(t, src, dst, opts.CheckpointKey, errc)
	st := s.Status()
	if st.Reconnects < 6 || st.FullSyncs != 2 {
		t.Errorf("want 6 reconnects and 2 full syncs (the first cut mid-payload): %+v", st)
	}
	full, partial := src.InfoInt(t, "sync_full"), src.InfoInt(t, "sync_partial_ok")
	t.Logf("source: sync_full %d, sync_partial_ok %d; status %+v", full, partial, st)
	if partial < 5 {
		t.Errorf("sync_partial_ok %d, want 5", partial)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestSyncSourceRestart restarts the source twice. Saved and reloaded,
// a Redis 7 master keeps its replication ID and offset: the sync
// continues. Restarted empty, it has a new ID: the sync falls back to a
// full sync, flushing the target first (FlushTarget).
func TestSyncSourceRestart(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	if err := redistest.FillMixed(ctx, src.Client(), 4); err != nil {
		t.Fatal(err)
	}
	dst := redistest.Start(t, redistest.Options{})
	opts := syncOptions(t, src, dst)
	opts.FlushTarget = true
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, errc := runSync(rctx, opts)
	waitMirror(t, src, dst, opts.CheckpointKey, errc)
	for _, save := range []bool{true, false} {
		src.Restart(t, save)
		w := redistest.StartWriter(t, src, 5)
		w.WaitRounds(t, 100)
		w.Halt(t)
		waitMirror(t, src, dst, opts.CheckpointKey, errc)
		full, partial := src.InfoInt(t, "sync_full"), src.InfoInt(t, "sync_partial_ok")
		st := s.Status()
		t.Logf("restart (save %v): sync_full %d, sync_partial_ok %d; %+v", save, full, partial, st)
		if save && (partial != 1 || st.FullSyncs != 1) || !save && st.FullSyncs != 2 {
			t.Errorf("restart (save %v): sync_full %d, sync_partial_ok %d, %d full syncs", save, full, partial, st.FullSyncs)
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestSyncTargetRestart restarts the target (SHUTDOWN SAVE, its data and
// the checkpoint key kept) while the source takes writes: the sync
// reconnects, reads the key and continues the stream from exactly there.
func TestSyncTargetRestart(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0", "repl-backlog-size 64mb"}})
	dst := redistest.Start(t, redistest.Options{})
	opts := syncOptions(t, src, dst)
	w := redistest.StartWriter(t, src, 7)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, errc := runSync(rctx, opts)
	for s.Status().Phase != PhaseStreaming || s.Status().Commands < 2000 {
		select {
		case err := <-errc:
			t.Fatal(err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	dst.Restart(t, true)
	w.WaitRounds(t, w.Rounds()+300)
	w.Halt(t)
	waitMirror(t, src, dst, opts.CheckpointKey, errc)
	st := s.Status()
	full, partial := src.InfoInt(t, "sync_full"), src.InfoInt(t, "sync_partial_ok")
	if st.FullSyncs != 1 || st.Reconnects < 1 || full != 1 || partial < 1 {
		t.Errorf("want one full sync and a continued stream: %+v; source sync_full %d, sync_partial_ok %d", st, full, partial)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestSyncTargetRefuses stops with the command and offset the target
// refused, and does not retry.
func TestSyncTargetRefuses(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	dst := redistest.Start(t, redistest.Options{})
	src.Client().Set(ctx, "k", "v", 0)
	opts := syncOptions(t, src, dst)
	_, errc := runSync(ctx, opts)
	waitMirror(t, src, dst, opts.CheckpointKey, errc)
	dst.Client().Del(ctx, "k")
	dst.Client().RPush(ctx, "k", "x") // the target diverges
	src.Client().Append(ctx, "k", "w")
	select {
	case err := <-errc:
		var ae *ApplyError
		if !errors.As(err, &ae) || ae.Command != "APPEND" || ae.Offset <= 0 || !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Fatalf("error %v, want the target refusing APPEND", err)
		}
		t.Log(err)
	case <-time.After(20 * time.Second):
		t.Fatal("the sync did not stop")
	}
}
