package sync_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkit/redkit/internal/compare"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
	"github.com/redkit/redkit/sync"
)

// sameData compares database 0 of a and b key by key (the sync's
// checkpoint keys under redkit: left out).
func sameData(t *testing.T, a, b string) bool {
	t.Helper()
	epA, err := sync.ParseURL(a)
	if err != nil {
		t.Fatal(err)
	}
	epB, err := sync.ParseURL(b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := compare.Compare(context.Background(), compare.NewLiveSource(epA, compare.LiveOptions{DBs: []int{0}}),
		compare.NewLiveSource(epB, compare.LiveOptions{DBs: []int{0}}), compare.Options{MaxReport: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical() {
		for _, d := range res.Diffs {
			t.Logf("%v db %d %q", d.Kind, d.DB, d.Key)
		}
		t.Logf("%d same, counts %v", res.Same, res.Counts)
	}
	return res.Identical()
}

// TestSyncStandaloneToCluster mirrors database 0 of a standalone source
// taking writes (transactions and scripts whose keys span slots among
// them) into a 3-master cluster, routing by slot.
func TestSyncStandaloneToCluster(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	if err := redistest.FillMixed(ctx, src.Client(), 1); err != nil {
		t.Fatal(err)
	}
	nodes := redistest.StartCluster(t, 3, 0)
	w := redistest.StartWriterDBs(t, src, 1, 1)
	s := sync.NewSyncer(sync.SyncOptions{
		Source:        func(context.Context) (string, error) { return src.Addr(), nil },
		SourceName:    src.Addr(),
		Target:        nodes[1].Addr(),
		TargetCluster: true,
		CheckpointKey: sync.CheckpointKey("src"),
		Filter:        &sync.SyncFilter{Keys: &rdb.Filter{DBs: []int{0}}},
		AckEvery:      100 * time.Millisecond,
	})
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(rctx) }()
	w.WaitRounds(t, 300)
	for s.Status().Phase != sync.PhaseStreaming {
		select {
		case err := <-errc:
			t.Fatal(err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	w.WaitRounds(t, w.Rounds()+300)
	w.Halt(t)
	want := src.InfoInt(t, "master_repl_offset")
	for deadline := time.Now().Add(30 * time.Second); s.Status().Applied < want; time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-errc:
			t.Fatal(err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never caught up to %d: %+v", want, s.Status())
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !sameData(t, src.URL(), nodes[0].URL()) {
		t.Errorf("the cluster differs from the source's db 0: %+v", s.Status())
	}
}

// clusterWriter writes to a cluster until halted: the same mix as
// redistest's Writer, with hash tags where a transaction or a script
// needs its keys in one slot.
func clusterWriter(t *testing.T, addr string) (halt func() int) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
	stop, done := make(chan struct{}), make(chan struct{})
	var rounds int
	var werr error
	go func() {
		defer close(done)
		ctx := context.Background()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := strconv.Itoa(i % 200)
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, "w:n:"+k)
				p.LPush(ctx, "w:l:"+k, i)
				p.Append(ctx, "w:s:"+k, "x")
				p.XAdd(ctx, &redis.XAddArgs{Stream: "w:x:" + k, Values: []any{"i", i}})
				p.Set(ctx, "w:e:"+k, i, time.Duration(1000+i%1000)*time.Second)
				if i%7 == 0 {
					p.Del(ctx, "w:l:"+k)
				}
				return nil
			})
			if err == nil && i%5 == 0 {
				_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.Incr(ctx, "{tx}:a")
					p.RPush(ctx, "{tx}:l", i)
					return nil
				})
			}
			if err == nil && i%9 == 0 {
				err = c.Eval(ctx, "redis.call('INCRBY', KEYS[1], ARGV[1]); return redis.call('RPUSH', KEYS[2], ARGV[1])",
					[]string{"{lua}:n", "{lua}:l"}, i).Err()
			}
			if err != nil {
				werr = err
				return
			}
			rounds++
		}
	}()
	return func() int {
		close(stop)
		<-done
		c.Close()
		if werr != nil {
			t.Fatalf("cluster writer: %v", werr)
		}
		return rounds
	}
}

// TestSyncClusterToCluster mirrors a 3-master cluster taking writes into
// another: one replication link per source master, each routed by slot
// into the target.
func TestSyncClusterToCluster(t *testing.T) {
	ctx := context.Background()
	src := redistest.StartCluster(t, 3, 0)
	dst := redistest.StartCluster(t, 3, 0)
	halt := clusterWriter(t, src[0].Addr())
	time.Sleep(200 * time.Millisecond)
	shards, err := sync.ClusterShards(ctx, src[0].Addr(), nil)
	if err != nil || len(shards) != 3 {
		t.Fatalf("shards %v: %v", shards, err)
	}
	var syncers []*sync.Syncer
	for _, sh := range shards {
		syncers = append(syncers, sync.NewSyncer(sync.SyncOptions{
			Source:        sync.ShardResolver([]string{src[0].Addr()}, sh.FirstSlot, nil),
			SourceName:    sh.Master,
			Target:        dst[0].Addr(),
			TargetCluster: true,
			CheckpointKey: sync.CheckpointKey("src:slot" + strconv.Itoa(sh.FirstSlot)),
			AckEvery:      100 * time.Millisecond,
		}))
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- sync.RunAll(rctx, syncers) }()
	status := func() sync.SyncStatus {
		var sts []sync.SyncStatus
		for _, s := range syncers {
			sts = append(sts, s.Status())
		}
		return sync.Aggregate(sts)
	}
	for status().Phase != sync.PhaseStreaming {
		select {
		case err := <-errc:
			t.Fatal(err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	time.Sleep(300 * time.Millisecond)
	t.Logf("%d rounds written", halt())
	deadline := time.Now().Add(30 * time.Second)
	for i, sh := range shards {
		var want int64 = -1
		for _, n := range src {
			if n.Addr() == sh.Master {
				want = n.InfoInt(t, "master_repl_offset")
			}
		}
		for syncers[i].Status().Applied < want {
			if time.Now().After(deadline) {
				t.Fatalf("shard %d never caught up to %d: %+v", sh.FirstSlot, want, syncers[i].Status())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	st := status()
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if len(st.Shards) != 3 || st.FullSyncs != 3 || st.Commands == 0 {
		t.Errorf("status %+v", st)
	}
	if !sameData(t, src[0].URL(), dst[0].URL()) {
		t.Error("the target cluster differs from the source")
	}
}
