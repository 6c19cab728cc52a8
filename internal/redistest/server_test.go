package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestSaveWritesDump(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	ctx := context.Background()
	if _, err := s.Do(ctx, "SET", "greeting", "hello"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	got, err := s.Do(ctx, "GET", "greeting")
	if err != nil || got != "hello" {
		t.Fatalf("GET = %v, %v; want hello", got, err)
	}

	path := s.Save(t)
	if want := filepath.Join(s.Dir(), "dump.rdb"); path != want {
		t.Errorf("Save = %q, want %q", path, want)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	magic := "REDIS00"
	if v := Version(t, ""); strings.HasPrefix(v, "7.0.") {
		magic = "REDIS0010" // Redis 7.0 writes RDB 10
	} else {
		t.Logf("redis-server %s: checking only the RDB magic", v)
	}
	if !bytes.HasPrefix(data, []byte(magic)) {
		t.Errorf("dump starts with %q, want %q", data[:min(len(data), 9)], magic)
	}
	if !bytes.Contains(data, []byte("greeting")) {
		t.Errorf("dump does not contain the key")
	}
}

func TestAddrPortURL(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	if want := fmt.Sprintf("127.0.0.1:%d", s.Port()); s.Addr() != want {
		t.Errorf("Addr = %q, want %q", s.Addr(), want)
	}
	if want := "redis://" + s.Addr(); s.URL() != want {
		t.Errorf("URL = %q, want %q", s.URL(), want)
	}
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if opt.Addr != s.Addr() {
		t.Errorf("ParseURL(URL).Addr = %q, want %q", opt.Addr, s.Addr())
	}
}

func TestPassword(t *testing.T) {
	t.Parallel()
	const password = `s3cret "pass" word`
	s := Start(t, Options{Password: password})
	ctx := context.Background()
	if _, err := s.Do(ctx, "SET", "k", "v"); err != nil {
		t.Fatalf("SET with password: %v", err)
	}
	anon := redis.NewClient(&redis.Options{Addr: s.Addr(), DisableIdentity: true, Protocol: 2})
	defer anon.Close()
	if err := anon.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("PING without password: %v, want NOAUTH", err)
	}
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if opt.Password != password {
		t.Errorf("password from URL = %q, want %q", opt.Password, password)
	}
}

func TestConfigAndArgs(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{
		Config: []string{"maxmemory 10mb", "repl-diskless-sync no"},
		Args:   []string{"--maxmemory-policy", "allkeys-lru"},
	})
	ctx := context.Background()
	tests := []struct{ key, want string }{
		{"maxmemory", "10485760"},
		{"maxmemory-policy", "allkeys-lru"},
		{"repl-diskless-sync", "no"},
		{"repl-diskless-sync-delay", "0"},
		{"save", ""},
		{"appendonly", "no"},
		{"bind", "127.0.0.1"},
	}
	for _, tt := range tests {
		got, err := s.Client().ConfigGet(ctx, tt.key).Result()
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v", tt.key, err)
		}
		if got[tt.key] != tt.want {
			t.Errorf("CONFIG GET %s = %q, want %q", tt.key, got[tt.key], tt.want)
		}
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	addr := s.Addr()
	s.Stop()
	if !s.hasExited() {
		t.Fatal("process still running after Stop")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Stop", addr)
	}
	s.Stop() // a second Stop, and the cleanup's, do nothing
}

func TestParallelServers(t *testing.T) {
	t.Parallel()
	const n = 3
	servers := make([]*Server, n)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() { servers[i] = Start(t, Options{}) })
	}
	wg.Wait()
	ports := map[int]bool{}
	for i, s := range servers {
		if s == nil {
			t.Fatalf("server %d did not start", i)
		}
		if ports[s.Port()] {
			t.Errorf("port %d used twice", s.Port())
		}
		ports[s.Port()] = true
		if _, err := s.Do(context.Background(), "SET", "id", i); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range servers {
		got, err := s.Do(context.Background(), "GET", "id")
		if err != nil || got != fmt.Sprint(i) {
			t.Errorf("server %d: GET id = %v, %v", i, got, err)
		}
	}
}

func TestStartPortTaken(t *testing.T) {
	t.Parallel()
	first := Start(t, Options{})
	bin := lookBinary(t, "")
	s, err := start(t, bin, Options{}, first.Port())
	if err == nil {
		s.Stop()
		t.Fatal("second server on the same port started")
	}
	if !errors.Is(err, errPortInUse) {
		t.Errorf("err = %v, want errPortInUse", err)
	}
}

func TestStartBadConfig(t *testing.T) {
	t.Parallel()
	bin := lookBinary(t, "")
	port, err := freePort(false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = start(t, bin, Options{Config: []string{"no-such-directive yes"}}, port)
	if err == nil {
		t.Fatal("server with a bad directive started")
	}
	if !strings.Contains(err.Error(), "no-such-directive") {
		t.Errorf("error does not quote the log: %v", err)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	v := Version(t, "")
	if v == "" || !strings.Contains(v, ".") {
		t.Errorf("Version = %q, want a dotted version", v)
	}
}

// fakeTB records how lookBinary ends a test.
type fakeTB struct {
	testing.TB
	mu      sync.Mutex
	skipped bool
	failed  bool
	msg     string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.mu.Lock()
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func TestMissingBinary(t *testing.T) {
	tests := []struct {
		name, require, ci string
		wantFail          bool
	}{
		{"skips locally", "", "", false},
		{"fails when required", "1", "", true},
		{"fails in CI", "", "true", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("REDKIT_REQUIRE_REDIS", tt.require)
			t.Setenv("CI", tt.ci)
			f := &fakeTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				lookBinary(f, "redkit-no-such-server")
			}()
			<-done
			if f.failed != tt.wantFail || f.skipped == tt.wantFail {
				t.Errorf("failed=%v skipped=%v, want failed=%v (%s)", f.failed, f.skipped, tt.wantFail, f.msg)
			}
			if !strings.Contains(f.msg, "./scripts/test.sh") {
				t.Errorf("message %q does not say how to install", f.msg)
			}
		})
	}
}

func TestRawCall(t *testing.T) {
	tests := []struct {
		name, reply, want string
		wantErr           bool
	}{
		{"simple", "+OK\r\n", "OK", false},
		{"integer", ":42\r\n", "42", false},
		{"bulk", "$5\r\nhello\r\n", "hello", false},
		{"null bulk", "$-1\r\n", "", false},
		{"error", "-ERR boom\r\n", "", true},
		{"array", "*0\r\n", "", true},
		{"short bulk", "$5\r\nhel", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			go func() {
				defer server.Close()
				_, _ = io.Copy(io.Discard, io.LimitReader(server, int64(len("*1\r\n$4\r\nPING\r\n"))))
				_, _ = io.WriteString(server, tt.reply)
			}()
			c := &rawConn{Conn: client, r: bufio.NewReader(client)}
			got, err := c.call("PING")
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("call = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
