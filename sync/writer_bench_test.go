package sync

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/redistest"
)

// The writer benchmarks compare our Writer with go-redis v9 pipelines of
// the same depth, against a real redis-server:
//
//	go test ./sync -run XXX -bench Writer -benchtime 100000x
//
// Keys cycle over benchKeys so memory stays flat.

const (
	benchDepth = 512
	benchKeys  = 10_000
)

type benchCase struct {
	name  string
	args  func(key string) []string // the command for key
	bytes int64
}

// benchCases returns SET of 100 bytes and RESTORE ... REPLACE of a 1 KB
// string value, its payload made by DUMP on srv.
func benchCases(b *testing.B, c redis.Cmdable) []benchCase {
	b.Helper()
	ctx := context.Background()
	v100 := strings.Repeat("v", 100)
	v1k := []byte(strings.Repeat("0123456789abcdef", 64))
	for i := range v1k {
		v1k[i] ^= byte(i * 7) // not run-length compressible
	}
	if err := c.Set(ctx, "bench-dump", v1k, 0).Err(); err != nil {
		b.Fatal(err)
	}
	payload, err := c.Dump(ctx, "bench-dump").Result()
	if err != nil {
		b.Fatal(err)
	}
	return []benchCase{
		{"SET-100B", func(k string) []string { return []string{"SET", k, v100} }, 100},
		{"RESTORE-1KB", func(k string) []string { return []string{"RESTORE", k, "0", payload, "REPLACE"} }, int64(len(payload))},
	}
}

func benchKey(i int) string { return "bench:" + strconv.Itoa(i%benchKeys) }

func BenchmarkWriterHand(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	for _, bc := range benchCases(b, srv.Client()) {
		b.Run(bc.name, func(b *testing.B) {
			benchHand(b, srv.Addr(), false, bc)
		})
	}
}

func benchHand(b *testing.B, addr string, cluster bool, bc benchCase) {
	ctx := context.Background()
	w, err := NewWriter(ctx, addr, cluster, WriterOptions{Depth: benchDepth})
	if err != nil {
		b.Fatal(err)
	}
	var failed atomic.Int64
	done := func(_ aof.Value, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	// The commands as bytes, made once: go-redis takes the strings as
	// they are, and converting them here would count against the Writer.
	cmds := make([][][]byte, benchKeys)
	for i := range cmds {
		for _, a := range bc.args(benchKey(i)) {
			cmds[i] = append(cmds[i], []byte(a))
		}
	}
	b.SetBytes(bc.bytes)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; b.Loop(); i++ {
		args := cmds[i%benchKeys]
		if err := w.Send(ctx, &Command{Key: args[1], Args: args, Idempotent: true, Done: done}); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	reportCPU(b, cpu0)
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d commands failed", n)
	}
}

// reportCPU reports this process's CPU time per command since cpu0
// (cpu-ns/op): the client's own cost, which ns/op mixes with the
// server's, the two sharing the machine.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if cpu0 < 0 {
		return // not measured here
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

func BenchmarkWriterGoRedis(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	defer c.Close()
	for _, bc := range benchCases(b, c) {
		b.Run(bc.name, func(b *testing.B) {
			benchGoRedis(b, c, bc)
		})
	}
}

// benchGoRedis sends batches of benchDepth commands with Pipeline: each
// batch waits for all its replies before the next is sent.
func benchGoRedis(b *testing.B, c redis.Cmdable, bc benchCase) {
	ctx := context.Background()
	b.SetBytes(bc.bytes)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	pl := c.Pipeline()
	flush := func() {
		cmds, err := pl.Exec(ctx)
		if err != nil {
			b.Fatalf("%d commands: %v", len(cmds), err)
		}
	}
	for i := 0; b.Loop(); i++ {
		a := bc.args(benchKey(i))
		xs := make([]any, len(a))
		for j := range a {
			xs[j] = a[j]
		}
		pl.Do(ctx, xs...)
		if pl.Len() == benchDepth {
			flush()
		}
	}
	if pl.Len() > 0 {
		flush()
	}
	b.StopTimer()
	reportCPU(b, cpu0)
}

func newClusterClient(nodes []*redistest.Server) *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{nodes[0].Addr()}, DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
}

func BenchmarkWriterClusterHand(b *testing.B) {
	nodes := redistest.StartCluster(b, 3, 0)
	c := newClusterClient(nodes)
	defer c.Close()
	for _, bc := range benchCases(b, c) {
		b.Run(bc.name, func(b *testing.B) {
			benchHand(b, nodes[0].Addr(), true, bc)
		})
	}
}

func BenchmarkWriterClusterGoRedis(b *testing.B) {
	nodes := redistest.StartCluster(b, 3, 0)
	c := newClusterClient(nodes)
	defer c.Close()
	for _, bc := range benchCases(b, c) {
		b.Run(bc.name, func(b *testing.B) {
			benchGoRedis(b, c, bc)
		})
	}
}
