package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkit/redkit/internal/redistest"
)

// noPSYNC starts a server that refuses replication, as managed services
// do; extra are more configuration lines.
func noPSYNC(t *testing.T, extra ...string) *redistest.Server {
	return redistest.Start(t, redistest.Options{Config: append([]string{`rename-command PSYNC ""`, `rename-command SYNC ""`}, extra...)})
}

// TestSyncRefusedNamesScan: the default mode does not fall back by
// itself on a source that refuses replication: it fails and names
// --mode scan.
func TestSyncRefusedNamesScan(t *testing.T) {
	src := noPSYNC(t)
	dst := redistest.Start(t, redistest.Options{})
	src.Client().Set(context.Background(), "a", "1", 0)
	r := redkit(t, nil, "sync", "--from", src.URL(), "--to", dst.URL(), "--until-caught-up", "--target-checkpoint=false").want(t, 1)
	if !strings.Contains(r.stderr, "refuses replication") || !strings.Contains(r.stderr, "--mode scan") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if n := dst.Client().DBSize(context.Background()).Val(); n != 0 {
		t.Errorf("%d keys copied", n)
	}
}

// TestSyncScanCLI runs sync --mode scan --until-caught-up with a writer
// on the source; the status and the metrics have the scan's counts
// while it runs, the JSON report when it ends, and the data is equal.
func TestSyncScanCLI(t *testing.T) {
	ctx := context.Background()
	src := noPSYNC(t)
	dst := redistest.Start(t, redistest.Options{})
	if err := redistest.FillMixed(ctx, src.Client(), 2); err != nil {
		t.Fatal(err)
	}
	status := freeAddr(t)
	c := src.Client()
	stopWriter := writeUntilStopped(func(i int) {
		k := "w" + strconv.Itoa(i%50)
		c.Incr(ctx, k)
		c.LPush(ctx, "l"+k, i)
		c.Del(ctx, "w"+strconv.Itoa((i+7)%50))
	})
	done := make(chan result, 1)
	go func() {
		done <- redkit(t, nil, "sync", "--mode", "scan", "--from", src.URL(), "--to", dst.URL(), "--until-caught-up",
			"--quiet-period", "500ms", "--format", "json", "--status-addr", status, "--log-format", "json")
	}()
	var st map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + status + "/status")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if n, _ := st["notifications_received"].(float64); n > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no notification in /status: %v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, f := range []string{"keys_scanned", "keys_expected", "notifications_applied", "queue_length", "rescans", "phase"} {
		if _, ok := st[f]; !ok {
			t.Errorf("/status has no %s: %v", f, st)
		}
	}
	resp, err := http.Get("http://" + status + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"redkit_sync_scan_keys_scanned", "redkit_sync_scan_notifications_received_total", "redkit_sync_scan_rescans_total", "redkit_sync_scan_queue_length"} {
		if !strings.Contains(string(m), name+" ") {
			t.Errorf("/metrics has no %s", name)
		}
	}
	time.Sleep(time.Second)
	stopWriter()
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("sync --mode scan --until-caught-up did not end")
	}
	r.want(t, 0)
	var rep map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report %q: %v", r.stdout, err)
	}
	if rep["result"] != "caught up" || rep["mode"] != "scan" || rep["rescans"] != 0.0 || rep["keys_scanned"].(float64) == 0 || rep["notifications_applied"].(float64) == 0 {
		t.Errorf("report %v", rep)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("stderr line not JSON: %s", line)
		}
	}
	if v := src.Client().ConfigGet(ctx, "notify-keyspace-events").Val()["notify-keyspace-events"]; v != "" {
		t.Errorf("notify-keyspace-events %q after the sync", v)
	}
	redkit(t, nil, "compare", src.URL(), dst.URL()).want(t, 0)
}

// TestSyncScanLostSubscriptionCLI kills the subscription during the
// run: the report counts one rescan and the data is equal.
func TestSyncScanLostSubscriptionCLI(t *testing.T) {
	ctx := context.Background()
	src := noPSYNC(t)
	dst := redistest.Start(t, redistest.Options{})
	if err := redistest.FillMixed(ctx, src.Client(), 6); err != nil {
		t.Fatal(err)
	}
	c := src.Client()
	stopWriter := writeUntilStopped(func(i int) {
		c.Incr(ctx, "n"+strconv.Itoa(i%30))
		c.Del(ctx, "n"+strconv.Itoa((i+11)%30))
		c.Set(ctx, "t"+strconv.Itoa(i%30), i, 200*time.Millisecond)
	})
	done := make(chan result, 1)
	go func() {
		done <- redkit(t, nil, "sync", "--mode", "scan", "--from", src.URL(), "--to", dst.URL(), "--until-caught-up", "--quiet-period", "500ms", "--format", "json", "-q")
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := src.Client().ClientKillByFilter(ctx, "TYPE", "pubsub").Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no subscriber to kill")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second)
	stopWriter()
	r := <-done
	r.want(t, 0)
	var rep map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report %q: %v", r.stdout, err)
	}
	if rep["rescans"] != 1.0 {
		t.Errorf("rescans %v, want 1: %v", rep["rescans"], rep)
	}
	if !strings.Contains(r.stderr, "subscription was lost") {
		t.Errorf("stderr says nothing of the lost subscription:\n%s", r.stderr)
	}
	// Keys that expired since the last read are gone on both sides.
	time.Sleep(300 * time.Millisecond)
	redkit(t, nil, "compare", src.URL(), dst.URL()).want(t, 0)
}

// TestSyncScanNotifyOff: CONFIG renamed and notifications off: refused
// (exit 1) with the exact value to set; on in the config file: the probe
// passes.
func TestSyncScanNotifyOff(t *testing.T) {
	off := noPSYNC(t, `rename-command CONFIG ""`)
	dst := redistest.Start(t, redistest.Options{})
	r := redkit(t, nil, "sync", "--mode", "scan", "--from", off.URL(), "--to", dst.URL(), "--until-caught-up").want(t, 1)
	if !strings.Contains(r.stderr, "set notify-keyspace-events AK") || !strings.Contains(r.stderr, "parameter group") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	on := noPSYNC(t, `rename-command CONFIG ""`, `notify-keyspace-events "KEA"`)
	on.Client().Set(context.Background(), "k", "v", 0)
	redkit(t, nil, "sync", "--mode", "scan", "--from", on.URL(), "--to", dst.URL(), "--until-caught-up", "--quiet-period", "100ms").want(t, 0)
	if v := dst.Client().Get(context.Background(), "k").Val(); v != "v" {
		t.Errorf("k = %q on the target", v)
	}
}

// TestSyncScanUsage: flags of the replication link are refused with
// --mode scan, and the scan's own flags without it.
func TestSyncScanUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--mode", "scan", "--checkpoint", "x.json"},
		{"--mode", "scan", "--deny-command", "FLUSHALL"},
		{"--mode", "scan", "--check"},
		{"--quiet-period", "2s"},
		{"--mode", "restore", "--assume-notifications"},
		{"--mode", "scan", "--quiet-period", "0s"},
	} {
		r := redkit(t, nil, append([]string{"sync", "--from", "redis://127.0.0.1:1", "--to", "redis://127.0.0.1:2"}, args...)...).want(t, 2)
		if !strings.Contains(r.stderr, "--") {
			t.Errorf("%v: %s", args, r.stderr)
		}
	}
}

// TestSyncScanClusterSourceCLI: a 3-master cluster whose nodes refuse
// PSYNC and SYNC (redistest.StartCluster takes no configuration, so the
// nodes are started here) into database 2 of a standalone target with
// --db-map 0=2, while a writer runs on the cluster.
func TestSyncScanClusterSourceCLI(t *testing.T) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed")
	}
	ctx := context.Background()
	nodes := make([]*redistest.Server, 3)
	args := []string{"--cluster", "create"}
	addrs := make([]string, len(nodes))
	for i := range nodes {
		nodes[i] = noPSYNC(t, "cluster-enabled yes", "cluster-node-timeout 3000", "cluster-config-file nodes.conf")
		addrs[i] = nodes[i].Addr()
		args = append(args, addrs[i])
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range nodes {
		for !strings.Contains(s.Client().ClusterInfo(ctx).Val(), "cluster_state:ok") {
			if time.Now().After(deadline) {
				t.Fatal("cluster not ready")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer cc.Close()
	for i := range 200 {
		cc.Set(ctx, "k"+strconv.Itoa(i), i, 0)
	}
	dst := redistest.Start(t, redistest.Options{})
	stopWriter := writeUntilStopped(func(i int) {
		cc.Incr(ctx, "n"+strconv.Itoa(i%100))
		cc.Del(ctx, "k"+strconv.Itoa(i%200))
		cc.RPush(ctx, "l"+strconv.Itoa(i%50), i)
	})
	done := make(chan result, 1)
	go func() {
		done <- redkit(t, nil, "sync", "--mode", "scan", "--from", nodes[1].URL(), "--to", dst.URL(), "--db-map", "0=2",
			"--until-caught-up", "--quiet-period", "500ms", "--format", "json")
	}()
	time.Sleep(2 * time.Second)
	stopWriter()
	r := (<-done).want(t, 0)
	if !strings.Contains(r.stderr, "masters=3") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	d2 := redis.NewClient(&redis.Options{Addr: dst.Addr(), DB: 2})
	defer d2.Close()
	var want int64
	for _, n := range nodes {
		want += n.Client().DBSize(ctx).Val()
	}
	if got := d2.DBSize(ctx).Val(); got != want || dst.Client().DBSize(ctx).Val() != 0 {
		t.Fatalf("target db 2 has %d keys, the cluster %d", got, want)
	}
	iter := d2.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		if a, b := cc.Dump(ctx, k).Val(), d2.Dump(ctx, k).Val(); a != b {
			t.Fatalf("key %q differs", k)
		}
	}
}

// writeUntilStopped calls write with 0, 1, 2... in a goroutine until
// the func it returns is called; that func returns once write has.
func writeUntilStopped(write func(i int)) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-quit:
				return
			default:
			}
			write(i)
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
