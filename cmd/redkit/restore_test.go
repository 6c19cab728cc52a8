package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
)

// TestRestoreDigest restores the mixed dump (every type and encoding,
// several databases, expiries, binary keys, a function library) into
// empty servers in each mode and from each input kind: DEBUG DIGEST and
// the function count must match the source.
func TestRestoreDigest(t *testing.T) {
	src, dump := convertSourceDump(t)
	want := debugDigest(t, src)
	dir := t.TempDir()
	jsonl := filepath.Join(dir, "keys.jsonl")
	redkit(t, nil, "convert", dump, "--to", "jsonl", "-q", "-o", jsonl).want(t, 0)
	aofFile := filepath.Join(dir, "all.aof")
	redkit(t, nil, "convert", dump, "--to", "aof", "-q", "-o", aofFile).want(t, 0)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"rdb-restore", []string{dump}},
		{"rdb-commands", []string{"--mode", "commands", "--batch", "7", dump}},
		{"rdb-small-payloads", []string{"--max-payload", "2KB", "--pipeline", "3", dump}},
		{"jsonl", []string{jsonl}},
		{"aof-replayed", []string{aofFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := redistest.Start(t, redistest.Options{})
			r := redkit(t, nil, append([]string{"restore", "--to", dst.URL(), "--format", "json"}, tc.args...)...).want(t, 0)
			var sum restoreSummary
			if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
				t.Fatalf("summary: %v\n%s", err, r.stdout)
			}
			if sum.Keys == 0 || sum.Failed != 0 || sum.Skipped != 0 || sum.Functions != 1 {
				t.Errorf("summary: %+v", sum)
			}
			if got := debugDigest(t, dst); got != want {
				t.Errorf("DEBUG DIGEST %s, want %s", got, want)
			}
			if n := functionCount(t, dst); n != 1 {
				t.Errorf("%d function libraries, want 1", n)
			}
		})
	}
}

// TestRestoreConflicts checks the three policies on a target holding one
// of the dump's keys with another value.
func TestRestoreConflicts(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	for _, c := range [][]any{{"SET", "a", "1"}, {"SET", "b", "2"}, {"RPUSH", "c", "x", "y"}} {
		if err := src.Client().Do(ctx, c...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	dump := src.Save(t)
	prepare := func(t *testing.T) *redistest.Server {
		dst := redistest.Start(t, redistest.Options{})
		if err := dst.Client().Set(ctx, "b", "mine", 0).Err(); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	get := func(t *testing.T, dst *redistest.Server, k string) string {
		v, _ := dst.Client().Get(ctx, k).Result()
		return v
	}

	t.Run("error", func(t *testing.T) {
		dst := prepare(t)
		r := redkit(t, nil, "restore", "--to", dst.URL(), "--pipeline", "1", dump).want(t, 1)
		if !strings.Contains(r.stderr, `key "b" in db 0 already exists`) || !strings.Contains(r.stderr, "--conflict replace") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
		if get(t, dst, "b") != "mine" {
			t.Error("the existing key was changed")
		}
	})
	t.Run("skip", func(t *testing.T) {
		dst := prepare(t)
		r := redkit(t, nil, "restore", "--to", dst.URL(), "--conflict", "skip", dump).want(t, 0)
		if !strings.Contains(r.stderr, "2 keys written (0 as commands), 1 skipped, 0 failed") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
		if get(t, dst, "b") != "mine" || get(t, dst, "a") != "1" {
			t.Error("skip changed the existing key or missed a new one")
		}
	})
	t.Run("skip-commands", func(t *testing.T) {
		dst := prepare(t)
		redkit(t, nil, "restore", "--to", dst.URL(), "--conflict", "skip", "--mode", "commands", dump).want(t, 0)
		if get(t, dst, "b") != "mine" || get(t, dst, "a") != "1" {
			t.Error("skip changed the existing key or missed a new one")
		}
	})
	for _, mode := range []string{"restore", "commands"} {
		t.Run("replace-"+mode, func(t *testing.T) {
			dst := prepare(t)
			if err := dst.Client().RPush(ctx, "c", "old").Err(); err != nil {
				t.Fatal(err)
			}
			redkit(t, nil, "restore", "--to", dst.URL(), "--conflict", "replace", "--mode", mode, dump).want(t, 0)
			if got, want := debugDigest(t, dst), debugDigest(t, src); got != want {
				t.Errorf("DEBUG DIGEST %s, want %s", got, want)
			}
		})
	}
	t.Run("flush", func(t *testing.T) {
		dst := prepare(t)
		redkit(t, nil, "restore", "--to", dst.URL(), "--flush", "-q", dump).want(t, 0)
		if got, want := debugDigest(t, dst), debugDigest(t, src); got != want {
			t.Errorf("DEBUG DIGEST %s, want %s", got, want)
		}
	})
}

// TestRestoreVersionFallback restores an RDB 11 dump (Redis 7.2) into
// Redis 7.0, which refuses its payloads: every key goes as commands, and
// the result matches what the commands from convert give.
func TestRestoreVersionFallback(t *testing.T) {
	dump := corpus(t, "librdb/100_lists.rdb")
	want := debugDigest(t, pipeInto(t, []byte(redkit(t, nil, "convert", "--to", "resp", "-q", dump).want(t, 0).stdout)))
	dst := redistest.Start(t, redistest.Options{})
	r := redkit(t, nil, "restore", "--to", dst.URL(), dump).want(t, 0)
	if !strings.Contains(r.stderr, "100 keys written (100 as commands)") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if got := debugDigest(t, dst); got != want {
		t.Errorf("DEBUG DIGEST %s, want %s", got, want)
	}
	dst2 := redistest.Start(t, redistest.Options{})
	r = redkit(t, nil, "restore", "--to", dst2.URL(), "--mode", "restore", dump).want(t, 3)
	if !strings.Contains(r.stderr, "payload of RDB 11") || !strings.Contains(r.stderr, "100 failed") {
		t.Errorf("--mode restore of RDB 11 into 7.0:\n%s", r.stderr)
	}
}

// TestRestoreBigKeySmallBulkLen restores a key bigger than the target's
// proto-max-bulk-len: it goes as commands of bounded size.
func TestRestoreBigKeySmallBulkLen(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	pipe := src.Client().Pipeline()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 30000 {
		m := make([]byte, 48)
		for i := range m {
			m[i] = byte(rng.IntN(256))
		}
		pipe.SAdd(ctx, "big", m)
	}
	pipe.Set(ctx, "small", "v", 0)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	dump := src.Save(t)
	if fi, _ := os.Stat(dump); fi.Size() < 1<<20 {
		t.Fatalf("dump of %d bytes: the big key should exceed 1 MB", fi.Size())
	}
	dst := redistest.Start(t, redistest.Options{Config: []string{"proto-max-bulk-len 1mb"}})
	r := redkit(t, nil, "restore", "--to", dst.URL(), dump).want(t, 0)
	if !strings.Contains(r.stderr, "2 keys written (1 as commands)") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if got, want := debugDigest(t, dst), debugDigest(t, src); got != want {
		t.Errorf("DEBUG DIGEST %s, want %s", got, want)
	}
}

// TestRestoreAuth checks a wrong password (a clear error, never the
// password), the password from the environment and from a file, and an
// ACL user without the right to FLUSHALL.
func TestRestoreAuth(t *testing.T) {
	ctx := context.Background()
	_, dump := convertSourceDump(t)
	dst := redistest.Start(t, redistest.Options{Password: "right-pass"})
	url := "redis://127.0.0.1:" + strings.Split(dst.Addr(), ":")[1]

	r := redkit(t, nil, "restore", "--to", "redis://:Wr0ngPass@"+dst.Addr(), dump).want(t, 1)
	if strings.Contains(r.stderr, "Wr0ngPass") || !strings.Contains(r.stderr, "WRONGPASS") || !strings.Contains(r.stderr, "redis://:xxxxx@") {
		t.Errorf("wrong password:\n%s", r.stderr)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("right-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	redkit(t, nil, "restore", "--to", url, "--to-password-file", pw, "--flush", "-q", dump).want(t, 0)
	t.Setenv("REDKIT_TO_PASSWORD", "right-pass")
	redkit(t, nil, "restore", "--to", url, "--conflict", "replace", "-q", dump).want(t, 0)

	if err := dst.Client().Do(ctx, "ACL", "SETUSER", "loader", "on", ">loader-pass", "~*", "+@all", "-flushall").Err(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REDKIT_TO_PASSWORD", "")
	r = redkit(t, nil, "restore", "--to", "redis://loader:loader-pass@"+dst.Addr(), "--flush", dump).want(t, 1)
	if !strings.Contains(r.stderr, "NOPERM") || strings.Contains(r.stderr, "loader-pass") {
		t.Errorf("ACL user without FLUSHALL:\n%s", r.stderr)
	}
	redkit(t, nil, "restore", "--to", "redis://loader:loader-pass@"+dst.Addr(), "--conflict", "replace", "-q", dump).want(t, 0)
}

func TestRestoreUsage(t *testing.T) {
	for _, args := range [][]string{
		{"restore", "x.rdb"},
		{"restore", "--to", "http://h:1", "x.rdb"},
		{"restore", "--to", "redis://h:1", "--conflict", "maybe", "x.rdb"},
		{"restore", "--to", "redis://h:1", "--mode", "fast", "x.rdb"},
		{"restore", "--to", "redis://h:1", "--rate", "-3", "x.rdb"},
		{"restore", "--to", "redis://h:1"},
	} {
		r := redkit(t, nil, args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
	r := redkit(t, nil, "restore", "--help").want(t, 0)
	for _, s := range []string{"redkit restore --to redis://127.0.0.1:6379 dump.rdb", "EXIT CODES", "--conflict"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("--help lacks %q", s)
		}
	}
}

// TestRestoreURLDatabase: the database a URL names is where db 0 goes.
func TestRestoreURLDatabase(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	if err := src.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	dump := src.Save(t)
	dst := redistest.Start(t, redistest.Options{})
	redkit(t, nil, "restore", "--to", "redis://"+dst.Addr()+"/5", "-q", dump).want(t, 0)
	conn := dst.Client().Conn()
	defer conn.Close()
	if err := conn.Select(ctx, 5).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := conn.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Errorf("db 5: %q, %v", v, err)
	}
	if n := dst.Client().DBSize(ctx).Val(); n != 0 {
		t.Errorf("db 0 has %d keys", n)
	}
}
