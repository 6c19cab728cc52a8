package backup

import (
	"context"
	"io"
	gosync "sync"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/storage"
	"github.com/redkit/redkit/storage/file"
)

// TestContinuousHandoffKeepsTimes: a new generation's stream replays
// the commands the previous link received while its base was stored,
// with the times they were received then. Here the base takes long
// (longer than a segment interval) while a writer works, so that the
// new stream starts with thousands of commands to catch up on: each of
// them must keep, in the new generation's segments, the receive time the
// previous generation's segments give it. (The segment clock used to
// close a segment at once, at the present time, and the commands after
// it were then stored as received at that time, later than they were:
// a restore to an instant between got the new base without them.)
func TestContinuousHandoffKeepsTimes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-backlog-size 64mb"}})
	b, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var mu gosync.Mutex
	var ids []string
	basing, resume := make(chan struct{}), make(chan struct{})
	opts := ContinuousOptions{
		Source: src.Addr(), Backend: b, SegmentInterval: 50 * time.Millisecond, SnapshotInterval: 500 * time.Millisecond,
		storeBase: func(ctx context.Context, r io.Reader, size int64, pos ReplPosition) (*Manifest, error) {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return nil, err
			}
			mu.Lock()
			n := len(ids)
			mu.Unlock()
			if n == 1 {
				close(basing)
				select {
				case <-resume:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			m := &Manifest{ID: NewID(time.Now()), Continuous: true, Compression: "zstd", Replication: &pos}
			mu.Lock()
			ids = append(ids, m.ID)
			mu.Unlock()
			return m, nil
		},
	}
	c, err := NewContinuous(opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	// The second base waits while the first link receives 2000 rounds
	// of writes, and a while more.
	select {
	case <-basing:
	case err := <-done:
		t.Fatalf("continuous backup: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("no second base")
	}
	w := redistest.StartWriter(t, src, 1)
	w.WaitRounds(t, 2000)
	w.Halt(t)
	off := src.InfoInt(t, "master_repl_offset")
	waitStatus := func(what string, ok func(ContinuousStatus) bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok(c.Status()) {
			if time.Now().After(deadline) {
				t.Fatalf("never %s: %+v", what, c.Status())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitStatus("received the writes", func(st ContinuousStatus) bool { return st.Received >= off })
	time.Sleep(200 * time.Millisecond)
	close(resume)
	waitStatus("stored the writes in the second generation", func(st ContinuousStatus) bool {
		return st.Generations >= 2 && st.Durable >= off
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("continuous backup: %v", err)
	}

	// The receive time of every command, by offset, in each generation.
	times := func(gen string) map[int64]time.Time {
		segs, err := ListSegments(context.Background(), b, gen)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int64]time.Time{}
		for _, si := range segs {
			ss, err := OpenSegment(context.Background(), b, si, "zstd", storage.Codec{})
			if err != nil {
				t.Fatal(err)
			}
			for {
				rec, err := ss.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				out[rec.Offset] = rec.Received
			}
			ss.Close()
		}
		return out
	}
	// The next generations (the third base is due at once, the second
	// having taken long) hold the commands again, with the same times.
	mu.Lock()
	gens := ids
	mu.Unlock()
	before := times(gens[0])
	both, moved := 0, 0
	for _, gen := range gens[1:] {
		for off, t1 := range times(gen) {
			if t0, ok := before[off]; ok {
				both++
				if !t0.Equal(t1) {
					moved++
				}
			}
		}
	}
	t.Logf("%d commands in the first generation and a later one, %d generations", both, len(gens))
	if both < 1000 || moved > 0 {
		t.Errorf("%d commands in the first generation and a later one, %d of them with another receive time in the later one", both, moved)
	}
}
