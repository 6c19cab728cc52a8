package sync

import (
	"context"
	"errors"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/redistest"
)

// sendSet sends an idempotent SET k v and reports the first failures.
func sendSet(t testing.TB, ctx context.Context, w Writer, k, v string, failed *atomic.Int64) {
	t.Helper()
	err := w.Send(ctx, &Command{Key: []byte(k), Args: bs("SET", k, v), Idempotent: true,
		Done: func(_ aof.Value, err error) {
			if err != nil && failed.Add(1) < 5 {
				t.Errorf("SET %s: %v", k, err)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
}

// clusterMap reads the current slot map from node.
func clusterMap(t testing.TB, node *redistest.Server) []SlotRange {
	t.Helper()
	c, err := Dial(context.Background(), node.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := ClusterSlots(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkClusterKeys checks that every key has its value on the master
// that owns its slot.
func checkClusterKeys(t testing.TB, nodes []*redistest.Server, want map[string]string) {
	t.Helper()
	ctx := context.Background()
	ranges := clusterMap(t, nodes[0])
	var owner [SlotCount]string
	for _, r := range ranges {
		for s := r.Start; s <= r.End; s++ {
			owner[s] = r.Master
		}
	}
	byAddr := map[string]*redistest.Server{}
	for _, n := range nodes {
		byAddr[n.Addr()] = n
	}
	perNode := map[string][]string{}
	for k := range want {
		a := owner[Slot([]byte(k))]
		perNode[a] = append(perNode[a], k)
	}
	missing := 0
	total := 0
	for a, keys := range perNode {
		n := byAddr[a]
		if n == nil {
			t.Fatalf("slot owner %s is not one of the nodes", a)
		}
		pl := n.Client().Pipeline()
		cmds := make([]*redis.StringCmd, len(keys))
		for i, k := range keys {
			cmds[i] = pl.Get(ctx, k)
		}
		pl.Exec(ctx)
		for i, c := range cmds {
			if got, err := c.Result(); err != nil || got != want[keys[i]] {
				if missing < 5 {
					t.Errorf("key %s on %s: %q %v, want %q", keys[i], a, got, err, want[keys[i]])
				}
				missing++
			}
			total++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d keys missing or wrong", missing, total)
	}
}

func TestWriterCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := redistest.StartCluster(t, 3, 0)
	w, err := NewWriter(ctx, nodes[1].Addr(), true, WriterOptions{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !w.Cluster() {
		t.Error("Cluster() = false")
	}
	const n = 50_000
	want := make(map[string]string, n)
	var failed atomic.Int64
	for i := range n {
		k, v := "key:"+strconv.Itoa(i), "value-"+strconv.Itoa(i)
		want[k] = v
		sendSet(t, ctx, w, k, v, &failed)
	}
	// One list written in order through one slot.
	for i := range 1000 {
		if err := w.Send(ctx, &Command{Key: []byte("list"), Args: bs("RPUSH", "list", strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var bcast []error
	if err := w.Send(ctx, &Command{Args: bs("CONFIG", "SET", "hz", "17"), Done: func(_ aof.Value, err error) {
		bcast = append(bcast, err)
	}}); err != nil {
		t.Fatal(err)
	}
	var dbErr error
	if err := w.Send(ctx, &Command{DB: 1, Key: []byte("k"), Args: bs("SET", "k", "v"), Done: func(_ aof.Value, err error) {
		dbErr = err
	}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(dbErr, ErrClusterDB) {
		t.Errorf("DB 1 on a cluster: %v, want ErrClusterDB", dbErr)
	}
	if len(bcast) != 1 || bcast[0] != nil {
		t.Errorf("broadcast Done calls: %v, want one nil", bcast)
	}
	for _, s := range nodes {
		if hz, err := s.Client().ConfigGet(ctx, "hz").Result(); err != nil || hz["hz"] != "17" {
			t.Errorf("hz on %s: %v %v", s.Addr(), hz, err)
		}
	}
	if st := w.Stats(); st.Commands != n+1000+3 || st.Redirects != 0 {
		t.Errorf("stats %+v, want %d commands and no redirect", st, n+1000+3)
	}
	checkClusterKeys(t, nodes, want)
	checkList(t, nodes, "list", 1000)
}

// checkList checks that list holds 0..n-1 in order on its master.
func checkList(t testing.TB, nodes []*redistest.Server, key string, n int) {
	t.Helper()
	ranges := clusterMap(t, nodes[0])
	s := Slot([]byte(key))
	for _, r := range ranges {
		if s < r.Start || s > r.End {
			continue
		}
		for _, node := range nodes {
			if node.Addr() != r.Master {
				continue
			}
			got, err := node.Client().LRange(context.Background(), key, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("%s has %d elements, want %d", key, len(got), n)
			}
			for i, x := range got {
				if x != strconv.Itoa(i) {
					t.Fatalf("%s[%d] = %s: order lost", key, i, x)
				}
			}
			return
		}
	}
	t.Fatalf("no master for %s", key)
}

// nodeID returns a node's cluster id.
func nodeID(t testing.TB, s *redistest.Server) string {
	t.Helper()
	id, err := s.Client().Do(context.Background(), "CLUSTER", "MYID").Text()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// migrateSlot moves slot from src to dst as redis-cli --cluster reshard
// does: IMPORTING, MIGRATING, MIGRATE in batches, then NODE everywhere.
func migrateSlot(ctx context.Context, nodes []*redistest.Server, src, dst *redistest.Server, slot int, srcID, dstID string) error {
	sl := strconv.Itoa(slot)
	if err := dst.Client().Do(ctx, "CLUSTER", "SETSLOT", sl, "IMPORTING", srcID).Err(); err != nil {
		return err
	}
	if err := src.Client().Do(ctx, "CLUSTER", "SETSLOT", sl, "MIGRATING", dstID).Err(); err != nil {
		return err
	}
	for {
		keys, err := src.Client().Do(ctx, "CLUSTER", "GETKEYSINSLOT", sl, "50").StringSlice()
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", "127.0.0.1", dst.Port(), "", 0, 5000, "REPLACE", "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		if err := src.Client().Do(ctx, args...).Err(); err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond) // let writes interleave
	}
	for _, n := range []*redistest.Server{dst, src} {
		if err := n.Client().Do(ctx, "CLUSTER", "SETSLOT", sl, "NODE", dstID).Err(); err != nil {
			return err
		}
	}
	for _, n := range nodes {
		if n != src && n != dst {
			n.Client().Do(ctx, "CLUSTER", "SETSLOT", sl, "NODE", dstID)
		}
	}
	return nil
}

// TestWriterClusterMigration moves slots while the Writer writes into
// them: every key lands, lists keep their order.
func TestWriterClusterMigration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := redistest.StartCluster(t, 3, 0)
	ids := make([]string, len(nodes))
	for i, s := range nodes {
		ids[i] = nodeID(t, s)
	}
	owner := func(slot int) int {
		for _, r := range clusterMap(t, nodes[0]) {
			if slot >= r.Start && slot <= r.End {
				for i, s := range nodes {
					if s.Addr() == r.Master {
						return i
					}
				}
			}
		}
		t.Fatalf("no owner for slot %d", slot)
		return -1
	}
	tags := []string{"a", "b", "c"} // the slots that move
	var moves [][3]int              // slot, from, to
	for _, tag := range tags {
		s := Slot([]byte("{" + tag + "}"))
		from := owner(s)
		moves = append(moves, [3]int{s, from, (from + 1) % len(nodes)})
	}
	w, err := NewWriter(ctx, nodes[0].Addr(), true, WriterOptions{Depth: 64, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Pre-fill the slots so there is something to migrate.
	want := map[string]string{}
	var failed atomic.Int64
	var wmu gosync.Mutex
	send := func(k, v string) {
		wmu.Lock()
		want[k] = v
		wmu.Unlock()
		sendSet(t, ctx, w, k, v, &failed)
	}
	for i := range 3000 {
		send("{"+tags[i%3]+"}:"+strconv.Itoa(i), "v"+strconv.Itoa(i))
	}
	migrated := make(chan error, 1)
	go func() {
		for _, m := range moves {
			if err := migrateSlot(ctx, nodes, nodes[m[1]], nodes[m[2]], m[0], ids[m[1]], ids[m[2]]); err != nil {
				migrated <- err
				return
			}
		}
		migrated <- nil
	}()
	i := 3000
	listLen := map[string]int{}
	for done := false; !done || i < 40_000; i++ {
		select {
		case err := <-migrated:
			if err != nil {
				t.Fatalf("migrate: %v", err)
			}
			done = true
		default:
		}
		tag := tags[i%3]
		if i%5 == 0 {
			// an ordered list per tag, through the migration
			k := "{" + tag + "}:list"
			x := listLen[tag]
			listLen[tag]++
			if err := w.Send(ctx, &Command{Key: []byte(k), Args: bs("RPUSH", k, strconv.Itoa(x)),
				Done: func(_ aof.Value, err error) {
					if err != nil {
						t.Errorf("RPUSH %s: %v", k, err)
					}
				}}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if i%2 == 0 {
			tag = "other" + strconv.Itoa(i%100)
		}
		send("{"+tag+"}:"+strconv.Itoa(i), "v"+strconv.Itoa(i))
		if i%200 == 0 {
			time.Sleep(time.Millisecond) // spread the writes over the migration
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	t.Logf("stats %+v after %d commands", st, i)
	if st.Redirects == 0 {
		t.Error("no MOVED or ASK followed")
	}
	for _, m := range moves {
		if got := owner(m[0]); got != m[2] {
			t.Errorf("slot %d owned by node %d, want %d", m[0], got, m[2])
		}
	}
	checkClusterKeys(t, nodes, want)
	for _, tag := range tags {
		checkList(t, nodes, "{"+tag+"}:list", listLen[tag])
	}
}

// TestWriterClusterFailover promotes a replica (CLUSTER FAILOVER) while
// the Writer writes: every idempotent write lands, nothing hangs.
func TestWriterClusterFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := redistest.StartCluster(t, 3, 1)
	var replica *redistest.Server
	for _, s := range nodes {
		if info, _ := s.Client().Info(ctx, "replication").Result(); strings.Contains(info, "role:slave") {
			replica = s
			break
		}
	}
	if replica == nil {
		t.Fatal("no replica")
	}
	w, err := NewWriter(ctx, nodes[0].Addr(), true, WriterOptions{Depth: 128, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	var failed atomic.Int64
	failover := make(chan error, 1)
	const n = 60_000
	for i := range n {
		if i == 10_000 {
			go func() {
				failover <- replica.Client().Do(ctx, "CLUSTER", "FAILOVER").Err()
			}()
		}
		if i > 10_000 && i%100 == 0 {
			time.Sleep(time.Millisecond) // keep writing while the failover happens
		}
		k, v := "key:"+strconv.Itoa(i), "v"+strconv.Itoa(i)
		want[k] = v
		sendSet(t, ctx, w, k, v, &failed)
	}
	if err := <-failover; err != nil {
		t.Fatalf("CLUSTER FAILOVER: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// The promotion may still be spreading: wait for the replica to be a
	// master in its own view.
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, _ := replica.Client().Info(ctx, "replication").Result()
		if strings.Contains(info, "role:master") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica was not promoted:\n%s", info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := w.Stats()
	t.Logf("stats %+v", st)
	if failed.Load() > 0 {
		t.Errorf("%d writes failed", failed.Load())
	}
	// Wait for every node to agree on the map before checking.
	time.Sleep(500 * time.Millisecond)
	checkClusterKeys(t, nodes, want)
}

// TestWriterClusterNodeDown stops a master while the Writer writes: its
// replica takes over after cluster-node-timeout, the Writer refreshes the
// map and resends. Writes acknowledged by the dead master before it
// replicated them may be lost (Redis replicates asynchronously); every
// write sent after the stop must land, and nothing fails or hangs.
func TestWriterClusterNodeDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := redistest.StartCluster(t, 3, 1)
	var victim *redistest.Server
	for _, s := range nodes[1:] {
		if info, _ := s.Client().Info(ctx, "replication").Result(); strings.Contains(info, "role:master") {
			victim = s
			break
		}
	}
	w, err := NewWriter(ctx, nodes[0].Addr(), true, WriterOptions{Depth: 128, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	var failed atomic.Int64
	const n, stopAt = 40_000, 5_000
	start := time.Now()
	for i := range n {
		if i == stopAt {
			victim.Stop()
			start = time.Now()
		}
		if i > stopAt && i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
		k, v := "key:"+strconv.Itoa(i), "v"+strconv.Itoa(i)
		if i >= stopAt {
			want[k] = v
		}
		sendSet(t, ctx, w, k, v, &failed)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	t.Logf("stats %+v; %v from the stop to the last reply", st, time.Since(start))
	if st.Retries == 0 {
		t.Error("no retry: the stopped master was never written to?")
	}
	var alive []*redistest.Server
	for _, s := range nodes {
		if s != victim {
			alive = append(alive, s)
		}
	}
	checkClusterKeys(t, alive, want)
}
