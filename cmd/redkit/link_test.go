package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/redkit/redkit/aof"
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

// fakeMaster is a server that answers a replica's handshake and PSYNC
// with psyncReply, which no real master answers to PSYNC ? -1; INFO
// says it is a Redis 7 master. It stops when the test ends.
func fakeMaster(t *testing.T, psyncReply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu gosync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	info := "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n# Replication\r\nrole:master\r\nmaster_repl_offset:0\r\n"
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				defer c.Close()
				r := aof.NewRESPReader(bufio.NewReader(c))
				for {
					args, err := r.ReadCommand()
					if err != nil {
						return
					}
					reply := "+OK\r\n"
					switch strings.ToUpper(string(args[0])) {
					case "PING":
						reply = "+PONG\r\n"
					case "INFO":
						reply = fmt.Sprintf("$%d\r\n%s\r\n", len(info), info)
					case "PSYNC":
						reply = psyncReply
					}
					if _, err := c.Write([]byte(reply)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestContinueUnasked: a source answering +CONTINUE to PSYNC ? -1 (a
// request for a full resynchronization) is a protocol error: sync and
// backup --continuous exit 1 saying so, without a panic or retries,
// and the backup stores nothing (no segment of an unnamed generation).
func TestContinueUnasked(t *testing.T) {
	for _, reply := range []string{"+CONTINUE\r\n", "+CONTINUE 0123456789012345678901234567890123456789\r\n"} {
		t.Run(strings.TrimSpace(reply), func(t *testing.T) {
			fake := fakeMaster(t, reply)
			check := func(t *testing.T, code int, log string) {
				t.Helper()
				if code != 1 || !strings.Contains(log, "+CONTINUE") || !strings.Contains(log, "PSYNC ? -1") || strings.Contains(log, "panic") {
					t.Errorf("exit code %d, want 1 with a protocol error naming +CONTINUE and PSYNC ? -1:\n%s", code, log)
				}
			}
			t.Run("sync", func(t *testing.T) {
				dst := redistest.Start(t, redistest.Options{})
				cmd, logf := redkitProcess(t, "sync", "--from", "redis://"+fake, "--to", dst.URL(), "-q")
				code, log := waitExit(t, cmd, logf, 30*time.Second)
				check(t, code, log)
			})
			t.Run("backup-continuous", func(t *testing.T) {
				dir := t.TempDir()
				cmd, logf := redkitProcess(t, "backup", "--continuous", "--from", "redis://"+fake, "--to", "file://"+dir, "-q")
				code, log := waitExit(t, cmd, logf, 30*time.Second)
				check(t, code, log)
				filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						t.Errorf("stored: %s", path)
					}
					return nil
				})
			})
		})
	}
}
