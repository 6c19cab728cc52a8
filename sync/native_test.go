package sync

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
)

func nativeOptions(t *testing.T, src, dst *redistest.Server) NativeOptions {
	return NativeOptions{
		Source:     func(context.Context) (string, error) { return src.Addr(), nil },
		SourceName: src.Addr(),
		Target:     dst.Addr(),
		Log:        testLogger(t),
	}
}

// runNative runs a NativeSync until ctx is done, or at the latest
// until the test ends (a test that fails first stops it, so that nothing
// outlives the test).
func runNative(t *testing.T, ctx context.Context, opts NativeOptions) (*NativeSync, chan error) {
	ctx, cancel := context.WithCancel(ctx)
	n := NewNativeSync(opts)
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		errc <- n.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return n, errc
}

// waitNative waits until the target has the source's offset, then
// compares digests. Only INFO is asked meanwhile: DEBUG DIGEST blocks
// the source's event loop (seconds for 20 MB on a busy machine), the
// loop that also moves a diskless snapshot from its child to the link,
// so asking it in a loop starves the full sync it waits for.
func waitNative(t *testing.T, src, dst *redistest.Server, n *NativeSync, errc <-chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		off := src.InfoInt(t, "master_repl_offset")
		if st := n.Status(); st.Applied >= off && digestOf(t, dst) == digestOf(t, src) {
			return
		}
		select {
		case err := <-errc:
			t.Fatalf("the sync ended early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target never caught up: status %+v, source offset %d", n.Status(), off)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNativeSync: the target, holding keys of its own, becomes a replica
// of redkit, loads the snapshot of a source taking writes, follows the
// stream, is stopped, misses writes, and continues with a partial
// resync (sync_partial_ok +1, sync_full unchanged) until caught up, when
// it is promoted with the source's exact data.
func TestNativeSync(t *testing.T) {
	for _, diskless := range []string{"yes", "no"} {
		t.Run("diskless="+diskless, func(t *testing.T) {
			ctx := context.Background()
			src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync " + diskless, "repl-diskless-sync-delay 0"}})
			if err := redistest.FillMixed(ctx, src.Client(), 2); err != nil {
				t.Fatal(err)
			}
			dst := redistest.Start(t, redistest.Options{})
			dst.Client().Set(ctx, "target-only", "x", 0)
			opts := nativeOptions(t, src, dst)
			// Emptied first, the target loads from the link as it comes;
			// holding a key, it stores the snapshot first.
			opts.FlushTarget = diskless == "yes"

			w := redistest.StartWriter(t, src, 3)
			rctx, cancel := context.WithCancel(ctx)
			n, errc := runNative(t, rctx, opts)
			w.WaitRounds(t, 300)
			w.Halt(t)
			waitNative(t, src, dst, n, errc)
			cancel()
			if err := <-errc; err != nil {
				t.Fatalf("Run after cancel: %v", err)
			}
			st := n.Status()
			if st.FullSyncs != 1 || st.Commands == 0 || st.Phase != PhaseDone || st.FullBytes == 0 || st.FullKeys == 0 {
				t.Errorf("status: %+v", st)
			}
			if diskless == "no" && st.FullBytesTotal != st.FullBytes || diskless == "yes" && st.FullBytesTotal != -1 {
				t.Errorf("full sync bytes %d of %d", st.FullBytes, st.FullBytesTotal)
			}
			if role := dst.InfoField(t, "role"); role != "slave" {
				t.Errorf("after a stop the target is a %s, want a replica ready to continue", role)
			}
			full0, partial0 := src.InfoInt(t, "sync_full"), src.InfoInt(t, "sync_partial_ok")

			w = redistest.StartWriter(t, src, 4)
			w.WaitRounds(t, 200)
			w.Halt(t)
			opts.UntilCaughtUp = true
			n2 := NewNativeSync(opts)
			if err := n2.Run(ctx); err != nil {
				t.Fatal(err)
			}
			full1, partial1 := src.InfoInt(t, "sync_full"), src.InfoInt(t, "sync_partial_ok")
			if full1 != full0 || partial1 != partial0+1 {
				t.Errorf("sync_full %d -> %d, sync_partial_ok %d -> %d: want a partial resync", full0, full1, partial0, partial1)
			}
			if got, want := digestOf(t, dst), digestOf(t, src); got != want {
				diffKeys(t, src, dst)
				t.Errorf("after resume: digest %s, want %s", got, want)
			}
			if role := dst.InfoField(t, "role"); role != "master" {
				t.Errorf("caught up, the target is a %s, want a master", role)
			}
			auth, _ := dst.Client().ConfigGet(ctx, "masterauth").Result()
			if auth["masterauth"] != "" {
				t.Errorf("masterauth left as %q", auth["masterauth"])
			}
			if load, _ := dst.Client().ConfigGet(ctx, "repl-diskless-load").Result(); load["repl-diskless-load"] != "disabled" {
				t.Errorf("repl-diskless-load left as %q", load["repl-diskless-load"])
			}
			if err := dst.Client().Set(ctx, "writable", "1", 0).Err(); err != nil {
				t.Errorf("the promoted target refuses writes: %v", err)
			}
			if st := n2.Status(); st.FullSyncs != 0 || st.Applied < src.InfoInt(t, "master_repl_offset")-100 {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// TestNativeRefuses: targets a native sync cannot use are refused with a
// reason, before the target is touched.
func TestNativeRefuses(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	other := redistest.Start(t, redistest.Options{})
	dst := redistest.Start(t, redistest.Options{})
	if err := dst.Client().Do(ctx, "REPLICAOF", "127.0.0.1", strconv.Itoa(other.Port())).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for dst.InfoField(t, "master_link_status") != "up" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	err := NewNativeSync(nativeOptions(t, src, dst)).Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "with its link up") {
		t.Errorf("a replica of another live master: %v", err)
	}
	// A source whose link redkit cannot open (wrong password) stops the
	// run; the target is told to wait.
	dst.Client().Do(ctx, "REPLICAOF", "NO", "ONE")
	locked := redistest.Start(t, redistest.Options{Password: "right"})
	opts := nativeOptions(t, locked, dst)
	opts.SourceConn.Password = "wrong"
	err = NewNativeSync(opts).Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("wrong source password: %v", err)
	}
}

// TestNativeAfterKill: the target of a run killed with SIGKILL may still
// show its link up when the next run, started at once, reads its INFO
// (its event loop has not read the end of the connection yet). A run
// finding the replica of an earlier native sync (masterauth a redkit
// token) with its link up waits for the link to go down, and goes on; a
// link that stays up is a live run's, refused with a reason. Here the
// earlier run is a server whose password is such a token.
func TestNativeAfterKill(t *testing.T) {
	ctx := context.Background()
	token := tokenPrefix + "0123456789abcdef"
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	src.Client().Set(ctx, "from-src", "1", 0)
	earlier := redistest.Start(t, redistest.Options{Password: token, Config: []string{"repl-diskless-sync-delay 0"}})
	dst := redistest.Start(t, redistest.Options{})
	if err := dst.Client().ConfigSet(ctx, "masterauth", token).Err(); err != nil {
		t.Fatal(err)
	}
	if err := dst.Client().Do(ctx, "REPLICAOF", "127.0.0.1", strconv.Itoa(earlier.Port())).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for dst.InfoField(t, "master_link_status") != "up" {
		if time.Now().After(deadline) {
			t.Fatal("the target's link never came up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A link that stays up: refused once the wait is over.
	defer func(d time.Duration) { linkDownWait = d }(linkDownWait)
	linkDownWait = 500 * time.Millisecond
	err := NewNativeSync(nativeOptions(t, src, dst)).Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("a link that stays up: %v", err)
	}
	// A link that goes down while the run waits: the run goes on.
	linkDownWait = 30 * time.Second
	go func() {
		time.Sleep(300 * time.Millisecond)
		earlier.Stop()
	}()
	opts := nativeOptions(t, src, dst)
	opts.UntilCaughtUp = true
	if err := NewNativeSync(opts).Run(ctx); err != nil {
		t.Fatalf("after the earlier link went down: %v", err)
	}
	if role := dst.InfoField(t, "role"); role != "master" {
		t.Errorf("target role %s, want master", role)
	}
	if v, err := dst.Client().Get(ctx, "from-src").Result(); err != nil || v != "1" {
		t.Errorf("from-src on the target: %q, %v", v, err)
	}
}

// TestNativeStalledSource: a source whose link goes silent mid-snapshot
// is retried like a cut link, and given up after RetryFor, with the
// stall named; the run ends, nothing hangs.
func TestNativeStalledSource(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-diskless-sync-delay 0"}})
	if err := redistest.FillMixed(ctx, src.Client(), 1); err != nil {
		t.Fatal(err)
	}
	p := redistest.StartStallProxy(t, src.Addr(), 100)
	dst := redistest.Start(t, redistest.Options{})
	opts := nativeOptions(t, src, dst)
	opts.Source = func(context.Context) (string, error) { return p.Addr(), nil }
	opts.LinkTimeout = time.Second
	opts.RetryFor = 2 * time.Second
	_, errc := runNative(t, ctx, opts)
	select {
	case err := <-errc:
		if want := "no data for 1s from " + p.Addr(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Run: %v, want an error saying %q", err, want)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("still running a minute after the source stalled")
	}
	if p.Stalled() < 2 {
		t.Errorf("%d links stalled: no retry", p.Stalled())
	}
}
