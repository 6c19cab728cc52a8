package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
)

// waitExit waits for a redkit process to exit, at most d: its exit code
// and its log. A process still running after d is killed and fails the
// test.
func waitExit(t *testing.T, cmd *exec.Cmd, logf string, d time.Duration) (int, string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		b, _ := os.ReadFile(logf)
		t.Fatalf("redkit still running after %s: killed\n%s", d, b)
	}
	b, _ := os.ReadFile(logf)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(b)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(b)
	}
	t.Fatalf("redkit: %v", err)
	return 0, ""
}

// TestStalledSource: a source whose replication link goes silent in the
// middle of the snapshot (FULLRESYNC, the payload's first bytes, then
// nothing, the connection open) makes dump, backup and sync give up
// after --timeout without a byte, with exit code 1 and an error naming
// the source without its password: dump leaves no file, backup leaves
// no lock (the next backup succeeds), and sync retries the link until
// --retry-for.
func TestStalledSource(t *testing.T) {
	const pw = "stall-secret-pw"
	src := redistest.Start(t, redistest.Options{Password: pw, Config: []string{"repl-diskless-sync yes", "repl-diskless-sync-delay 0"}})
	if err := redistest.FillMixed(context.Background(), src.Client(), 3); err != nil {
		t.Fatal(err)
	}
	proxy := redistest.StartStallProxy(t, src.Addr(), 100)
	from := fmt.Sprintf("redis://:%s@%s", pw, proxy.Addr())
	check := func(t *testing.T, code int, log string) {
		t.Helper()
		if code != 1 {
			t.Errorf("exit code %d, want 1\n%s", code, log)
		}
		if want := "no data for 2s from " + proxy.Addr(); !strings.Contains(log, want) {
			t.Errorf("the error does not say %q:\n%s", want, log)
		}
		if strings.Contains(log, pw) {
			t.Errorf("the password is printed:\n%s", log)
		}
		if strings.Contains(log, "panic") {
			t.Errorf("panic:\n%s", log)
		}
	}
	bound := 45 * time.Second // 2s of silence, on a busy machine

	t.Run("dump", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "dump.rdb")
		stalled := proxy.Stalled()
		cmd, logf := redkitProcess(t, "dump", "--from", from, "-o", out, "--timeout", "2s", "-q")
		code, log := waitExit(t, cmd, logf, bound)
		check(t, code, log)
		if proxy.Stalled() == stalled {
			t.Error("the proxy stalled no link")
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("dump left %v behind", ents)
		}
	})
	t.Run("backup", func(t *testing.T) {
		dir := t.TempDir()
		url := "file://" + dir
		cmd, logf := redkitProcess(t, "backup", "--from", from, "--to", url, "--timeout", "2s", "-q")
		code, log := waitExit(t, cmd, logf, bound)
		check(t, code, log)
		// The lock was released: a second backup, straight from the
		// source, is not refused.
		r := redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "-q").want(t, 0)
		if strings.Contains(r.stderr, "stale lock") {
			t.Errorf("the stalled backup left its lock: %s", r.stderr)
		}
		if ms := listBackups(t, url); len(ms) != 1 {
			t.Errorf("%d backups, want 1", len(ms))
		}
	})
	t.Run("sync", func(t *testing.T) {
		dst := redistest.Start(t, redistest.Options{})
		stalled := proxy.Stalled()
		cmd, logf := redkitProcess(t, "sync", "--from", from, "--to", dst.URL(), "--timeout", "2s", "--retry-for", "3s", "-q")
		code, log := waitExit(t, cmd, logf, bound)
		check(t, code, log)
		if n := proxy.Stalled() - stalled; n < 2 {
			t.Errorf("%d links stalled: the sync did not retry", n)
		}
	})
}
