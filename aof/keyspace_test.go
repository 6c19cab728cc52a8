package aof

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// aofSource starts a redis-server writing a plain multi-part AOF.
func aofSource(t *testing.T, extra ...string) *redistest.Server {
	t.Helper()
	return redistest.Start(t, redistest.Options{Config: append([]string{
		"appendonly yes", "aof-use-rdb-preamble no", "appendfsync always",
	}, extra...)})
}

// replayDir replays the AOF in dir into a new Keyspace.
func replayDir(t *testing.T, dir string) *Keyspace {
	t.Helper()
	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ks := NewKeyspace(KeyspaceOptions{})
	if err := ks.Replay(r); err != nil {
		t.Fatalf("replay: %v", err)
	}
	return ks
}

// writeRDB writes the keyspace to dir/x.rdb.
func writeRDB(t *testing.T, ks *Keyspace, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "x.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := rdb.NewWriter(f, rdb.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Functions(w.WriteFunction); err != nil {
		t.Fatal(err)
	}
	if err := ks.Keys(w.WriteKey); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// loaded starts a server on the keyspace written as an RDB.
func loaded(t *testing.T, ks *Keyspace) *redistest.Server {
	t.Helper()
	dir := t.TempDir()
	writeRDB(t, ks, dir)
	return redistest.Start(t, redistest.Options{Config: []string{"dir " + dir, "dbfilename x.rdb"}})
}

// reloaded starts a server that loads the source's AOF itself: the
// reference for what the digest does not cover (stream groups), which
// Redis does not keep exactly across an AOF reload either (entries-read).
func reloaded(t *testing.T, src *redistest.Server) *redistest.Server {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-r", filepath.Join(src.Dir(), "appendonlydir"), dir).CombinedOutput(); err != nil {
		t.Fatalf("copy aof: %v %s", err, out)
	}
	return redistest.Start(t, redistest.Options{Config: []string{"dir " + dir, "appendonly yes", "aof-use-rdb-preamble no"}})
}

func digest(t *testing.T, s *redistest.Server) string {
	t.Helper()
	v, err := s.Do(context.Background(), "DEBUG", "DIGEST")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(v)
}

// streamInfo returns XINFO STREAM key FULL without what depends on the
// node layout or on the clock of the loading server.
func streamInfo(t *testing.T, s *redistest.Server, db int, key string) string {
	t.Helper()
	ctx := context.Background()
	c := s.Client().Conn()
	defer c.Close()
	if err := c.Do(ctx, "SELECT", db).Err(); err != nil {
		t.Fatal(err)
	}
	v, err := c.Do(ctx, "XINFO", "STREAM", key, "FULL", "COUNT", 0).Result()
	if err != nil {
		t.Fatalf("XINFO STREAM %q: %v", key, err)
	}
	return fmt.Sprint(scrub(v))
}

// scrub drops from XINFO STREAM FULL (a RESP3 map or a RESP2 flat array)
// what depends on how the server packed the entries (radix tree sizes)
// and what no command can set (consumers' seen and active times).
func scrub(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := map[any]any{}
		for k, e := range x {
			if s, ok := k.(string); ok && unsettable[s] {
				continue
			}
			m[k] = scrub(e)
		}
		return m
	case []any:
		out := make([]any, 0, len(x))
		for i := 0; i < len(x); i++ {
			if k, ok := x[i].(string); ok && i+1 < len(x) && unsettable[k] {
				i++
				continue
			}
			out = append(out, scrub(x[i]))
		}
		return out
	}
	return v
}

var unsettable = map[string]bool{"radix-tree-keys": true, "radix-tree-nodes": true, "seen-time": true, "active-time": true}

// compareStreams compares every stream of the keyspace between want and got.
func compareStreams(t *testing.T, ks *Keyspace, want, got *redistest.Server) int {
	t.Helper()
	n := 0
	err := ks.Keys(func(kv *rdb.KeyValue) error {
		if kv.Type != rdb.TypeStream {
			return nil
		}
		n++
		w, g := streamInfo(t, want, kv.DB, string(kv.Key)), streamInfo(t, got, kv.DB, string(kv.Key))
		if w != g {
			t.Errorf("XINFO STREAM %q FULL (db %d):\n got %s\nwant %s", kv.Key, kv.DB, g, w)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// judge replays the source's AOF and compares what Redis loads from the
// keyspace with the source.
func judge(t *testing.T, src *redistest.Server) (*Keyspace, *redistest.Server) {
	t.Helper()
	// Under appendfsync everysec Redis postpones writing its AOF buffer
	// while a background fsync is slow (up to 2 s, on a busy machine): the
	// last commands may not be in the file yet. With always, the event
	// loop that answers this CONFIG SET writes the buffer before replying.
	if _, err := src.Do(context.Background(), "CONFIG", "SET", "appendfsync", "always"); err != nil {
		t.Fatal(err)
	}
	ks := replayDir(t, filepath.Join(src.Dir(), "appendonlydir"))
	dst := loaded(t, ks)
	want, got := digest(t, src), digest(t, dst)
	if want != got {
		t.Errorf("DEBUG DIGEST: got %s, want %s (%d keys replayed)", got, want, ks.Len())
	}
	t.Logf("digest %s, %d keys", got, ks.Len())
	return ks, dst
}

func run(t *testing.T, s *redistest.Server, script [][]any) {
	t.Helper()
	ctx := context.Background()
	c := s.Client().Conn()
	defer c.Close()
	for _, args := range script {
		if strings.EqualFold(fmt.Sprint(args[0]), "MULTI") {
			// MULTI ... EXEC on the pinned connection.
			if err := c.Do(ctx, args...).Err(); err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			continue
		}
		if err := c.Do(ctx, args...).Err(); err != nil && !strings.Contains(err.Error(), "nil") && !strings.HasPrefix(fmt.Sprint(args[0]), "!") {
			// Errors are part of some scripts: Redis does not propagate them.
			t.Logf("%v: %v", args, err)
		}
	}
}

var familyScripts = map[string][][]any{
	"strings": {
		{"SET", "s1", "hello"}, {"SET", "s2", "v", "EX", 10000}, {"SET", "s2", "w", "KEEPTTL"},
		{"SET", "s3", "x", "PX", 5000000, "NX"}, {"SET", "s3", "y", "NX"}, {"SET", "s3", "z", "XX", "GET"},
		{"SET", "s4", "a", "EXAT", time.Now().Add(time.Hour).Unix()}, {"SET", "s5", "b", "PXAT", time.Now().Add(time.Hour).UnixMilli()},
		{"SETNX", "s6", "1"}, {"SETNX", "s6", "2"}, {"SETEX", "s7", 3600, "seven"}, {"PSETEX", "s8", 3600000, "eight"},
		{"MSET", "m1", "1", "m2", "2"}, {"MSETNX", "m2", "x", "m3", "y"}, {"MSETNX", "m4", "x", "m5", "y"},
		{"APPEND", "s1", " world"}, {"APPEND", "new", "abc"}, {"SETRANGE", "s1", 20, "far"}, {"SETRANGE", "sr", 3, "pad"},
		{"SETRANGE", "empty", 5, ""},
		{"INCR", "n"}, {"INCRBY", "n", 41}, {"DECR", "n"}, {"DECRBY", "n", -10}, {"INCRBY", "m1", 9223372036854775806},
		{"INCRBYFLOAT", "f", "10.5"}, {"INCRBYFLOAT", "f", "0.1"}, {"INCRBYFLOAT", "f", "-5.0e3"}, {"INCRBYFLOAT", "f2", "3.0"},
		{"INCRBYFLOAT", "f3", "1.1"}, {"INCRBYFLOAT", "f3", "2.2"}, {"INCRBYFLOAT", "f4", "5.0e3"}, {"INCRBYFLOAT", "f4", "1e-7"},
		{"GETSET", "s6", "gs"}, {"GETDEL", "m3"}, {"GETEX", "s1", "EX", 7200}, {"GETEX", "s7", "PERSIST"},
		{"SETBIT", "bits", 7, 1}, {"SETBIT", "bits", 100, 1}, {"SETBIT", "bits", 7, 0}, {"SETBIT", "bits", 0, 1},
		{"SET", "gone", "x"}, {"DEL", "gone", "nothing"}, {"SET", "gone2", "x"}, {"UNLINK", "gone2"},
		{"EXPIRE", "m1", 5000}, {"PEXPIRE", "m2", 5000000}, {"EXPIREAT", "s5", time.Now().Add(2 * time.Hour).Unix()},
		{"EXPIRE", "m1", 9000, "GT"}, {"EXPIRE", "m1", 10, "NX"}, {"PERSIST", "m2"}, {"EXPIRE", "m2", 100, "XX"},
		{"EXPIRE", "m2", 100, "LT"},
		{"RENAME", "s8", "s8b"}, {"RENAMENX", "s8b", "s1"}, {"RENAMENX", "s8b", "s9"},
		{"MOVE", "s9", 1}, {"COPY", "s1", "s1copy"}, {"COPY", "s1", "s1copy", "DB", 2}, {"COPY", "s2", "s1copy", "REPLACE"},
		{"SELECT", 3}, {"SET", "db3", "x"}, {"SWAPDB", 3, 4}, {"SET", "db3b", "y"}, {"SELECT", 5}, {"SET", "f5", 1}, {"FLUSHDB"}, {"SELECT", 0},
		{"MULTI"}, {"SET", "tx1", "a"}, {"INCR", "tx2"}, {"LPUSH", "tx1", "wrongtype"}, {"APPEND", "tx1", "b"}, {"EXEC"},
		{"SET", "big", strings.Repeat("x", 100)}, {"SET", "int", "12345"},
	},
	"lists": {
		{"RPUSH", "l", "a", "b", "c", "d", "e", "f"}, {"LPUSH", "l", "z", "y"}, {"LPUSHX", "nol", "x"}, {"RPUSHX", "l", "g", "h"},
		{"LINSERT", "l", "BEFORE", "c", "bc"}, {"LINSERT", "l", "AFTER", "h", "hi"}, {"LINSERT", "l", "AFTER", "nope", "x"},
		{"LSET", "l", -1, "last"}, {"LSET", "l", 0, "first"},
		{"RPUSH", "r", "x", "y", "x", "z", "x", "x", "y"}, {"LREM", "r", 2, "x"}, {"LREM", "r", -1, "x"}, {"LREM", "r", 0, "y"},
		{"RPUSH", "t", 1, 2, 3, 4, 5, 6, 7, 8, 9}, {"LTRIM", "t", 2, -3}, {"RPUSH", "t2", 1, 2, 3}, {"LTRIM", "t2", 5, 10},
		{"LPOP", "l"}, {"RPOP", "l", 2}, {"LPOP", "l", 0},
		{"RPUSH", "src", "1", "2", "3"}, {"RPOPLPUSH", "src", "dst"}, {"LMOVE", "src", "dst", "LEFT", "RIGHT"}, {"LMOVE", "dst", "dst", "LEFT", "RIGHT"},
		{"LMOVE", "src", "src2", "RIGHT", "LEFT"}, {"BLPOP", "src2", "dst", 1}, {"BLMOVE", "dst", "d3", "RIGHT", "LEFT", 1},
		{"LMPOP", 2, "nothing", "d3", "RIGHT", "COUNT", 5},
		{"RPUSH", "big", strings.Repeat("a", 300), strings.Repeat("b", 70)},
	},
	"sets": {
		{"SADD", "s", "a", "b", "c", "d", 1, 2, 3}, {"SREM", "s", "a", "zz"}, {"SADD", "i", 1, 2, 3, 4, 5, 100000000000},
		{"SMOVE", "s", "s2", "b"}, {"SMOVE", "s", "s", "c"}, {"SMOVE", "i", "s2", 5},
		{"SADD", "one", "x"}, {"SPOP", "one"}, {"SADD", "two", "x", "y", "z"}, {"SPOP", "two", 2}, {"SPOP", "s", 1},
		{"SADD", "u1", "a", "b", "c"}, {"SADD", "u2", "b", "c", "d"}, {"SINTERSTORE", "inter", "u1", "u2"},
		{"SUNIONSTORE", "union", "u1", "u2", "none"}, {"SDIFFSTORE", "diff", "u1", "u2"}, {"SINTERSTORE", "u1", "u1", "none"},
		{"SDIFFSTORE", "u2", "u2", "u2"},
	},
	"hashes": {
		{"HSET", "h", "a", "1", "b", "2", "c", "x"}, {"HMSET", "h", "d", "4"}, {"HSETNX", "h", "a", "9"}, {"HSETNX", "h", "e", "5"},
		{"HDEL", "h", "c", "nope"}, {"HINCRBY", "h", "a", 10}, {"HINCRBY", "h", "new", -3},
		{"HINCRBYFLOAT", "h", "b", "0.5"}, {"HINCRBYFLOAT", "h", "fl", "1.1"}, {"HINCRBYFLOAT", "h", "fl", "2.2"},
		{"HSET", "h2", "x", "y"}, {"HDEL", "h2", "x"}, {"HSET", "big", "f", strings.Repeat("v", 100)},
	},
	"zsets": {
		{"ZADD", "z", 1, "a", 2, "b", 3, "c", 3, "bb", "-inf", "min", "+inf", "max"}, {"ZADD", "z", "NX", 10, "a", 10, "d"},
		{"ZADD", "z", "XX", "CH", 5, "a", 5, "nope"}, {"ZADD", "z", "GT", 4, "a", 6, "b"}, {"ZADD", "z", "LT", 1, "c"},
		{"ZADD", "z", "INCR", 2.5, "a"}, {"ZINCRBY", "z", "-1.25", "d"}, {"ZINCRBY", "z", 1, "new"}, {"ZREM", "z", "bb", "x"},
		{"ZADD", "r", 1, "a", 2, "b", 3, "c", 4, "d", 5, "e", 6, "f"}, {"ZREMRANGEBYSCORE", "r", "(1", 2},
		{"ZREMRANGEBYRANK", "r", -1, -1}, {"ZADD", "lex", 0, "a", 0, "b", 0, "c", 0, "d", 0, "e"}, {"ZREMRANGEBYLEX", "lex", "[b", "(d"},
		{"ZADD", "p", 1, "a", 2, "b", 3, "c", 4, "d"}, {"ZPOPMIN", "p"}, {"ZPOPMAX", "p", 2}, {"BZPOPMIN", "p", 1},
		{"ZADD", "u1", 1, "a", 2, "b", 3, "c"}, {"ZADD", "u2", 10, "b", 20, "c", 30, "d"}, {"SADD", "us", "a", "d", "e"},
		{"ZUNIONSTORE", "zu", 3, "u1", "u2", "us", "WEIGHTS", 1, 2, 3}, {"ZINTERSTORE", "zi", 2, "u1", "u2", "AGGREGATE", "MAX"},
		{"ZDIFFSTORE", "zd", 2, "u1", "u2"}, {"ZUNIONSTORE", "zmin", 2, "u1", "u2", "AGGREGATE", "MIN"},
		{"ZADD", "rs", 1, "a", 2, "b", 3, "c", 4, "d", 5, "e"}, {"ZRANGESTORE", "rs1", "rs", 1, 3},
		{"ZRANGESTORE", "rs2", "rs", "(2", "+inf", "BYSCORE", "LIMIT", 1, 2}, {"ZRANGESTORE", "rs3", "rs", "[e", "-", "BYLEX", "REV"},
		{"ZRANGESTORE", "rs4", "rs", 0, 1, "REV"}, {"ZADD", "fl", "0.1", "x", "1e300", "y", "-0", "z"},
		{"ZMPOP", 1, "rs", "MAX", "COUNT", 2},
	},
	"streams": {
		{"XADD", "x", "1-1", "f", "v"}, {"XADD", "x", "1-2", "f", "v2", "g", "w"}, {"XADD", "x", "*", "a", "b"},
		{"XADD", "x", "MAXLEN", "=", 10, "*", "c", "d"}, {"XADD", "x", "MAXLEN", "~", 2, "*", "e", "f"},
		{"XADD", "nomk", "NOMKSTREAM", "*", "a", "b"}, {"XADD", "y", "5-*", "a", "b"}, {"XADD", "y", "5-*", "a", "c"},
		{"XADD", "y", "MINID", 5, "6", "a", "c"}, {"XDEL", "y", "5-1", "9-9"}, {"XDEL", "y", "5-0"},
		{"XGROUP", "CREATE", "x", "g1", "0"}, {"XGROUP", "CREATE", "x", "g2", "$"}, {"XGROUP", "CREATE", "e", "g", "$", "MKSTREAM"},
		{"XREADGROUP", "GROUP", "g1", "alice", "COUNT", 2, "STREAMS", "x", ">"},
		{"XREADGROUP", "GROUP", "g1", "bob", "COUNT", 1, "STREAMS", "x", ">"},
		{"XREADGROUP", "GROUP", "g2", "carol", "NOACK", "STREAMS", "x", ">"}, {"XADD", "x", "*", "late", "1"},
		{"XREADGROUP", "GROUP", "g2", "dave", "NOACK", "STREAMS", "x", ">"},
		{"XACK", "x", "g1", "1-1"}, {"XCLAIM", "x", "g1", "carl", 0, "1-2"}, {"XCLAIM", "x", "g1", "bob", 0, "1-2", "JUSTID"},
		{"XGROUP", "CREATECONSUMER", "x", "g1", "idle"}, {"XGROUP", "CREATECONSUMER", "x", "g1", "gone"},
		{"XGROUP", "DELCONSUMER", "x", "g1", "gone"}, {"XGROUP", "SETID", "x", "g2", "1-1"}, {"XGROUP", "CREATE", "x", "g3", 0},
		{"XGROUP", "DESTROY", "x", "g3"}, {"XAUTOCLAIM", "x", "g1", "eve", 0, "0"},
		{"XADD", "t", "1-1", "a", 1}, {"XADD", "t", "2-1", "a", 2}, {"XADD", "t", "3-1", "a", 3}, {"XTRIM", "t", "MAXLEN", 2},
		{"XADD", "t2", "1-1", "a", 1}, {"XADD", "t2", "2-1", "a", 2}, {"XTRIM", "t2", "MINID", "=", "2-0"}, {"XTRIM", "t2", "MAXLEN", 0},
		{"XADD", "s", "1-1", "a", 1}, {"XSETID", "s", "10-10", "ENTRIESADDED", 5, "MAXDELETEDID", "3-3"},
		{"XADD", "d", "1-1", "a", 1}, {"XADD", "d", "2-1", "a", 1}, {"XGROUP", "CREATE", "d", "g", 0},
		{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "d", ">"}, {"XDEL", "d", "1-1"}, {"XCLAIM", "d", "g", "c2", 0, "1-1", "2-1"},
	},
	"functions": {
		{"FUNCTION", "LOAD", "#!lua name=lib1\nredis.register_function('f1', function() return 1 end)"},
		{"FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('f2', function() return 2 end)"},
		{"FUNCTION", "LOAD", "REPLACE", "#!lua name=lib1\nredis.register_function('f1b', function() return 3 end)"},
		{"FUNCTION", "LOAD", "#!lua name=lib3\nredis.register_function('f3', function() return 3 end)"},
		{"FUNCTION", "DELETE", "lib2"}, {"SET", "k", "v"},
	},
}

func TestKeyspaceFamilies(t *testing.T) {
	for name, script := range familyScripts {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := aofSource(t)
			run(t, src, script)
			ks, dst := judge(t, src)
			if name == "streams" {
				if n := compareStreams(t, ks, reloaded(t, src), dst); n == 0 {
					t.Error("no streams compared")
				}
			}
			if name == "functions" {
				ctx := context.Background()
				want, _ := src.Do(ctx, "FUNCTION", "LIST", "WITHCODE")
				got, _ := dst.Do(ctx, "FUNCTION", "LIST", "WITHCODE")
				if !reflect.DeepEqual(sortedList(got), sortedList(want)) {
					t.Errorf("FUNCTION LIST:\n got %v\nwant %v", got, want)
				}
			}
		})
	}
}

// sortedList orders FUNCTION LIST's libraries, which Redis lists in hash
// table order.
func sortedList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = fmt.Sprint(e)
	}
	sort.Strings(out)
	return out
}

func TestKeyspaceFunctionFlush(t *testing.T) {
	src := aofSource(t)
	run(t, src, [][]any{
		{"FUNCTION", "LOAD", "#!lua name=lib1\nredis.register_function('f1', function() return 1 end)"},
		{"FUNCTION", "FLUSH"}, {"SET", "a", "b"},
	})
	ks, _ := judge(t, src)
	n := 0
	ks.Functions(func([]byte) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d libraries after FUNCTION FLUSH", n)
	}
}

func TestKeyspaceMixed(t *testing.T) {
	if testing.Short() {
		t.Skip("big workload")
	}
	src := aofSource(t, "appendfsync everysec")
	ctx := context.Background()
	if err := redistest.FillMixed(ctx, src.Client(), 1); err != nil {
		t.Fatal(err)
	}
	ks, dst := judge(t, src)
	n := compareStreams(t, ks, reloaded(t, src), dst)
	t.Logf("%d streams compared", n)
}

// TestKeyspaceRewrite replays an RDB base (BGREWRITEAOF with the RDB
// preamble) followed by an incr file.
func TestKeyspaceRewrite(t *testing.T) {
	src := redistest.Start(t, redistest.Options{Config: []string{"appendonly yes", "aof-use-rdb-preamble yes"}})
	ctx := context.Background()
	run(t, src, familyScripts["strings"])
	run(t, src, familyScripts["streams"])
	run(t, src, familyScripts["functions"][:2])
	if _, err := src.Do(ctx, "BGREWRITEAOF"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := src.Client().Info(ctx, "persistence").Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info, "aof_rewrite_in_progress:0") && !strings.Contains(info, "aof_rewrite_scheduled:1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("BGREWRITEAOF did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}
	run(t, src, familyScripts["lists"])
	run(t, src, familyScripts["zsets"])
	run(t, src, [][]any{{"XADD", "x", "*", "after", "rewrite"}, {"INCR", "n"}, {"FUNCTION", "DELETE", "lib2"}})
	ks, dst := judge(t, src)
	compareStreams(t, ks, reloaded(t, src), dst)
}

func apply(ks *Keyspace, ts int64, args ...string) error {
	e := &Entry{Kind: KindCommand, Timestamp: ts, File: "f.aof", Offset: 42}
	for _, a := range args {
		e.Args = append(e.Args, []byte(a))
	}
	return ks.Apply(e)
}

func TestKeyspaceErrors(t *testing.T) {
	tests := []struct {
		args []string
		ts   int64
		want error
	}{
		{[]string{"PFDEBUG", "GETREG", "h"}, 0, ErrUnsupportedCommand},
		{[]string{"EVAL", "return 1", "0"}, 0, ErrUnsupportedCommand},
		{[]string{"EXPIRE", "k", "10"}, 0, ErrNoClock},
		{[]string{"SET", "k", "v", "EX", "10"}, 0, ErrNoClock},
		{[]string{"SET", "k", "v", "EX", "10"}, 1700000000, nil},
		{[]string{"LPUSH", "s", "x"}, 0, ErrRejected},
		{[]string{"INCR", "s"}, 0, ErrRejected},
		{[]string{"SPOP", "set"}, 0, ErrUnsupportedCommand},
		{[]string{"XADD", "x", "*", "a", "b"}, 0, ErrUnsupportedCommand},
	}
	ks := NewKeyspace(KeyspaceOptions{})
	apply(ks, 0, "SET", "s", "str")
	apply(ks, 0, "SADD", "set", "a", "b")
	for _, tt := range tests {
		err := apply(ks, tt.ts, tt.args...)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%v: got %v, want %v", tt.args, err, tt.want)
		}
		var ce *CommandError
		if err != nil && (!errors.As(err, &ce) || ce.File != "f.aof" || ce.Offset != 42 || !strings.Contains(err.Error(), strings.ToUpper(tt.args[0]))) {
			t.Errorf("%v: error %v does not name the command, file and offset", tt.args, err)
		}
	}
}

func TestKeyspaceExpiry(t *testing.T) {
	ks := NewKeyspace(KeyspaceOptions{Now: 1000})
	apply(ks, 0, "SET", "a", "1", "EX", "5")
	apply(ks, 7, "SET", "b", "1", "PX", "5")
	apply(ks, 0, "SET", "c", "1")
	apply(ks, 0, "PEXPIREAT", "c", "1") // in the past: kept, as Redis does while loading
	want := map[string]int64{"a": 6000, "b": 7005, "c": 1}
	ks.Keys(func(kv *rdb.KeyValue) error {
		if kv.ExpireAt != want[string(kv.Key)] {
			t.Errorf("%s: expiry %d, want %d", kv.Key, kv.ExpireAt, want[string(kv.Key)])
		}
		return nil
	})
}

func TestKeyspaceMultiUnclosed(t *testing.T) {
	ks := NewKeyspace(KeyspaceOptions{})
	apply(ks, 0, "SET", "a", "1")
	apply(ks, 0, "MULTI")
	apply(ks, 0, "SET", "b", "1")
	if ks.Len() != 1 || !ks.InTransaction() {
		t.Fatalf("queued command applied before EXEC: %d keys", ks.Len())
	}
	apply(ks, 0, "EXEC")
	if ks.Len() != 2 {
		t.Fatalf("EXEC: %d keys, want 2", ks.Len())
	}
}

func TestFormatLongDouble(t *testing.T) {
	tests := []struct{ cur, incr, want string }{
		{"10.5", "0.1", "10.6"},
		{"0", "1.1", "1.1"},
		{"1.1", "2.2", "3.3"},
		{"5000", "1e-7", "5000.00000009999999984"}, // as redis-server 7.0 replies,
		{"0", "-0", "0"},
		{"3", "1.5e3", "1503"},
		{"0", "0.1", "0.1"},
		{"1e20", "1", "100000000000000000000"},
		{"0.1", "0.2", "0.3"},
	}
	for _, tt := range tests {
		a, _ := parseLongDouble([]byte(tt.cur))
		b, _ := parseLongDouble([]byte(tt.incr))
		s, err := incrLongDouble(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(formatLongDouble(s)); got != tt.want {
			t.Errorf("%s + %s = %s, want %s", tt.cur, tt.incr, got, tt.want)
		}
	}
}
