package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
)

// TestConvertJSONRoundTrip goes RDB -> JSON -> RDB and JSON -> RESP and
// asks Redis whether anything was lost: the RDB written from JSON must
// load in a server with the source's DEBUG DIGEST and functions, and so
// must the commands made from JSON.
func TestConvertJSONRoundTrip(t *testing.T) {
	src, dump := convertSourceDump(t)
	want := debugDigest(t, src)
	for _, format := range []string{"jsonl", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			js := filepath.Join(dir, "dump."+format)
			redkit(t, nil, "convert", dump, "--to", format, "-o", js, "-q").want(t, 0)

			back := filepath.Join(dir, "back.rdb")
			redkit(t, nil, "convert", js, "--to", "rdb", "-o", back, "-q").want(t, 0)
			redkit(t, nil, "check", "-q", back).want(t, 0)
			loaded := redistest.Start(t, redistest.Options{Config: []string{"dir " + dir, "dbfilename back.rdb"}})
			if got := debugDigest(t, loaded); got != want {
				t.Errorf("JSON -> RDB loaded with DEBUG DIGEST %s, want %s", got, want)
			}
			if n := functionCount(t, loaded); n != 1 {
				t.Errorf("JSON -> RDB: %d function libraries, want 1", n)
			}

			r := redkit(t, nil, "convert", js, "--to", "resp", "-q").want(t, 0)
			piped := pipeInto(t, []byte(r.stdout))
			if got := debugDigest(t, piped); got != want {
				t.Errorf("JSON -> RESP piped with DEBUG DIGEST %s, want %s", got, want)
			}
		})
	}
}

// TestConvertAOFDirectory converts a live server's multi-part AOF (an RDB
// base after BGREWRITEAOF, then an incr file with transactions and
// several databases) to commands and replays them into an empty server.
func TestConvertAOFDirectory(t *testing.T) {
	src := redistest.Start(t, redistest.Options{Config: []string{"appendonly yes", "appendfsync always"}})
	ctx := context.Background()
	c := src.Client()
	if err := redistest.FillMixed(ctx, c, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "BGREWRITEAOF").Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info := c.Info(ctx, "persistence").Val()
		if strings.Contains(info, "aof_rewrite_in_progress:0") && strings.Contains(info, "aof_rewrite_scheduled:0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("BGREWRITEAOF did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}
	conn := c.Conn()
	defer conn.Close()
	for _, cmd := range [][]any{
		{"SET", "after:1", "v"},
		{"MULTI"}, {"INCR", "after:counter"}, {"RPUSH", "after:list", "a", "b"}, {"EXEC"},
		{"SELECT", 7}, {"HSET", "after:h", "f", "v"}, {"PEXPIREAT", "after:h", 4102444800000},
		{"SELECT", 0}, {"DEL", "after:1"},
	} {
		if err := conn.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	want := debugDigest(t, src)
	dir := filepath.Join(src.Dir(), "appendonlydir")
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	r := redkit(t, nil, "convert", dir, "--to", "resp", "-q").want(t, 0)
	dst := pipeInto(t, []byte(r.stdout))
	if got := debugDigest(t, dst); got != want {
		t.Errorf("multi-part AOF -> RESP replayed with DEBUG DIGEST %s, want %s", got, want)
	}

	// AOF -> RDB compaction: the commands are replayed into a keyspace.
	out := t.TempDir()
	redkit(t, nil, "convert", dir, "--to", "rdb", "-q", "-o", filepath.Join(out, "compact.rdb")).want(t, 0)
	loaded := redistest.Start(t, redistest.Options{Config: []string{"dir " + out, "dbfilename compact.rdb"}})
	if got := debugDigest(t, loaded); got != want {
		t.Errorf("multi-part AOF -> RDB loaded with DEBUG DIGEST %s, want %s", got, want)
	}
}

// TestConvertPlainAOFToRDB compacts a plain AOF (aof-use-rdb-preamble no,
// so the base is RESP too) into an RDB and, through --replay, an RDB
// whose preamble is followed by commands.
func TestConvertPlainAOFToRDB(t *testing.T) {
	for _, preamble := range []string{"no", "yes"} {
		t.Run("preamble-"+preamble, func(t *testing.T) {
			src := redistest.Start(t, redistest.Options{Config: []string{"appendonly yes", "aof-use-rdb-preamble " + preamble}})
			ctx := context.Background()
			if err := redistest.FillMixed(ctx, src.Client(), 1); err != nil {
				t.Fatal(err)
			}
			if err := src.Client().Do(ctx, "SET", "last", "write").Err(); err != nil {
				t.Fatal(err)
			}
			want := debugDigest(t, src)
			out := t.TempDir()
			args := []string{"convert", filepath.Join(src.Dir(), "appendonlydir"), "--to", "rdb", "-q", "-o", filepath.Join(out, "compact.rdb")}
			redkit(t, nil, args...).want(t, 0)
			loaded := redistest.Start(t, redistest.Options{Config: []string{"dir " + out, "dbfilename compact.rdb"}})
			if got := debugDigest(t, loaded); got != want {
				t.Errorf("AOF -> RDB loaded with DEBUG DIGEST %s, want %s", got, want)
			}
		})
	}
}
