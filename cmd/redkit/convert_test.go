package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
)

// convertSource starts a server with mixed data, a function library and
// keys in several databases, and returns it with its dump's path.
func convertSourceDump(t *testing.T) (*redistest.Server, string) {
	t.Helper()
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	if err := redistest.FillMixed(ctx, src.Client(), 1); err != nil {
		t.Fatal(err)
	}
	conn := src.Client().Conn()
	defer conn.Close()
	for _, cmd := range [][]any{
		{"FUNCTION", "LOAD", "#!lua name=mylib\nredis.register_function('f', function(keys, args) return 1 end)"},
		{"SELECT", 3},
		{"SET", "k3\x00\r\n", "v\xff"},
		{"PEXPIREAT", "k3\x00\r\n", 4102444800000},
		{"SELECT", 4},
		{"RPUSH", "l4", "a", "b"},
	} {
		if err := conn.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	return src, src.Save(t)
}

// pipeInto loads RESP commands into a new empty server with redis-cli
// --pipe and returns the server.
func pipeInto(t *testing.T, commands []byte) *redistest.Server {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed")
	}
	dst := redistest.Start(t, redistest.Options{})
	cmd := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(dst.Port()), "--pipe")
	cmd.Stdin = bytes.NewReader(commands)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "errors: 0,") {
		t.Fatalf("redis-cli --pipe: %v\n%s", err, out)
	}
	return dst
}

func debugDigest(t *testing.T, srv *redistest.Server) string {
	t.Helper()
	d, err := srv.Client().Do(context.Background(), "DEBUG", "DIGEST").Text()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func functionCount(t *testing.T, srv *redistest.Server) int {
	t.Helper()
	libs, err := srv.Client().Do(context.Background(), "FUNCTION", "LIST").Slice()
	if err != nil {
		t.Fatal(err)
	}
	return len(libs)
}

// TestConvertLoadsIntoRedis converts a dump with each mode, loads the
// output into an empty server and compares DEBUG DIGEST.
func TestConvertLoadsIntoRedis(t *testing.T) {
	src, dump := convertSourceDump(t)
	want := debugDigest(t, src)
	raw, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		stdin []byte
		args  []string
	}{
		{"resp-file", nil, []string{"convert", dump, "--to", "resp", "--batch", "3"}},
		{"aof-restore", nil, []string{"convert", "--to", "aof", "--restore-payloads", dump}},
		{"resp-zstd-stdin", compress(t, raw, "zstd"), []string{"convert", "-", "--to", "resp"}},
		{"resp-gzip-stdin", compress(t, raw, "gzip"), []string{"convert", "-", "--to=resp", "-q"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.resp")
			var stdin *bytes.Reader
			if tc.stdin != nil {
				stdin = bytes.NewReader(tc.stdin)
			} else {
				stdin = bytes.NewReader(nil)
			}
			r := redkit(t, stdin, append(tc.args, "-o", out)...).want(t, 0)
			if r.stdout != "" {
				t.Errorf("stdout not empty with -o: %q", r.stdout[:min(len(r.stdout), 80)])
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			dst := pipeInto(t, data)
			if got := debugDigest(t, dst); got != want {
				t.Errorf("DEBUG DIGEST %s, want %s", got, want)
			}
			if n := functionCount(t, dst); n != 1 {
				t.Errorf("%d function libraries, want 1", n)
			}
		})
	}
}

// TestConvertStdoutFiltersAndDBMap sends the commands to stdout, keeps one
// database and moves it.
func TestConvertStdoutFiltersAndDBMap(t *testing.T) {
	_, dump := convertSourceDump(t)
	all := redkit(t, nil, "convert", "--to", "resp", "-q", dump).want(t, 0)
	withFile := filepath.Join(t.TempDir(), "x.resp")
	redkit(t, nil, "convert", "--to", "resp", "-q", "-o", withFile, dump).want(t, 0)
	if b, _ := os.ReadFile(withFile); string(b) != all.stdout {
		t.Errorf("stdout and -o outputs differ: %d and %d bytes", len(all.stdout), len(b))
	}

	r := redkit(t, nil, "convert", "--to", "resp", "--db", "3", "--db-map", "3=0", dump, "--db-map", "4=1").want(t, 0)
	dst := pipeInto(t, []byte(r.stdout))
	ctx := context.Background()
	c := dst.Client().Conn()
	defer c.Close()
	if v, err := c.Get(ctx, "k3\x00\r\n").Result(); err != nil || v != "v\xff" {
		t.Errorf("db 0 key k3: %q, %v", v, err)
	}
	if at, err := c.PExpireTime(ctx, "k3\x00\r\n").Result(); err != nil || at.Milliseconds() != 4102444800000 {
		t.Errorf("PEXPIRETIME %v, %v: want the absolute expiry kept", at, err)
	}
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 1 {
		t.Errorf("db 0 holds %d keys (%v), want 1", n, err)
	}
	if n := functionCount(t, dst); n != 1 {
		t.Errorf("%d function libraries, want 1", n)
	}
	if !strings.Contains(r.stderr, "1 keys, 1 function libraries") {
		t.Errorf("summary: %q", r.stderr)
	}
}

func TestConvertUsageAndInputErrors(t *testing.T) {
	dir := t.TempDir()
	aofFile := filepath.Join(dir, "appendonly.aof")
	if err := os.WriteFile(aofFile, []byte("*1\r\n$4\r\nPING\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	evalFile := filepath.Join(dir, "eval.aof")
	if err := os.WriteFile(evalFile, []byte("*3\r\n$4\r\nEVAL\r\n$8\r\nreturn 1\r\n$1\r\n0\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.rdb")
	if err := os.WriteFile(truncated, []byte("REDIS0010\xfa\x09redis-ver\x067.0.15\xfe\x00\xfb\x01\x00\x00\x03key"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.resp")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no input", []string{"convert", "--to", "resp"}, 2, "no input"},
		{"two inputs", []string{"convert", "--to", "resp", "a", "b"}, 2, "one input"},
		{"no format", []string{"convert", aofFile}, 2, "--to is required"},
		{"aof unsupported command", []string{"convert", "--to", "json", evalFile}, 1, "EVAL: command not supported"},
		{"rdb version", []string{"convert", "--to", "rdb", "--rdb-version", "9", aofFile}, 2, "--rdb-version"},
		{"unknown format", []string{"convert", "--to", "csv", aofFile}, 2, "unknown --to"},
		{"batch", []string{"convert", "--to", "resp", "--batch", "0", aofFile}, 2, "--batch"},
		{"db map", []string{"convert", "--to", "resp", "--db-map", "3:0", aofFile}, 2, "--db-map"},
		{"min size", []string{"convert", "--to", "resp", "--min-size", "1kb", aofFile}, 2, "--min-size"},
		{"aof filtered by key", []string{"convert", "--to", "resp", "--match", "x*", aofFile}, 1, "cannot be filtered by key"},
		{"missing", []string{"convert", "--to", "resp", filepath.Join(dir, "nope.rdb")}, 1, "no such file"},
		{"truncated", []string{"convert", "--to", "resp", "-o", out, truncated}, 1, "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := redkit(t, nil, tc.args...).want(t, tc.code)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, r.stderr)
			}
		})
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("failed conversion left %s (%v)", out, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestConvertHelp(t *testing.T) {
	r := redkit(t, nil, "convert", "--help").want(t, 0)
	for _, want := range []string{"examples:", "redis-cli --pipe", "--restore-payloads", "--db-map", "EXIT CODES", "130", "PEXPIREAT"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("convert --help lacks %q", want)
		}
	}
}

// TestConvertToFIFO writes to an existing non-regular file (a FIFO here,
// /dev/null in benchmarks) in place instead of renaming a temporary file
// over it.
func TestConvertToFIFO(t *testing.T) {
	_, dump := convertSourceDump(t)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got := make(chan []byte)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- b
	}()
	redkit(t, nil, "convert", "--to", "resp", "-q", "-o", fifo, dump).want(t, 0)
	if b := <-got; !bytes.HasPrefix(b, []byte("*4\r\n$8\r\nFUNCTION\r\n")) {
		t.Errorf("FIFO got %d bytes starting %q", len(b), b[:min(len(b), 40)])
	}
	if fi, err := os.Stat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("%s is now %v (%v)", fifo, fi.Mode(), err)
	}
}

func TestConvertInterrupted(t *testing.T) {
	_, dump := convertSourceDump(t)
	out := filepath.Join(t.TempDir(), "out.resp")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var o, e bytes.Buffer
	code := runIO(ctx, []string{"redkit", "convert", "--to", "resp", "-o", out, dump}, bytes.NewReader(nil), &o, &e)
	if code != 130 {
		t.Errorf("exit code %d, want 130; stderr %s", code, e.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("interrupted conversion left %s", out)
	}
}
