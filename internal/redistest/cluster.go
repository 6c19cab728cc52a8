package redistest

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartCluster starts masters*(1+replicas) cluster-enabled servers on
// loopback, joins them with redis-cli --cluster create (which picks the
// roles: ask ROLE), and waits until every node says cluster_state:ok,
// knows every other node over a connected bus link, and every replica's
// link is up. The servers stop when the test ends. It
// skips the test when redis-cli is missing.
func StartCluster(t testing.TB, masters, replicas int) []*Server {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed")
	}
	nodes := make([]*Server, masters*(1+replicas))
	args := []string{"--cluster", "create"}
	for i := range nodes {
		nodes[i] = Start(t, Options{Config: []string{
			"cluster-enabled yes", "cluster-node-timeout 3000", "cluster-config-file nodes.conf", "repl-diskless-sync-delay 0",
		}})
		args = append(args, nodes[i].Addr())
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	ctx := context.Background()
	n := len(nodes)
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range nodes {
		for {
			ci, _ := s.Client().ClusterInfo(ctx).Result()
			info, _ := s.Client().Info(ctx, "replication").Result()
			nl, _ := s.Client().ClusterNodes(ctx).Result()
			// Every node known, every bus link up (CLUSTER FAILOVER needs
			// the one to the master), every replica known and in sync.
			ok := strings.Contains(ci, "cluster_state:ok") &&
				strings.Contains(ci, "cluster_known_nodes:"+strconv.Itoa(n)+"\r") &&
				strings.Count(nl, " connected") == n && strings.Count(nl, "slave ") == masters*replicas &&
				(!strings.Contains(info, "role:slave") || strings.Contains(info, "master_link_status:up"))
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ready on %s:\n%s%s%s", s.Addr(), ci, info, nl)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}
