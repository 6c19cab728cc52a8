package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkit/redkit/internal/redistest"
)

// TestRestoreCluster restores the mixed dump into a 3-master cluster: keys
// of databases other than 0 are refused with a hint, --db 0 goes through,
// and redkit compare finds the cluster equal to the dump's db 0.
func TestRestoreCluster(t *testing.T) {
	_, dump := convertSourceDump(t)
	nodes := redistest.StartCluster(t, 3, 0)
	url := "redis://" + nodes[1].Addr()

	r := redkit(t, nil, "restore", "--to", url, dump).want(t, 1)
	if !strings.Contains(r.stderr, "a cluster has only db 0") || !strings.Contains(r.stderr, "--db-map") {
		t.Errorf("keys of db 1+ into a cluster:\n%s", r.stderr)
	}
	redkit(t, nil, "restore", "--to", url, "--db", "0", "--conflict", "replace", "-q", dump).want(t, 0)
	redkit(t, nil, "compare", "--db", "0", dump, url).want(t, 0)

	// Database 3 moved to 0 on top of what is there.
	redkit(t, nil, "restore", "--to", url, "--db", "3", "--db-map", "3=0", "--conflict", "replace", "-q", dump).want(t, 0)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{nodes[0].Addr()}})
	defer cc.Close()
	ctx := context.Background()
	if v, err := cc.Get(ctx, "k3\x00\r\n").Result(); err != nil || v != "v\xff" {
		t.Errorf("db 3's key in the cluster's db 0: %q, %v", v, err)
	}
	if at := cc.PExpireTime(ctx, "k3\x00\r\n").Val(); at.Milliseconds() != 4102444800000 {
		t.Errorf("its expiry: %v", at)
	}
}

// TestRestoreClusterFailover restores into a cluster with a replica per
// master while one replica takes over its master (CLUSTER FAILOVER) and
// while a slot migrates: the restore completes and compare is clean.
func TestRestoreClusterFailover(t *testing.T) {
	ctx := context.Background()
	_, dump := convertSourceDump(t)
	nodes := redistest.StartCluster(t, 3, 1)
	var replica *redistest.Server
	for _, n := range nodes {
		if role, _ := n.Client().Do(ctx, "ROLE").Slice(); len(role) > 0 && role[0] == "slave" {
			replica = n
			break
		}
	}
	if replica == nil {
		t.Fatal("no replica in the cluster")
	}
	url := "redis://" + nodes[0].Addr()
	done := make(chan result, 1)
	go func() {
		// --rate stretches the restore over about 2 s.
		done <- redkit(t, nil, "restore", "--to", url, "--db", "0", "--rate", "800", "--pipeline", "16", dump)
	}()
	time.Sleep(500 * time.Millisecond)
	// A manual failover gives up after 5 s when the replica cannot catch
	// up in time (Redis's CLUSTER_MF_TIMEOUT): ask again then.
	promoted := false
	for try := 0; try < 3 && !promoted; try++ {
		if err := replica.Client().Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(6 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if role, _ := replica.Client().Do(ctx, "ROLE").Slice(); len(role) > 0 && role[0] == "master" {
				promoted = true
				break
			}
		}
	}
	if !promoted {
		t.Fatal("the replica never became master")
	}
	r := <-done
	r.want(t, 0)
	redkit(t, nil, "compare", "--db", "0", dump, url).want(t, 0)
	t.Logf("restore during failover:\n%s", r.stderr)
}

// TestRestoreClusterExpiredDB (issue 14 item 20): a dump whose db 1
// holds only expired keys goes into a cluster without the database
// error, since those keys are left out; --check agrees.
func TestRestoreClusterExpiredDB(t *testing.T) {
	dump := expiredDump(t)
	nodes := redistest.StartCluster(t, 3, 0)
	url := "redis://" + nodes[0].Addr()
	r := redkit(t, nil, "restore", "--check", "--to", url, dump).want(t, 0)
	if !strings.Contains(r.stdout, "3 keys have an expiry already passed") {
		t.Errorf("restore --check:\n%s", r.stdout)
	}
	r = redkit(t, nil, "restore", "--to", url, "--format", "json", dump).want(t, 0)
	if sum := restoreSummaryOf(t, r); sum.Keys != 2 || sum.Expired != 3 || sum.Failed != 0 {
		t.Errorf("summary: %+v", sum)
	}
	// Sent anyway, they are keys of db 1 the cluster cannot take.
	redkit(t, nil, "restore", "--to", url, "--expired", "include", "--conflict", "replace", dump).want(t, 1)
}

// TestRestoreBackupClusterProblems (issue 14 item 20): a cluster backup
// restored onto a cluster where the master of the first snapshot's slots
// refuses writes (maxmemory): those keys fail (exit 3) and the other
// snapshots are restored all the same, not left untried.
func TestRestoreBackupClusterProblems(t *testing.T) {
	ctx := context.Background()
	var keys []testKey
	for i := range 300 {
		keys = append(keys, testKey{key: fmt.Sprintf("key:%d", i), value: "v"})
	}
	dump := writeTestDump(t, 10, keys)
	src := redistest.StartCluster(t, 3, 0)
	srcURL := "redis://" + src[0].Addr()
	redkit(t, nil, "restore", "--to", srcURL, "-q", dump).want(t, 0)
	store := "file://" + filepath.Join(t.TempDir(), "store")
	redkit(t, nil, "backup", "--from", srcURL, "--to", store, "-q").want(t, 0)

	dst := redistest.StartCluster(t, 3, 0)
	var full *redistest.Server // the master of slot 0: the first snapshot's keys
	for _, n := range dst {
		nodes, err := n.Client().Do(ctx, "CLUSTER", "NODES").Text()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(nodes, "\n") {
			f := strings.Fields(line)
			if len(f) > 8 && strings.Contains(f[2], "myself") && strings.HasPrefix(f[8], "0-") {
				full = n
			}
		}
	}
	if full == nil {
		t.Fatal("no master of slot 0")
	}
	if err := full.Client().ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	r := redkit(t, nil, "restore", store+"@latest", "--to", "redis://"+dst[0].Addr()).want(t, 3)
	var others int64
	for _, n := range dst {
		if n != full {
			others += n.Client().DBSize(ctx).Val()
		}
	}
	if n := full.Client().DBSize(ctx).Val(); n != 0 || others == 0 || others >= 300 {
		t.Errorf("%d keys on the full master, %d on the others\n%s", n, others, r.stderr)
	}
	if !strings.Contains(r.stderr, "OOM") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}
