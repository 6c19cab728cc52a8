package sync_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

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

func masterOffset(t *testing.T, s *redistest.Server) int64 {
	t.Helper()
	v, err := s.Client().Info(context.Background(), "replication").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(v, "\r\n") {
		if n, ok := strings.CutPrefix(line, "master_repl_offset:"); ok {
			off, _ := strconv.ParseInt(n, 10, 64)
			return off
		}
	}
	return -1
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
	want := masterOffset(t, src)
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
