package compare

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redkit/redkit/internal/redistest"
)

// fillSame writes the same keys of every type, all in db 0, through c.
func fillSame(t testing.TB, c interface {
	Do(ctx context.Context, args ...any) *redis.Cmd
}) {
	t.Helper()
	ctx := context.Background()
	at := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	for i := range 300 {
		k := fmt.Sprintf("{k%d}", i)
		cmds := [][]any{
			{"SET", "s:" + k, fmt.Sprint("value ", i)},
			{"RPUSH", "l:" + k, "a", i, "c"},
			{"SADD", "set:" + k, "x", i, "y"},
			{"ZADD", "z:" + k, 1.5, "m", i, "n"},
			{"HSET", "h:" + k, "f", i, "g", "v"},
			{"XADD", "x:" + k, fmt.Sprintf("%d-1", i+1), "f", i},
		}
		if i%7 == 0 {
			cmds = append(cmds, []any{"PEXPIREAT", "s:" + k, at.UnixMilli()})
		}
		if i%10 == 0 {
			cmds = append(cmds, []any{"XGROUP", "CREATE", "x:" + k, "g", "0"}, []any{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "x:" + k, ">"})
		}
		for _, cmd := range cmds {
			if err := c.Do(ctx, cmd...).Err(); err != nil {
				t.Fatalf("%v: %v", cmd, err)
			}
		}
	}
}

func TestClusterVersusStandalone(t *testing.T) {
	nodes := redistest.StartCluster(t, 3, 0)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{nodes[0].Addr()}})
	defer cc.Close()
	fillSame(t, cc)
	single := redistest.Start(t, redistest.Options{})
	fillSame(t, single.Client())

	res := mustCompare(t, liveSource(t, "redis://"+nodes[1].Addr()), liveSource(t, single.URL()), Options{TTLTolerance: time.Second})
	if !res.Identical() || res.KeysA != 1800 || res.KeysB != 1800 {
		t.Fatalf("cluster vs standalone: %v, keys %d/%d, diffs %+v", res.Counts, res.KeysA, res.KeysB, res.Diffs)
	}
	cc.HSet(context.Background(), "h:{k5}", "f", "changed")
	res = mustCompare(t, liveSource(t, single.URL()), liveSource(t, "redis://"+nodes[2].Addr()), Options{TTLTolerance: time.Second, Sample: 1800})
	if res.Counts[ValueDiff] != 1 || res.Differences() != 1 || res.Diffs[0].Key != "h:{k5}" {
		t.Fatalf("sampled against the cluster after a change: %v %+v", res.Counts, res.Diffs)
	}
}

// TestBoundedMemory compares a set of a million members with itself (the
// server against its own dump) and checks the heap stays far below the
// set's size.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a million-member set")
	}
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	c := srv.Client()
	const members, batch = 1_000_000, 10_000
	memberBytes := 0
	for i := 0; i < members; i += batch {
		args := []any{"SADD", "big"}
		for j := i; j < i+batch; j++ {
			m := fmt.Sprintf("member:%016d", j)
			memberBytes += len(m)
			args = append(args, m)
		}
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	path := srv.Save(t)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	peak := base
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	start := time.Now()
	res := mustCompare(t, rdbFile{path}, liveSource(t, srv.URL()), Options{})
	close(stop)
	<-done
	if !res.Identical() || res.KeysA != 1 {
		t.Fatalf("set vs itself: %v %+v", res.Counts, res.Diffs)
	}
	grew := int64(peak) - int64(base)
	t.Logf("1M-member set (%d MB of members): compared in %v, heap grew by at most %.1f MB", memberBytes>>20, time.Since(start).Round(time.Millisecond), float64(grew)/(1<<20))
	if grew > int64(memberBytes)/2 {
		t.Errorf("heap grew by %d bytes comparing a set of %d bytes of members", grew, memberBytes)
	}
}
