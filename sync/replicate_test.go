package sync

import (
	"context"
	"strconv"
	"testing"
	"time"

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

func openTarget(t *testing.T, s *redistest.Server) (Writer, *ServerInfo) {
	t.Helper()
	ctx := context.Background()
	c, err := Dial(ctx, s.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Info(c)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(ctx, s.Addr(), false, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return w, info
}

// TestReplicate mirrors a master full then incrementally: the snapshot
// of the mixed data set, then writes to several databases made while the
// link is up, until DEBUG DIGEST agrees; then --until-caught-up on a
// quiet master returns on its own with the same digest.
func TestReplicate(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes"}})
	if err := redistest.FillMixed(ctx, src.Client(), 1); err != nil {
		t.Fatal(err)
	}
	dst := redistest.Start(t, redistest.Options{})
	w, info := openTarget(t, dst)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := Replicate(rctx, src.Addr(), w, info, ReplicateOptions{AckEvery: 100 * time.Millisecond, Log: t.Logf})
		done <- err
	}()
	conn := src.Client().Conn()
	defer conn.Close()
	for i := range 300 {
		k := "live:" + strconv.Itoa(i)
		for _, c := range [][]any{{"SELECT", i % 3}, {"SET", k, i}, {"INCR", "live:n"}, {"RPUSH", "live:l", i}, {"EXPIRE", k, 1000}} {
			if err := conn.Do(ctx, c...).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := conn.Do(ctx, "MULTI").Err(); err != nil {
		t.Fatal(err)
	}
	conn.Do(ctx, "SET", "tx:a", "1")
	conn.Do(ctx, "SET", "tx:b", "2")
	if err := conn.Do(ctx, "EXEC").Err(); err != nil {
		t.Fatal(err)
	}
	want := digestOf(t, src)
	for deadline := time.Now().Add(30 * time.Second); digestOf(t, dst) != want; time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("Replicate returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target never caught up: digest %s, want %s", digestOf(t, dst), want)
		}
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Replicate after cancel: %v", err)
	}
	w.Close()

	dst2 := redistest.Start(t, redistest.Options{})
	w2, info2 := openTarget(t, dst2)
	st, err := Replicate(ctx, src.Addr(), w2, info2, ReplicateOptions{UntilCaughtUp: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	if got := digestOf(t, dst2); got != want {
		t.Errorf("until caught up: digest %s, want %s (%+v)", got, want, st)
	}
	if st.Snapshot.Keys == 0 || len(st.ReplID) != 40 {
		t.Errorf("stats: %+v", st)
	}
}
