package sync_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkit/redkit/internal/compare"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
	"github.com/redkit/redkit/sync"
)

// startScanSync runs a ScanSyncer in the background; wait returns its
// error (failing the test after a minute).
func startScanSync(t *testing.T, ctx context.Context, o sync.ScanSyncOptions) (*sync.ScanSyncer, func() error) {
	t.Helper()
	if o.QuietPeriod == 0 {
		o.QuietPeriod = 500 * time.Millisecond
	}
	s := sync.NewScanSyncer(o)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return s, func() error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(90 * time.Second):
			t.Fatalf("the scan sync did not end: %+v", s.Status())
			return nil
		}
	}
}

// churn runs non-idempotent writes on c (databases 0 and 1) until stop
// is closed: INCR, LPUSH, HINCRBY, ZINCRBY, SADD, APPEND, EXPIRE and
// PERSIST, DEL, RENAME, keys expiring within 300 ms.
func churn(t *testing.T, addr string, seed uint64, stop <-chan struct{}) <-chan int {
	done := make(chan int, 1)
	go func() {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(seed, 1))
		clients := []*redis.Client{
			redis.NewClient(&redis.Options{Addr: addr, DB: 0, PoolSize: 1}),
			redis.NewClient(&redis.Options{Addr: addr, DB: 1, PoolSize: 1}),
		}
		defer func() {
			for _, c := range clients {
				c.Close()
			}
		}()
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			c := clients[rng.IntN(2)]
			k := func(kind string) string { return kind + ":" + strconv.Itoa(rng.IntN(40)) }
			p := c.Pipeline()
			for range 20 {
				switch rng.IntN(12) {
				case 0:
					p.Incr(ctx, k("int"))
				case 1:
					p.LPush(ctx, k("list"), rng.IntN(1000))
				case 2:
					p.HIncrBy(ctx, k("hash"), "f"+strconv.Itoa(rng.IntN(5)), 3)
				case 3:
					p.ZIncrBy(ctx, k("zset"), 1.5, "m"+strconv.Itoa(rng.IntN(5)))
				case 4:
					p.SAdd(ctx, k("set"), rng.IntN(50))
				case 5:
					p.Append(ctx, k("str"), "ab")
				case 6:
					p.Expire(ctx, k("list"), time.Duration(100+rng.IntN(100))*time.Second)
				case 7:
					p.Persist(ctx, k("list"))
				case 8:
					p.Del(ctx, k("str"))
				case 9:
					p.Rename(ctx, k("hash"), k("hash"))
				case 10:
					p.Set(ctx, k("tmp"), "x", time.Duration(50+rng.IntN(250))*time.Millisecond)
				case 11:
					p.Rename(ctx, k("int"), k("int"))
				}
			}
			p.Exec(ctx) // errors (RENAME of a missing key) are part of the mix
			n++
		}
	}()
	return done
}

// sameLive compares every database of two live servers (or clusters),
// expiries included, and reports the differences.
func sameLive(t *testing.T, a, b string, dbs []int) {
	t.Helper()
	epA, err := sync.ParseURL(a)
	if err != nil {
		t.Fatal(err)
	}
	epB, err := sync.ParseURL(b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := compare.Compare(context.Background(), compare.NewLiveSource(epA, compare.LiveOptions{DBs: dbs}),
		compare.NewLiveSource(epB, compare.LiveOptions{DBs: dbs}), compare.Options{MaxReport: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical() {
		for _, d := range res.Diffs {
			t.Errorf("%v db %d %q", d.Kind, d.DB, d.Key)
		}
		t.Fatalf("%d same, counts %v", res.Same, res.Counts)
	}
	if res.Same == 0 {
		t.Fatal("nothing compared")
	}
}

func notifyValue(t *testing.T, srv *redistest.Server) string {
	t.Helper()
	v, err := srv.Client().ConfigGet(context.Background(), "notify-keyspace-events").Result()
	if err != nil {
		t.Fatal(err)
	}
	return v["notify-keyspace-events"]
}

// TestScanSyncWriter copies a source that refuses replication while a
// writer runs non-idempotent commands; once it stops, the sync ends by
// itself (UntilCaughtUp) with the target equal to the source, expiries
// included. The notifications it turned on are turned off again.
func TestScanSyncWriter(t *testing.T) {
	src := noReplication(t)
	dst := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	if err := redistest.FillMixed(ctx, src.Client(), 3); err != nil {
		t.Fatal(err)
	}
	if v := notifyValue(t, src); v != "" {
		t.Fatalf("notify-keyspace-events %q before", v)
	}
	stop := make(chan struct{})
	rounds := churn(t, src.Addr(), 7, stop)
	s, wait := startScanSync(t, ctx, sync.ScanSyncOptions{Sources: []string{src.Addr()}, SourceName: src.Addr(), Target: dst.Addr(), UntilCaughtUp: true})
	time.Sleep(2 * time.Second)
	if v := notifyValue(t, src); v != "AK" {
		t.Errorf("notify-keyspace-events %q during the sync, want AK", v)
	}
	close(stop)
	n := <-rounds
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	st := s.Status()
	t.Logf("%d rounds of writes; status %+v", n, st.ScanCounts)
	if st.Phase != sync.PhaseDone || st.NotificationsApplied == 0 || st.KeysScanned == 0 || st.Rescans != 0 {
		t.Errorf("status %+v", st)
	}
	if v := notifyValue(t, src); v != "" {
		t.Errorf("notify-keyspace-events %q after, want it restored to \"\"", v)
	}
	sameLive(t, src.URL(), dst.URL(), nil)
}

// TestScanSyncLostSubscription kills the subscription (CLIENT KILL TYPE
// pubsub) while a writer runs: the sync subscribes again and reads every
// key again (one rescan), and the data ends equal.
func TestScanSyncLostSubscription(t *testing.T) {
	src := noReplication(t)
	dst := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	if err := redistest.FillMixed(ctx, src.Client(), 4); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	rounds := churn(t, src.Addr(), 9, stop)
	s, wait := startScanSync(t, ctx, sync.ScanSyncOptions{Sources: []string{src.Addr()}, SourceName: src.Addr(), Target: dst.Addr(), UntilCaughtUp: true})
	deadline := time.Now().Add(20 * time.Second)
	for s.Status().NotificationsReceived == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no notification")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, err := src.Client().ClientKillByFilter(ctx, "TYPE", "pubsub").Result(); err != nil || n != 1 {
		t.Fatalf("CLIENT KILL TYPE pubsub: %d, %v", n, err)
	}
	time.Sleep(time.Second)
	close(stop)
	<-rounds
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Rescans != 1 || st.FullSyncs != 2 {
		t.Errorf("rescans %d, passes %d: want 1 and 2", st.Rescans, st.FullSyncs)
	}
	sameLive(t, src.URL(), dst.URL(), nil)
}

// TestScanSyncNotifyRefused: CONFIG renamed and notifications off: the
// sync refuses before copying anything, naming the value to set.
// CONFIG renamed and notifications on in the config file: the probe key
// passes, and nothing of it reaches the target.
func TestScanSyncNotifyRefused(t *testing.T) {
	ctx := t.Context()
	dst := redistest.Start(t, redistest.Options{})
	off := redistest.Start(t, redistest.Options{Config: []string{`rename-command PSYNC ""`, `rename-command CONFIG ""`, `notify-keyspace-events "Ex"`}})
	off.Client().Set(ctx, "a", "1", 0)
	s := sync.NewScanSyncer(sync.ScanSyncOptions{Sources: []string{off.Addr()}, Target: dst.Addr(), UntilCaughtUp: true})
	err := s.Run(ctx)
	var ne *sync.NotifyError
	if !errors.As(err, &ne) || ne.Want != "AK" || !ne.Checked || !strings.Contains(err.Error(), "set notify-keyspace-events AK") {
		t.Fatalf("got %v", err)
	}
	if n := dst.Client().DBSize(ctx).Val(); n != 0 {
		t.Errorf("%d keys copied", n)
	}

	on := redistest.Start(t, redistest.Options{Config: []string{`rename-command PSYNC ""`, `rename-command CONFIG ""`, `notify-keyspace-events "KEA"`}})
	on.Client().Set(ctx, "a", "1", 0)
	s = sync.NewScanSyncer(sync.ScanSyncOptions{Sources: []string{on.Addr()}, Target: dst.Addr(), UntilCaughtUp: true, QuietPeriod: 200 * time.Millisecond})
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	keys := dst.Client().Keys(ctx, "*").Val()
	if len(keys) != 1 || keys[0] != "a" {
		t.Errorf("target keys %q", keys)
	}
	if n := on.Client().DBSize(ctx).Val(); n != 1 {
		t.Errorf("the probe key stayed on the source: %d keys", n)
	}

	// A user who may neither CONFIG nor write: unchecked.
	on.Client().Do(ctx, "ACL", "SETUSER", "ro", "on", ">pw", "~*", "&*", "+@read", "+@pubsub", "+info", "+ping", "+select", "+dump", "+function|dump", "-config").Err()
	s = sync.NewScanSyncer(sync.ScanSyncOptions{Sources: []string{on.Addr()}, SourceConn: sync.Options{Username: "ro", Password: "pw"}, Target: dst.Addr(), UntilCaughtUp: true})
	err = s.Run(ctx)
	if !errors.Is(err, sync.ErrNotifyUnchecked) {
		t.Fatalf("read-only user: got %v", err)
	}
	s = sync.NewScanSyncer(sync.ScanSyncOptions{Sources: []string{on.Addr()}, SourceConn: sync.Options{Username: "ro", Password: "pw"}, Target: dst.Addr(), UntilCaughtUp: true, AllowUnchecked: true, QuietPeriod: 200 * time.Millisecond})
	if err := s.Run(ctx); err != nil {
		t.Fatalf("read-only user, unchecked allowed: %v", err)
	}
}

// TestScanSyncFilter: the key filter and the database map apply to the
// pass and to notified keys; a kept key deleted on the source goes from
// the target.
func TestScanSyncFilter(t *testing.T) {
	ctx := t.Context()
	src := noReplication(t)
	dst := redistest.Start(t, redistest.Options{})
	c := src.Client()
	for i := range 10 {
		c.Set(ctx, fmt.Sprintf("keep:%d", i), i, 0)
		c.Set(ctx, fmt.Sprintf("drop:%d", i), i, 0)
	}
	filter := &sync.SyncFilter{Keys: &rdb.Filter{Match: "keep:*", DBs: []int{0}}, DBMap: map[int]int{0: 3}}
	s, wait := startScanSync(t, ctx, sync.ScanSyncOptions{Sources: []string{src.Addr()}, Target: dst.Addr(), Filter: filter, UntilCaughtUp: true, QuietPeriod: time.Second})
	for s.Status().Phase != sync.PhaseStreaming {
		time.Sleep(5 * time.Millisecond)
	}
	c.Set(ctx, "keep:new", "n", 0)
	c.Set(ctx, "drop:new", "n", 0)
	c.Del(ctx, "keep:0")
	c1 := redis.NewClient(&redis.Options{Addr: src.Addr(), DB: 1})
	defer c1.Close()
	c1.Set(ctx, "keep:db1", "x", 0)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	d3 := redis.NewClient(&redis.Options{Addr: dst.Addr(), DB: 3})
	defer d3.Close()
	got := d3.Keys(ctx, "*").Val()
	if len(got) != 10 || dst.Client().DBSize(ctx).Val() != 0 || d3.Exists(ctx, "keep:0").Val() != 0 || d3.Exists(ctx, "keep:new").Val() != 1 {
		t.Errorf("target db 3: %q; db 0 %d keys", got, dst.Client().DBSize(ctx).Val())
	}
}

// startClusterNoPSYNC starts a 3-master cluster whose nodes refuse
// PSYNC and SYNC (redistest.StartCluster takes no configuration).
func startClusterNoPSYNC(t *testing.T) []*redistest.Server {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed")
	}
	nodes := make([]*redistest.Server, 3)
	args := []string{"--cluster", "create"}
	for i := range nodes {
		nodes[i] = redistest.Start(t, redistest.Options{Config: []string{"cluster-enabled yes", "cluster-node-timeout 3000",
			"cluster-config-file nodes.conf", `rename-command PSYNC ""`, `rename-command SYNC ""`}})
		args = append(args, nodes[i].Addr())
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range nodes {
		for {
			ci, _ := s.Client().ClusterInfo(context.Background()).Result()
			if strings.Contains(ci, "cluster_state:ok") && strings.Contains(ci, "cluster_known_nodes:3\r") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ready on %s:\n%s", s.Addr(), ci)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}

// TestScanSyncClusterSource copies a 3-master cluster that refuses
// PSYNC into a standalone target's database 2, each master subscribed
// and scanned, while a writer runs.
func TestScanSyncClusterSource(t *testing.T) {
	ctx := t.Context()
	nodes := startClusterNoPSYNC(t)
	dst := redistest.Start(t, redistest.Options{})
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr()
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer cc.Close()
	for i := range 300 {
		cc.Set(ctx, "k"+strconv.Itoa(i), i, 0)
		cc.HSet(ctx, "h"+strconv.Itoa(i), "f", i)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(3, 3))
		for {
			select {
			case <-stop:
				return
			default:
			}
			i := strconv.Itoa(rng.IntN(400))
			cc.Incr(ctx, "n"+i)
			cc.HIncrBy(ctx, "h"+i, "f", 1)
			cc.Del(ctx, "k"+strconv.Itoa(rng.IntN(300)))
			cc.LPush(ctx, "l"+i, i)
		}
	}()
	s, wait := startScanSync(t, ctx, sync.ScanSyncOptions{Sources: addrs, SourceCluster: true, SourceName: "cluster", Target: dst.Addr(),
		Filter: &sync.SyncFilter{DBMap: map[int]int{0: 2}}, UntilCaughtUp: true})
	time.Sleep(2 * time.Second)
	close(stop)
	<-done
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("status %+v", s.Status().ScanCounts)
	d2 := redis.NewClient(&redis.Options{Addr: dst.Addr(), DB: 2})
	defer d2.Close()
	var want int64
	for _, n := range nodes {
		want += n.Client().DBSize(ctx).Val()
	}
	if got := d2.DBSize(ctx).Val(); got != want {
		t.Fatalf("target db 2 has %d keys, the cluster %d", got, want)
	}
	iter := d2.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		a, _ := cc.Dump(ctx, k).Result()
		b, _ := d2.Dump(ctx, k).Result()
		if a != b {
			t.Fatalf("key %q differs", k)
		}
	}
}

// TestScanSyncClusterTarget copies database 0 of a standalone source
// that refuses replication into a 3-master cluster while a writer runs,
// with a lost subscription in the middle: the rescan's sweep deletes on
// the cluster's masters the keys deleted meanwhile.
func TestScanSyncClusterTarget(t *testing.T) {
	ctx := t.Context()
	src := noReplication(t)
	nodes := redistest.StartCluster(t, 3, 0)
	if err := redistest.FillMixed(ctx, src.Client(), 8); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	rounds := churn(t, src.Addr(), 11, stop)
	s, wait := startScanSync(t, ctx, sync.ScanSyncOptions{Sources: []string{src.Addr()}, Target: nodes[0].Addr(), TargetCluster: true,
		Filter: &sync.SyncFilter{Keys: &rdb.Filter{DBs: []int{0}}}, UntilCaughtUp: true})
	deadline := time.Now().Add(20 * time.Second)
	for s.Status().NotificationsReceived == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no notification")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := src.Client().ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	close(stop)
	<-rounds
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Rescans != 1 {
		t.Errorf("rescans %d", st.Rescans)
	}
	sameLive(t, src.URL(), nodes[1].URL(), []int{0})
}

// TestScanSyncStopRestores: stopped (ctx done, as SIGTERM does) without
// UntilCaughtUp, the sync returns nil and puts the old
// notify-keyspace-events back.
func TestScanSyncStopRestores(t *testing.T) {
	src := noReplication(t)
	dst := redistest.Start(t, redistest.Options{})
	if err := src.Client().ConfigSet(context.Background(), "notify-keyspace-events", "Ex").Err(); err != nil {
		t.Fatal(err)
	}
	src.Client().Set(context.Background(), "a", "1", 0)
	ctx, cancel := context.WithCancel(t.Context())
	s, wait := startScanSync(t, ctx, sync.ScanSyncOptions{Sources: []string{src.Addr()}, Target: dst.Addr()})
	for s.Status().Phase != sync.PhaseStreaming {
		time.Sleep(5 * time.Millisecond)
	}
	if v := notifyValue(t, src); v != "AKE" {
		t.Errorf("notify-keyspace-events %q during the sync", v)
	}
	src.Client().Set(context.Background(), "b", "2", 0)
	time.Sleep(200 * time.Millisecond)
	cancel()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if v := notifyValue(t, src); v != "xE" {
		t.Errorf("notify-keyspace-events %q after, want xE (Ex as Redis writes it)", v)
	}
	if got := dst.Client().MGet(context.Background(), "a", "b").Val(); len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("target a, b = %v", got)
	}
}

// TestScanSyncQueueOverflow: a queue smaller than the keys a writer
// touches overflows; the keys queued are dropped and every key read
// again (counted as rescans), and the data ends equal.
func TestScanSyncQueueOverflow(t *testing.T) {
	src := noReplication(t)
	dst := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	if err := redistest.FillMixed(ctx, src.Client(), 12); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	rounds := churn(t, src.Addr(), 13, stop)
	s, wait := startScanSync(t, ctx, sync.ScanSyncOptions{Sources: []string{src.Addr()}, Target: dst.Addr(), UntilCaughtUp: true, MaxQueue: 5})
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	<-rounds
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Rescans == 0 {
		t.Errorf("no rescan: %+v", st.ScanCounts)
	}
	sameLive(t, src.URL(), dst.URL(), nil)
}

// TestScanSyncKeepsTargetKeys: a target that held keys of its own when
// the sync began keeps them through a rescan (only a target that was
// empty, or emptied, has the keys the source lacks deleted), and still
// receives every key of the source.
func TestScanSyncKeepsTargetKeys(t *testing.T) {
	src := noReplication(t)
	dst := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	if err := redistest.FillMixed(ctx, src.Client(), 5); err != nil {
		t.Fatal(err)
	}
	if err := dst.Client().Set(ctx, "theirs", "kept", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s, wait := startScanSync(t, ctx, sync.ScanSyncOptions{Sources: []string{src.Addr()}, SourceName: src.Addr(), Target: dst.Addr(), UntilCaughtUp: true, QuietPeriod: 2 * time.Second})
	deadline := time.Now().Add(20 * time.Second)
	for s.Status().FullSyncs == 0 || s.Status().Phase == sync.PhaseConnecting {
		if time.Now().After(deadline) {
			t.Fatalf("no pass began: %+v", s.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, err := src.Client().ClientKillByFilter(ctx, "TYPE", "pubsub").Result(); err != nil || n != 1 {
		t.Fatalf("CLIENT KILL TYPE pubsub: %d, %v", n, err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Rescans != 1 {
		t.Errorf("rescans %d, want 1", st.Rescans)
	}
	if got, err := dst.Client().Get(ctx, "theirs").Result(); err != nil || got != "kept" {
		t.Fatalf("the target's own key after a rescan: %q, %v; want it kept", got, err)
	}
	if err := dst.Client().Del(ctx, "theirs").Err(); err != nil {
		t.Fatal(err)
	}
	sameLive(t, src.URL(), dst.URL(), nil)
}

// TestScanSyncBigKeys: big keys of every type are read in chunks (no
// DUMP of them on the source: INFO commandstats), streamed to the target
// by commands, in the pass and again when notified, and the target ends
// equal to the source.
func TestScanSyncBigKeys(t *testing.T) {
	src := noReplication(t)
	dst := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	small := fillBig(t, src.Client(), 5000)
	if err := src.Client().Do(ctx, "CONFIG", "RESETSTAT").Err(); err != nil {
		t.Fatal(err)
	}
	s, wait := startScanSync(t, ctx, sync.ScanSyncOptions{Sources: []string{src.Addr()}, SourceName: src.Addr(), Target: dst.Addr(),
		UntilCaughtUp: true, QuietPeriod: time.Second, MaxDump: smallMaxDump})
	deadline := time.Now().Add(30 * time.Second)
	for s.Status().KeysScanned < int64(small)+7 {
		if time.Now().After(deadline) {
			t.Fatalf("the pass did not end: %+v", s.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Notified: the big hash grows and is read again, in chunks.
	if err := src.Client().HSet(ctx, "big:hash", "new-field", "new-value").Err(); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.NotificationsApplied < 1 {
		t.Errorf("notified keys applied %d, want 1 or more", st.NotificationsApplied)
	}
	if dumps := commandCalls(t, src)["dump"]; dumps > int64(small)+4 {
		t.Errorf("%d DUMP calls for %d small keys (and a few for the version): big keys were dumped", dumps, small)
	}
	sameLive(t, src.URL(), dst.URL(), nil)
}

// TestScanSyncSourceConnLost: the connection that reads keys is cut
// (CLIENT KILL TYPE normal) while big keys stream, batch by batch,
// from the source's replies to the target: the batch under way fails
// as a whole, the sync reconnects, reads its keys again, and ends with
// the target equal to the source.
func TestScanSyncSourceConnLost(t *testing.T) {
	src := noReplication(t)
	dst := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	small := fillBig(t, src.Client(), 5000)
	s, wait := startScanSync(t, ctx, sync.ScanSyncOptions{Sources: []string{src.Addr()}, SourceName: src.Addr(), Target: dst.Addr(),
		UntilCaughtUp: true, QuietPeriod: 2 * time.Second, MaxDump: smallMaxDump})
	deadline := time.Now().Add(30 * time.Second)
	for s.Status().KeysScanned == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no key read: %+v", s.Status())
		}
		time.Sleep(time.Millisecond)
	}
	if err := src.Client().ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	// A notified key makes the sync use its connection, if the pass
	// was over already.
	if err := src.Client().HSet(ctx, "big:hash", "after-the-cut", "v").Err(); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Reconnects < 1 || st.KeysScanned < int64(small)+7 {
		t.Errorf("after a cut connection: reconnects %d, keys scanned %d (want 1 or more, %d)", st.Reconnects, st.KeysScanned, small+7)
	}
	sameLive(t, src.URL(), dst.URL(), nil)
}
