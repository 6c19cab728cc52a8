package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkit/redkit/internal/redistest"
	rsync "github.com/redkit/redkit/sync"
)

// TestMain lets a test run redkit as a separate process (the test binary
// itself, with REDKIT_TEST_MAIN=1), to kill it with SIGKILL or SIGTERM.
func TestMain(m *testing.M) {
	if os.Getenv("REDKIT_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// redkitProcess starts redkit as a process; its stderr goes to a file
// that the test logs when it fails.
func redkitProcess(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	logf := filepath.Join(t.TempDir(), "redkit.log")
	f, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "REDKIT_TEST_MAIN=1")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() || testing.Verbose() {
			b, _ := os.ReadFile(logf)
			t.Logf("redkit %s:\n%s", strings.Join(args, " "), b)
		}
	})
	return cmd, logf
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func getStatus(addr string) (rsync.SyncStatus, error) {
	var st rsync.SyncStatus
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// waitStatus polls the status endpoint until ok says so.
func waitStatus(t *testing.T, addr string, cmd *exec.Cmd, ok func(rsync.SyncStatus) bool) rsync.SyncStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := getStatus(addr)
		if err == nil && ok(st) {
			return st
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("status never got there: %+v, %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSyncKill9 runs redkit sync as a process against a source taking
// writes (non-idempotent commands, MULTI/EXEC, EVAL, expiries, several
// databases), kills it with SIGKILL mid-stream, lets the source take
// more writes, and starts it again: the source counts one more partial
// resynchronization and no full one, and the target ends with the
// source's digest: nothing lost, nothing applied twice. Then SIGTERM
// stops a third run with exit code 0 and its checkpoint saved.
func TestSyncKill9(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-diskless-sync-delay 0", "repl-backlog-size 64mb"}})
	if err := redistest.FillMixed(ctx, src.Client(), 1); err != nil {
		t.Fatal(err)
	}
	dst := redistest.Start(t, redistest.Options{})
	cpFile := filepath.Join(t.TempDir(), "sync.json")
	status := freeAddr(t)
	args := []string{"sync", "--from", src.URL(), "--to", dst.URL(), "--checkpoint", cpFile, "--status-addr", status}

	w := redistest.StartWriter(t, src, 1)
	cmd, _ := redkitProcess(t, args...)
	st := waitStatus(t, status, cmd, func(st rsync.SyncStatus) bool { return st.Phase == "streaming" && st.Commands > 2000 })
	if st.FullSyncs != 1 {
		t.Errorf("status: %+v", st)
	}
	resp, err := http.Get("http://" + status + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`redkit_sync_phase{phase="streaming"} 1`, "redkit_sync_commands_total ", "redkit_sync_lag_seconds ", "redkit_sync_apply_latency_seconds_bucket"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	full0, partial0 := src.InfoInt(t, "sync_full"), src.InfoInt(t, "sync_partial_ok")
	w.WaitRounds(t, w.Rounds()+300)
	w.Halt(t)

	cmd, _ = redkitProcess(t, append(args, "--until-caught-up")...)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("resumed sync: %v", err)
	}
	full1, partial1 := src.InfoInt(t, "sync_full"), src.InfoInt(t, "sync_partial_ok")
	if full1 != full0 || partial1 != partial0+1 {
		t.Errorf("sync_full %d -> %d, sync_partial_ok %d -> %d: want one more partial resync and no full one", full0, full1, partial0, partial1)
	}
	key := rsync.CheckpointKey(src.Addr())
	want := debugDigest(t, src)
	if got := digestWithout(t, dst, key); got != want {
		r := redkit(t, nil, "compare", "--max-report", "20", src.URL(), dst.URL())
		t.Errorf("after kill -9 and resume: digest %s, want %s\n%s%s", got, want, r.stdout, r.stderr)
	}

	// SIGTERM: exit 0, checkpoint saved, equal to the target's key.
	w = redistest.StartWriter(t, src, 2)
	cmd, _ = redkitProcess(t, args...)
	waitStatus(t, status, cmd, func(st rsync.SyncStatus) bool { return st.Phase == "streaming" && st.Commands > 500 })
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: %v, want exit 0", err)
	}
	w.Halt(t)
	cp, err := rsync.LoadCheckpoint(cpFile)
	if err != nil || cp == nil {
		t.Fatalf("checkpoint: %v %v", cp, err)
	}
	v, err := dst.Client().Get(ctx, key).Result()
	if err != nil || v != fmt.Sprintf("%s %d %d %d %d", cp.ReplID, cp.Offset, cp.DB, cp.DataOffset, cp.DataDB) {
		t.Errorf("target key %q (%v), checkpoint file %+v", v, err, cp)
	}
}

// digestWithout is DEBUG DIGEST of s after deleting key.
func digestWithout(t *testing.T, s *redistest.Server, key string) string {
	t.Helper()
	if err := s.Client().Del(context.Background(), key).Err(); err != nil {
		t.Fatal(err)
	}
	return debugDigest(t, s)
}

// TestSyncUsage checks the command's own errors.
func TestSyncUsage(t *testing.T) {
	r := redkit(t, nil, "sync", "--help").want(t, 0)
	for _, want := range []string{"example", "EXIT CODES", "--checkpoint", "REDKIT_FROM_PASSWORD"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("sync --help lacks %q", want)
		}
	}
	redkit(t, nil, "sync", "--to", "redis://127.0.0.1:1").want(t, 2)
	redkit(t, nil, "sync", "--from", "redis://127.0.0.1:1", "--to", "redis://127.0.0.1:2/3").want(t, 2)
	redkit(t, nil, "sync", "--from", "redis://127.0.0.1:1", "--to", "redis://127.0.0.1:2", "--log-format", "xml").want(t, 2)
	redkit(t, nil, "sync", "--from", "redis://127.0.0.1:1", "--to", "redis://127.0.0.1:2", "--min-size", "1k").want(t, 2)
	redkit(t, nil, "sync", "--from", "redis://127.0.0.1:1", "--to", "redis://127.0.0.1:2", "--db-map", "x").want(t, 2)
	r = redkit(t, nil, "sync", "--from", "redis://:hunter2@127.0.0.1:1", "--to", "redis://127.0.0.1:2").want(t, 1)
	if strings.Contains(r.stderr, "hunter2") || !strings.Contains(r.stderr, "hint:") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

// TestSyncClusterCLI migrates a cluster into a cluster and a standalone
// server into a cluster with --until-caught-up; compare finds them equal.
func TestSyncClusterCLI(t *testing.T) {
	ctx := context.Background()
	src := redistest.StartCluster(t, 3, 0)
	dst := redistest.StartCluster(t, 3, 0)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{src[0].Addr()}})
	defer cc.Close()
	for i := range 2000 {
		k := "k:" + strconv.Itoa(i)
		if err := cc.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
		cc.RPush(ctx, "l:"+strconv.Itoa(i%50), i)
	}
	r := redkit(t, nil, "sync", "--from", src[0].URL(), "--to", dst[1].URL(), "--until-caught-up").want(t, 0)
	if !strings.Contains(r.stderr, "one link per master") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	redkit(t, nil, "compare", src[0].URL(), dst[0].URL()).want(t, 0)

	// Standalone, db 0 and db 3 mapped to 0, into another cluster.
	one := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	c := one.Client()
	c.Set(ctx, "a", "1", 0)
	c.MSet(ctx, "b", "2", "c", "3")
	dst2 := redistest.StartCluster(t, 3, 0)
	redkit(t, nil, "sync", "--from", one.URL(), "--to", dst2[0].URL(), "--until-caught-up", "--db", "0").want(t, 0)
	redkit(t, nil, "compare", "--db", "0", one.URL(), dst2[2].URL()).want(t, 0)
	// A key in db 3 without --db: the cluster has no db 3.
	c3 := redis.NewClient(&redis.Options{Addr: one.Addr(), DB: 3})
	defer c3.Close()
	c3.Set(ctx, "x", "1", 0)
	r = redkit(t, nil, "sync", "--from", one.URL(), "--to", dst2[0].URL(), "--until-caught-up").want(t, 1)
	if !strings.Contains(r.stderr, "database 0") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

// TestSyncCheck runs the pre-flight checks: all pass between two plain
// servers; a target without room, without the right to RESTORE (probed,
// since the user may not run ACL DRYRUN) and a cluster target for keys
// of db 1 fail, exit code 1.
func TestSyncCheck(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	if err := redistest.FillMixed(ctx, src.Client(), 1); err != nil {
		t.Fatal(err)
	}
	dst := redistest.Start(t, redistest.Options{})
	r := redkit(t, nil, "sync", "--check", "--format", "json", "--from", src.URL(), "--to", dst.URL()).want(t, 0)
	var rep struct {
		OK     bool
		Checks []struct{ Check, Status, Detail string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || !rep.OK || len(rep.Checks) < 8 {
		t.Fatalf("report %+v (%v):\n%s", rep, err, r.stdout)
	}
	if dbKeys := dst.Client().DBSize(ctx).Val(); dbKeys != 0 {
		t.Errorf("--check wrote %d keys to the target", dbKeys)
	}

	tight := redistest.Start(t, redistest.Options{Config: []string{"maxmemory 2mb"}})
	tight.Client().Do(ctx, "ACL", "SETUSER", "w", "on", ">pw", "~*", "&*", "+@all", "-restore", "-acl")
	u := "redis://w:pw@" + tight.Addr()
	r = redkit(t, nil, "sync", "--check", "--format", "json", "--from", src.URL(), "--to", u).want(t, 1)
	json.Unmarshal([]byte(r.stdout), &rep)
	status := map[string]string{}
	for _, c := range rep.Checks {
		status[c.Check] = c.Status + ": " + c.Detail
	}
	if !strings.HasPrefix(status["target memory"], "fail") || !strings.HasPrefix(status["target ACL"], "fail") ||
		!strings.Contains(status["target ACL"], "RESTORE") || strings.Contains(r.stdout, "pw@") {
		t.Errorf("report:\n%s", r.stdout)
	}
	cl := redistest.StartCluster(t, 3, 0)
	r = redkit(t, nil, "sync", "--check", "--from", src.URL(), "--to", cl[0].URL()).want(t, 1)
	if !strings.Contains(r.stdout, "database 0 only") {
		t.Errorf("report:\n%s", r.stdout)
	}
	redkit(t, nil, "sync", "--check", "--db", "0", "--from", src.URL(), "--to", cl[0].URL()).want(t, 0)
}

// TestRestoreCheck runs restore's pre-flight checks: nothing written;
// existing keys fail under --conflict error and pass with replace; a
// target without room fails.
func TestRestoreCheck(t *testing.T) {
	ctx := context.Background()
	src, dump := convertSourceDump(t)
	dst := redistest.Start(t, redistest.Options{})
	r := redkit(t, nil, "restore", "--check", "--to", dst.URL(), dump).want(t, 0)
	if n := dst.Client().DBSize(ctx).Val(); n != 0 || !strings.Contains(r.stdout, "biggest key") {
		t.Errorf("%d keys written; report:\n%s", n, r.stdout)
	}
	c0 := redis.NewClient(&redis.Options{Addr: src.Addr()}) // db 0
	defer c0.Close()
	keys, _ := c0.Keys(ctx, "*").Result()
	// Which keys come first is the dump's order: make every db-0 key exist.
	for _, k := range keys {
		dst.Client().Set(ctx, k, "x", 0)
	}
	r = redkit(t, nil, "restore", "--check", "--format", "json", "--to", dst.URL(), dump).want(t, 1)
	if !strings.Contains(r.stdout, "use --conflict replace or skip") {
		t.Errorf("report:\n%s", r.stdout)
	}
	redkit(t, nil, "restore", "--check", "--conflict", "replace", "--to", dst.URL(), dump).want(t, 0)
	tight := redistest.Start(t, redistest.Options{Config: []string{"maxmemory 1mb"}})
	r = redkit(t, nil, "restore", "--check", "--to", tight.URL(), dump).want(t, 1)
	if !strings.Contains(r.stdout, "target memory  fail") {
		t.Errorf("report:\n%s", r.stdout)
	}
}

// TestSyncNativeKill9: --mode native, with the writer running; kill -9
// while streaming, more writes, then --until-caught-up: a partial resync
// from the target's own position, the source's exact data, and a
// promoted, writable target.
func TestSyncNativeKill9(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-diskless-sync-delay 0", "repl-backlog-size 64mb"}})
	if err := redistest.FillMixed(ctx, src.Client(), 2); err != nil {
		t.Fatal(err)
	}
	dst := redistest.Start(t, redistest.Options{})
	dst.Client().Set(ctx, "target-only", "1", 0)
	status := freeAddr(t)
	args := []string{"sync", "--mode", "native", "--from", src.URL(), "--to", dst.URL(), "--status-addr", status}
	if r := redkit(t, nil, args...); r.code != 2 || !strings.Contains(r.stderr, "--flush-target") {
		t.Errorf("a target with keys, no --flush-target: exit %d, %s", r.code, r.stderr)
	}
	if r := redkit(t, nil, append(args, "--db", "1")...); r.code != 2 || !strings.Contains(r.stderr, "--db does not go with --mode native") {
		t.Errorf("a filter: exit %d, %s", r.code, r.stderr)
	}
	args = append(args, "--flush-target")

	w := redistest.StartWriter(t, src, 1)
	cmd, _ := redkitProcess(t, args...)
	st := waitStatus(t, status, cmd, func(st rsync.SyncStatus) bool { return st.Phase == "streaming" && st.Commands > 2000 })
	if st.FullSyncs != 1 || st.FullBytes == 0 || st.Applied == 0 {
		t.Errorf("status: %+v", st)
	}
	cmd.Process.Kill()
	cmd.Wait()
	full0, partial0 := src.InfoInt(t, "sync_full"), src.InfoInt(t, "sync_partial_ok")
	w.WaitRounds(t, w.Rounds()+300)
	w.Halt(t)

	cmd, _ = redkitProcess(t, append(args, "--until-caught-up")...)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("resumed sync: %v", err)
	}
	full1, partial1 := src.InfoInt(t, "sync_full"), src.InfoInt(t, "sync_partial_ok")
	if full1 != full0 || partial1 != partial0+1 {
		t.Errorf("sync_full %d -> %d, sync_partial_ok %d -> %d: want one more partial resync and no full one", full0, full1, partial0, partial1)
	}
	if got, want := debugDigest(t, dst), debugDigest(t, src); got != want {
		r := redkit(t, nil, "compare", "--max-report", "20", src.URL(), dst.URL())
		t.Errorf("after kill -9 and resume: digest %s, want %s\n%s%s", got, want, r.stdout, r.stderr)
	}
	if role := dst.InfoField(t, "role"); role != "master" {
		t.Errorf("target role %s after --until-caught-up, want master", role)
	}
}

// TestSyncTargetOOM: a target that runs out of memory while streaming
// stops the sync (exit 1) with a hint that says what happens next: the
// batch refused is applied again. With room made, the next run resumes
// (a partial resync).
func TestSyncTargetOOM(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-diskless-sync-delay 0", "repl-backlog-size 64mb"}})
	src.Client().Set(ctx, "first", "1", 0)
	dst := redistest.Start(t, redistest.Options{})
	used := dst.InfoInt(t, "used_memory")
	if err := dst.Client().ConfigSet(ctx, "maxmemory", strconv.FormatInt(used+4<<20, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	args := []string{"sync", "--from", src.URL(), "--to", dst.URL()}
	done := make(chan result, 1)
	go func() { done <- redkit(t, nil, args...) }()
	// Streaming once a key written now reaches the target.
	src.Client().Set(ctx, "marker", "1", 0)
	deadline := time.Now().Add(30 * time.Second)
	for dst.Client().Exists(ctx, "marker").Val() == 0 {
		select {
		case r := <-done:
			t.Fatalf("the sync ended before streaming: exit %d\n%s", r.code, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the sync did not start streaming")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 8 {
		src.Client().Set(ctx, "blob:"+strconv.Itoa(i), string(randomBlob(1<<20, uint64(i))), 0)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the sync did not stop on the target's OOM")
	}
	r.want(t, 1)
	if !strings.Contains(r.stderr, "OOM") || !strings.Contains(r.stderr, "applies that batch again") || strings.Contains(r.stderr, "continues after") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if err := dst.Client().ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	partial := src.InfoInt(t, "sync_partial_ok")
	redkit(t, nil, append(args, "--until-caught-up", "-q")...).want(t, 0)
	if got := src.InfoInt(t, "sync_partial_ok"); got != partial+1 {
		t.Errorf("the next run: %d partial resyncs, want 1", got-partial)
	}
	// Every blob arrives: a batch the target refused is not skipped by a
	// later one that committed once memory dipped.
	for i := range 8 {
		k := "blob:" + strconv.Itoa(i)
		if got := dst.Client().StrLen(ctx, k).Val(); got != 1<<20 {
			t.Errorf("%s on the target: %d bytes, want %d", k, got, 1<<20)
		}
	}
}
