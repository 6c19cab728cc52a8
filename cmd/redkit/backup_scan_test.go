package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/internal/s3test"
)

// refusingConfig renames replication (and CONFIG) away, as managed
// services do.
var refusingConfig = []string{`rename-command SYNC ""`, `rename-command PSYNC ""`, `rename-command CONFIG ""`}

// refusingSource is the mixed data set (every type and encoding,
// expiries, several databases) and a function library on a server that
// refuses replication.
func refusingSource(t *testing.T) *redistest.Server {
	t.Helper()
	// FillMixed needs CONFIG SET: the data set comes from a server of its
	// own, through its dump.
	mixed := mixedSource(t)
	ctx := context.Background()
	if err := mixed.Client().Do(ctx, "FUNCTION", "LOAD", dumpScanLib).Err(); err != nil {
		t.Fatal(err)
	}
	dump := mixed.Save(t)
	mixed.Stop()
	src := redistest.Start(t, redistest.Options{Config: refusingConfig})
	redkit(t, nil, "restore", "--to", src.URL(), "-q", dump).want(t, 0)
	return src
}

// checkPerKey checks a manifest of a backup read key by key.
func checkPerKey(t *testing.T, m backup.Manifest, objects int) {
	t.Helper()
	if m.Consistency != backup.ConsistencyPerKey || m.ScanStarted.IsZero() || m.ScanEnded.Before(m.ScanStarted) ||
		m.ScanStarted.Location() != time.UTC || m.ScanStarted.Before(m.Started.Add(-time.Second)) || m.ScanEnded.After(m.Completed.Add(time.Second)) {
		t.Errorf("manifest: consistency %q, scan %v to %v (backup %v to %v)", m.Consistency, m.ScanStarted, m.ScanEnded, m.Started, m.Completed)
	}
	if len(m.Objects) != objects {
		t.Fatalf("manifest: %d objects, want %d", len(m.Objects), objects)
	}
	for _, o := range m.Objects {
		if o.SourceMode != backup.SourceScan || o.SHA256 == "" || o.RDBVersion < 10 {
			t.Errorf("object %+v", o)
		}
	}
}

// TestBackupScanFallback: a source with SYNC, PSYNC and CONFIG renamed
// away is backed up key by key in auto mode (the log says so and why);
// the manifest says per-key with the scan's span; list and verify show
// it; restore into a fresh server gives the same data and functions;
// --source-mode replication fails with exit 1 and advice.
func TestBackupScanFallback(t *testing.T) {
	src := refusingSource(t)
	want := debugDigest(t, src)
	store := filepath.Join(t.TempDir(), "store")
	url := "file://" + store
	r := redkit(t, nil, "backup", "--from", src.URL(), "--to", url).want(t, 0)
	id := strings.TrimSpace(r.stdout)
	if !strings.Contains(r.stderr, "refuses replication: reading its keys instead") || !strings.Contains(r.stderr, "unknown command") ||
		!strings.Contains(r.stderr, "per-key consistency") || !strings.Contains(r.stderr, "+psync +sync") || strings.Count(r.stderr, "refuses replication") != 1 ||
		!strings.Contains(r.stderr, `msg="backup: keys read"`) || !strings.Contains(r.stderr, "consistency=per-key") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	ms := listBackups(t, url)
	if len(ms) != 1 || ms[0].ID != id {
		t.Fatalf("list: %+v", ms)
	}
	checkPerKey(t, ms[0], 1)
	for db := range 16 {
		n, err := src.Client().Do(context.Background(), "EVAL", fmt.Sprintf("redis.call('SELECT', %d) return redis.call('DBSIZE')", db), 0).Int64()
		if err != nil {
			t.Fatal(err)
		}
		if ms[0].Keys[db] != n {
			t.Errorf("db %d: manifest %d keys, source %d", db, ms[0].Keys[db], n)
		}
	}
	if text := redkit(t, nil, "backup", "list", url).want(t, 0).stdout; !strings.Contains(text, "(per-key: keys read ") {
		t.Errorf("backup list:\n%s", text)
	}
	v := redkit(t, nil, "backup", "verify", url+"@latest").want(t, 0).stdout
	if !strings.Contains(v, "read key by key") || !strings.Contains(v, "per-key consistency: keys read from") {
		t.Errorf("backup verify:\n%s", v)
	}
	var rep verifyReport
	vj := redkit(t, nil, "backup", "verify", url+"@latest", "--format", "json").want(t, 0).stdout
	if err := json.Unmarshal([]byte(vj), &rep); err != nil || rep.Consistency != "per-key" || rep.ScanStarted.IsZero() || !rep.OK || rep.Objects[0].SourceMode != "scan" {
		t.Errorf("backup verify --format json (%v):\n%s", err, vj)
	}

	dst := redistest.Start(t, redistest.Options{})
	redkit(t, nil, "restore", url+"@latest", "--to", dst.URL(), "-q").want(t, 0)
	if got := debugDigest(t, dst); got != want {
		t.Errorf("restored: digest %s, want %s", got, want)
	}
	if n := functionCount(t, dst); n != 1 {
		t.Errorf("restored: %d function libraries, want 1", n)
	}
	redkit(t, nil, "compare", src.URL(), dst.URL()).want(t, 0)

	// --source-mode replication: a failure with advice, nothing stored.
	r = redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "--source-mode", "replication").want(t, 1)
	if !strings.Contains(r.stderr, "refuses replication (") || !strings.Contains(r.stderr, "PSYNC") || !strings.Contains(r.stderr, "--source-mode scan") || r.stdout != "" {
		t.Errorf("--source-mode replication, stderr:\n%s", r.stderr)
	}
	if ms := listBackups(t, url); len(ms) != 1 {
		t.Errorf("after the refused backup: %d backups", len(ms))
	}
	r = redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "--source-mode", "replication", "--log-format", "json").want(t, 1)
	lines := parseJSONLines(t, r.stderr)
	last := lines[len(lines)-1]
	if last["msg"] != "backup failed" || !strings.Contains(fmt.Sprint(last["hint"]), "--source-mode scan") || last["exit_code"] != float64(1) {
		t.Errorf("--log-format json, last line %v", last)
	}
	redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "--source-mode", "bogus").want(t, 2)
	redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "--max-dump", "lots").want(t, 2)
}

// TestBackupScanACL: an ACL user without +psync +sync (its password from
// REDKIT_FROM_PASSWORD) is read key by key, to s3:// (a real
// versitygw); the JSON log says which way and why; restore gives the
// same data.
func TestBackupScanACL(t *testing.T) {
	src := mixedSource(t)
	ctx := context.Background()
	if err := src.Client().Do(ctx, "FUNCTION", "LOAD", dumpScanLib).Err(); err != nil {
		t.Fatal(err)
	}
	if err := src.Client().Do(ctx, "ACL", "SETUSER", "reader", "on", ">s3cr3t-pw", "~*", "&*", "+@all", "-psync", "-sync").Err(); err != nil {
		t.Fatal(err)
	}
	want := debugDigest(t, src)
	srv := s3test.Start(t, "backups")
	srv.Env(t)
	t.Setenv("REDKIT_FROM_PASSWORD", "s3cr3t-pw")
	url := "s3://backups/acl"
	r := redkit(t, nil, "backup", "--from", "redis://reader@"+src.Addr(), "--to", url, "--log-format", "json", "--max-dump", "64kb").want(t, 0)
	if strings.Contains(r.stderr, "s3cr3t") {
		t.Errorf("the password is on stderr:\n%s", r.stderr)
	}
	var refused, read, done map[string]any
	for _, l := range parseJSONLines(t, r.stderr) {
		switch msg := fmt.Sprint(l["msg"]); {
		case strings.HasPrefix(msg, "backup: the source refuses replication"):
			if refused != nil {
				t.Errorf("the fallback is logged twice")
			}
			refused = l
		case msg == "backup: keys read":
			read = l
		case msg == "backup complete":
			done = l
		}
	}
	if refused == nil || !strings.Contains(fmt.Sprint(refused["reason"]), "NOPERM") || refused["level"] != "WARN" || refused["master"] != src.Addr() {
		t.Errorf("fallback line %v\n%s", refused, r.stderr)
	}
	if read == nil || read["keys"] == float64(0) || read["vanished"] != float64(0) || read["functions"] != float64(1) {
		t.Errorf("keys read line %v", read)
	}
	if done == nil || done["consistency"] != "per-key" || done["scan_started"] == nil {
		t.Errorf("summary line %v", done)
	}
	ms := listBackups(t, url)
	if len(ms) != 1 {
		t.Fatalf("list: %+v", ms)
	}
	checkPerKey(t, ms[0], 1)
	redkit(t, nil, "backup", "verify", url+"@latest").want(t, 0)
	dst := redistest.Start(t, redistest.Options{})
	redkit(t, nil, "restore", url+"@latest", "--to", dst.URL(), "-q").want(t, 0)
	if got := debugDigest(t, dst); got != want {
		t.Errorf("restored: digest %s, want %s", got, want)
	}
}

// TestBackupScanMode: --source-mode scan (from REDKIT_SOURCE_MODE) on a
// server that replicates reads keys too, per-key; the default reads a
// snapshot whose manifest is as it always was (no consistency field).
func TestBackupScanMode(t *testing.T) {
	src := mixedSource(t)
	store := filepath.Join(t.TempDir(), "store")
	url := "file://" + store
	snapID := strings.TrimSpace(redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "-q").want(t, 0).stdout)
	data, err := os.ReadFile(filepath.Join(store, "backups", snapID, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"consistency", "scan_started", "scan_ended", "source_mode"} {
		if strings.Contains(string(data), field) {
			t.Errorf("a snapshot's manifest has %q:\n%s", field, data)
		}
	}
	t.Setenv("REDKIT_SOURCE_MODE", "scan")
	r := redkit(t, nil, "backup", "--from", src.URL(), "--to", url).want(t, 0)
	if !strings.Contains(r.stderr, "reading the source's keys (per-key consistency)") || strings.Contains(r.stderr, "refuses") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	ms := listBackups(t, url)
	if len(ms) != 2 || ms[0].PerKey() || ms[0].ConsistencyOrSnapshot() != "snapshot" {
		t.Fatalf("list: %+v", ms)
	}
	checkPerKey(t, ms[1], 1)
	if ms[0].TotalKeys() != ms[1].TotalKeys() {
		t.Errorf("keys: snapshot %d, scan %d", ms[0].TotalKeys(), ms[1].TotalKeys())
	}
	// Both restore to the same data.
	a, b := filepath.Join(t.TempDir(), "a.rdb"), filepath.Join(t.TempDir(), "b.rdb")
	redkit(t, nil, "restore", url+"/"+ms[0].ID, "--to-file", a).want(t, 0)
	redkit(t, nil, "restore", url+"/"+ms[1].ID, "--to-file", b).want(t, 0)
	redkit(t, nil, "compare", a, b).want(t, 0)
}

// startRefusingCluster is redistest.StartCluster's cluster of masters,
// each with PSYNC renamed away.
func startRefusingCluster(t *testing.T, masters int) []*redistest.Server {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed")
	}
	nodes := make([]*redistest.Server, masters)
	args := []string{"--cluster", "create"}
	for i := range nodes {
		nodes[i] = redistest.Start(t, redistest.Options{Config: []string{
			"cluster-enabled yes", "cluster-node-timeout 3000", "cluster-config-file nodes.conf", `rename-command PSYNC ""`,
		}})
		args = append(args, nodes[i].Addr())
	}
	args = append(args, "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range nodes {
		for {
			ci, _ := s.Client().ClusterInfo(context.Background()).Result()
			if strings.Contains(ci, "cluster_state:ok") && strings.Contains(ci, "cluster_known_nodes:"+strconv.Itoa(masters)+"\r") {
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

// TestBackupScanCluster: a 3-master cluster refusing PSYNC on every node
// is backed up key by key, each master its own object read in parallel
// with the others (their scans overlap in time); restore into another
// cluster gives the same keys.
func TestBackupScanCluster(t *testing.T) {
	_, dump := convertSourceDump(t)
	src := startRefusingCluster(t, 3)
	srcURL := "redis://" + src[0].Addr()
	redkit(t, nil, "restore", "--to", srcURL, "--db", "0", "-q", dump).want(t, 0)
	// Enough keys on each master for its scan to take a while.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{src[0].Addr()}})
	defer cc.Close()
	ctx := context.Background()
	for b := 0; b < 90000; b += 5000 {
		p := cc.Pipeline()
		for i := b; i < b+5000; i++ {
			p.Set(ctx, "bulk:"+strconv.Itoa(i), strings.Repeat("x", 100), 0)
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	url := "file://" + filepath.Join(t.TempDir(), "store")
	r := redkit(t, nil, "backup", "--from", srcURL, "--to", url, "--log-format", "json").want(t, 0)
	var spans [][2]time.Time
	refused := 0
	for _, l := range parseJSONLines(t, r.stderr) {
		switch msg := fmt.Sprint(l["msg"]); {
		case strings.HasPrefix(msg, "backup: the source refuses replication"):
			refused++
		case msg == "backup: keys read":
			a, err1 := time.Parse(time.RFC3339Nano, fmt.Sprint(l["started"]))
			b, err2 := time.Parse(time.RFC3339Nano, fmt.Sprint(l["ended"]))
			if err1 != nil || err2 != nil {
				t.Fatalf("keys read line %v", l)
			}
			spans = append(spans, [2]time.Time{a, b})
		}
	}
	if refused != 1 || len(spans) != 3 {
		t.Fatalf("%d fallback lines, %d scans:\n%s", refused, len(spans), r.stderr)
	}
	// In parallel: every scan started before any ended.
	var lastStart, firstEnd time.Time
	for i, s := range spans {
		if i == 0 || s[0].After(lastStart) {
			lastStart = s[0]
		}
		if i == 0 || s[1].Before(firstEnd) {
			firstEnd = s[1]
		}
	}
	if !lastStart.Before(firstEnd) {
		t.Errorf("the scans did not overlap: %v", spans)
	}
	ms := listBackups(t, url)
	if len(ms) != 1 || !ms[0].Source.Cluster {
		t.Fatalf("list: %+v", ms)
	}
	checkPerKey(t, ms[0], 3)
	slots := 0
	for _, o := range ms[0].Objects {
		if o.Master == "" || len(o.Slots) == 0 || o.Keys[0] < 30000 {
			t.Errorf("object %+v", o)
		}
		for _, r := range o.Slots {
			slots += r[1] - r[0] + 1
		}
	}
	if slots != 16384 {
		t.Errorf("the objects cover %d slots", slots)
	}
	dst := redistest.StartCluster(t, 3, 0)
	dstURL := "redis://" + dst[1].Addr()
	redkit(t, nil, "restore", url+"@latest", "--to", dstURL, "-q").want(t, 0)
	redkit(t, nil, "compare", srcURL, dstURL).want(t, 0)
}

// TestBackupScanContinuousRefused: a continuous backup of a source that
// refuses replication fails at once (exit 1, no generation) saying why
// and what to do instead; --continuous --source-mode scan is a usage
// error.
func TestBackupScanContinuousRefused(t *testing.T) {
	src := redistest.Start(t, redistest.Options{Config: refusingConfig})
	url := "file://" + filepath.Join(t.TempDir(), "store")
	start := time.Now()
	r := redkit(t, nil, "backup", "--continuous", "--from", src.URL(), "--to", url).want(t, 1)
	if time.Since(start) > 20*time.Second {
		t.Errorf("took %s: retried?", time.Since(start))
	}
	for _, want := range []string{"refuses replication (", "unknown command", "a continuous backup follows the replication stream", "without --continuous", "per-key", "sync --mode scan"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if ms := listBackups(t, url); len(ms) != 0 {
		t.Errorf("backups stored: %+v", ms)
	}
	r = redkit(t, nil, "backup", "--continuous", "--from", src.URL(), "--to", url, "--log-format", "json").want(t, 1)
	lines := parseJSONLines(t, r.stderr)
	if last := lines[len(lines)-1]; last["msg"] != "backup failed" || !strings.Contains(fmt.Sprint(last["hint"]), "without --continuous") {
		t.Errorf("json, last line %v", last)
	}
	r = redkit(t, nil, "backup", "--continuous", "--from", src.URL(), "--to", url, "--source-mode", "scan").want(t, 2)
	if !strings.Contains(r.stderr, "follows the replication stream") {
		t.Errorf("--source-mode scan: %s", r.stderr)
	}
}
