package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkit/redkit/internal/redistest"
)

// startSentinel runs redis-server in Sentinel mode on a free loopback port,
// monitoring master as "mymaster", and returns its address once it knows
// the master. It stops when the test ends.
func startSentinel(t *testing.T, master *redistest.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := strings.Join([]string{
		"bind 127.0.0.1", "port " + strconv.Itoa(port), "dir " + dir, "logfile " + filepath.Join(dir, "sentinel.log"),
		"sentinel monitor mymaster 127.0.0.1 " + strconv.Itoa(master.Port()) + " 1",
		"sentinel down-after-milliseconds mymaster 2000",
	}, "\n") + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("redis-server", conf, "--sentinel")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := c.Do(context.Background(), "SENTINEL", "get-master-addr-by-name", "mymaster").StringSlice()
		if err == nil && len(v) == 2 && v[1] == strconv.Itoa(master.Port()) {
			return addr
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "sentinel.log"))
			t.Fatalf("sentinel on %s not ready (%v, %v):\n%s", addr, v, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRestoreSentinel restores through a redis+sentinel:// URL: the
// sentinel names the master, which gets the data. A master name the
// sentinel does not know is a clear error.
func TestRestoreSentinel(t *testing.T) {
	src, dump := convertSourceDump(t)
	master := redistest.Start(t, redistest.Options{})
	sentinel := startSentinel(t, master)
	r := redkit(t, nil, "restore", "--to", "redis+sentinel://"+sentinel+"/mymaster", dump).want(t, 0)
	if got, want := debugDigest(t, master), debugDigest(t, src); got != want {
		t.Errorf("DEBUG DIGEST %s, want %s\n%s", got, want, r.stderr)
	}
	r = redkit(t, nil, "restore", "--to", "redis+sentinel://"+sentinel+"/nosuchmaster", dump).want(t, 1)
	if !strings.Contains(r.stderr, `does not know master "nosuchmaster"`) {
		t.Errorf("unknown master:\n%s", r.stderr)
	}
}

// TestRestoreWaitsForServer starts the target a moment after the restore:
// the first connection is retried while it is refused.
func TestRestoreWaitsForServer(t *testing.T) {
	_, dump := convertSourceDump(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--enable-debug-command", "local")
	startErr := make(chan error, 1)
	go func() {
		time.Sleep(700 * time.Millisecond)
		startErr <- cmd.Start()
	}()
	r := redkit(t, nil, "restore", "--to", "redis://127.0.0.1:"+port, dump)
	if err := <-startErr; err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	r.want(t, 0)
	if !strings.Contains(r.stderr, "connection refused; retrying for up to 10s") {
		t.Errorf("no retry said:\n%s", r.stderr)
	}
}
