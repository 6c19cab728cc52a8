package aof

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// corpusDir is the shared corpus of real dumps and AOFs.
const corpusDir = "../../shared/corpus"

// needCorpus skips the test when the corpus is absent, unless CI is set.
func needCorpus(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("corpus missing in CI: %v", err)
		}
		t.Skipf("corpus not found at %s: %v", corpusDir, err)
	}
}

// readAll reads every entry of r, draining RDB parts, and returns the
// commands as strings (with "@db" and tx marks), the RDB key count and
// the number of RDB parts.
type summary struct {
	commands, keys, rdbParts int
	dbs                      map[int]int
	ts                       int64
	lines                    []string
}

func readAll(t *testing.T, r *Reader) summary {
	t.Helper()
	s := summary{dbs: map[int]int{}}
	for {
		e, err := r.Next()
		if err == io.EOF {
			return s
		}
		if err != nil {
			t.Fatalf("entry %d: %v", s.commands, err)
		}
		switch e.Kind {
		case KindRDB:
			s.rdbParts++
			for {
				rec, err := e.RDB.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s: rdb: %v", e.File, err)
				}
				if rec.Kind == rdb.KindKey {
					s.keys++
				}
			}
		case KindCommand:
			s.commands++
			s.dbs[e.DB]++
			if e.Timestamp != 0 {
				s.ts = e.Timestamp
			}
			s.lines = append(s.lines, fmt.Sprintf("%d %d %q", e.DB, e.Tx, e.Args))
		}
	}
}

func TestCorpus(t *testing.T) {
	needCorpus(t)
	paths, _ := filepath.Glob(filepath.Join(corpusDir, "*/*.aof"))
	dirs, _ := filepath.Glob(filepath.Join(corpusDir, "*/appendonlydir"))
	dirs2, _ := filepath.Glob(filepath.Join(corpusDir, "*/*/appendonlydir"))
	dirs3, _ := filepath.Glob(filepath.Join(corpusDir, "*/*/*/appendonlydir"))
	manifests, _ := filepath.Glob(filepath.Join(corpusDir, "*/*/appendonlydir/*.manifest"))
	paths = append(append(append(append(paths, dirs...), dirs2...), dirs3...), manifests...)
	if len(paths) < 10 {
		t.Fatalf("found only %d AOFs in the corpus", len(paths))
	}
	for _, p := range paths {
		name, _ := filepath.Rel(corpusDir, p)
		t.Run(name, func(t *testing.T) {
			r, err := Open(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			s := readAll(t, r)
			t.Logf("%d commands (per db %v), %d RDB parts with %d keys, last #TS %d", s.commands, s.dbs, s.rdbParts, s.keys, s.ts)
			if s.commands == 0 && s.rdbParts == 0 {
				t.Errorf("nothing read")
			}
		})
	}
}

// cmds writes commands as RESP, "#" lines as they are.
func cmds(lines ...string) string {
	var b bytes.Buffer
	w := NewWriter(&b)
	for _, l := range lines {
		if strings.HasPrefix(l, "#") {
			w.Flush()
			b.WriteString(l + "\r\n")
			continue
		}
		var args [][]byte
		for _, a := range strings.Fields(l) {
			args = append(args, []byte(a))
		}
		w.WriteCommand(args...)
	}
	w.Flush()
	return b.String()
}

func TestReaderCommands(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // db, tx, timestamp, args
	}{
		{
			name: "select consumed",
			in:   cmds("SET a 1", "SELECT 3", "SET b 2", "select 0", "DEL a"),
			want: []string{`0 0 0 ["SET" "a" "1"]`, `3 0 0 ["SET" "b" "2"]`, `0 0 0 ["DEL" "a"]`},
		},
		{
			name: "transaction marked, select inside",
			in:   cmds("MULTI", "SET a 1", "SELECT 2", "INCR n", "EXEC", "PING"),
			want: []string{`0 1 0 ["MULTI"]`, `0 2 0 ["SET" "a" "1"]`, `2 2 0 ["INCR" "n"]`, `2 3 0 ["EXEC"]`, `2 0 0 ["PING"]`},
		},
		{
			name: "timestamps",
			in:   cmds("#TS:1700000000", "SET a 1", "#other annotation", "#TS:1700000005", "SET b 2"),
			want: []string{`0 0 1700000000 ["SET" "a" "1"]`, `0 0 1700000005 ["SET" "b" "2"]`},
		},
		{name: "empty", in: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in))
			var got []string
			for {
				e, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix([]byte(tt.in[e.Offset:]), []byte("*")) {
					t.Errorf("offset %d is not at a command", e.Offset)
				}
				got = append(got, fmt.Sprintf("%d %d %d %q", e.DB, e.Tx, e.Timestamp, e.Args))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if _, off := r.ValidOffset(); off != int64(len(tt.in)) {
				t.Errorf("ValidOffset = %d, want %d", off, len(tt.in))
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	good := cmds("SET a 1")
	tests := []struct {
		name      string
		in        string
		want      error
		wantValid int64
	}{
		{"truncated command", good + cmds("SET b 2")[:10], io.ErrUnexpectedEOF, int64(len(good))},
		{"open transaction", good + cmds("MULTI", "SET b 2"), io.ErrUnexpectedEOF, int64(len(good))},
		{"truncated in transaction", good + cmds("MULTI", "SET b 2")[:20], io.ErrUnexpectedEOF, int64(len(good))},
		{"truncated annotation", good + "#TS:17", io.ErrUnexpectedEOF, int64(len(good))},
		{"nested multi", good + cmds("MULTI", "MULTI"), ErrMulti, int64(len(good))},
		{"exec without multi", good + cmds("EXEC"), ErrMulti, int64(len(good))},
		{"bad select", good + cmds("SELECT x"), ErrProtocol, int64(len(good))},
		{"select without db", good + cmds("SELECT"), ErrProtocol, int64(len(good))},
		{"bad timestamp", good + "#TS:soon\r\n", ErrProtocol, int64(len(good))},
		{"inline", good + "SET a 1\r\n", ErrProtocol, int64(len(good))},
		{"long annotation", good + "#" + strings.Repeat("x", 2000) + "\r\n", ErrProtocol, int64(len(good))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in))
			var err error
			for err == nil {
				_, err = r.Next()
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if _, err2 := r.Next(); err2 != err {
				t.Errorf("error not sticky: then %v", err2)
			}
			if _, off := r.ValidOffset(); off != tt.wantValid {
				t.Errorf("ValidOffset = %d, want %d", off, tt.wantValid)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()
	if _, err := Open(ctx, filepath.Join(dir, "none.aof")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open(ctx, dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dir without manifest: %v", err)
	}
	m := write("a.manifest", "file missing.aof seq 1 type i\n")
	if _, err := Open(ctx, m); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("manifest naming a missing file: %v", err)
	}
	write("b.manifest", "file x.aof seq 1 type h\n")
	if _, err := Open(ctx, dir); !errors.Is(err, ErrManifest) {
		t.Errorf("dir with two manifests: %v", err)
	}
	if _, err := Open(ctx, filepath.Join(dir, "b.manifest")); !errors.Is(err, ErrManifest) {
		t.Errorf("manifest with history only: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Open(cctx, m); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

// TestOpenMultiPart builds a multi-part AOF with an AOF base, history and
// two incr files, the last one truncated inside a transaction.
func TestOpenMultiPart(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"x.aof.manifest":   "file x.aof.2.base.aof seq 2 type b\nfile x.aof.1.incr.aof seq 1 type h\nfile x.aof.2.incr.aof seq 2 type i\nfile x.aof.3.incr.aof seq 3 type i\n",
		"x.aof.1.incr.aof": "garbage that is never read",
		"x.aof.2.base.aof": cmds("SELECT 1", "SET a 1"),
		"x.aof.2.incr.aof": cmds("SELECT 4", "SET b 2"),
		"x.aof.3.incr.aof": cmds("SET c 3", "MULTI", "SET d 4"),
	}
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	for {
		e, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("got %v, want a truncation", err)
			}
			break
		}
		got = append(got, fmt.Sprintf("%s@%d db%d %q", e.File, e.Offset, e.DB, e.Args))
	}
	want := []string{
		`x.aof.2.base.aof@23 db1 ["SET" "a" "1"]`,
		`x.aof.2.incr.aof@23 db4 ["SET" "b" "2"]`,
		`x.aof.3.incr.aof@0 db0 ["SET" "c" "3"]`,
		`x.aof.3.incr.aof@27 db0 ["MULTI"]`,
		`x.aof.3.incr.aof@42 db0 ["SET" "d" "4"]`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if f, off := r.ValidOffset(); f != "x.aof.3.incr.aof" || off != 27 {
		t.Errorf("ValidOffset = %s %d, want x.aof.3.incr.aof 27", f, off)
	}
}

// TestPreambleStream reads an RDB written by redis-server followed by a
// RESP tail, from memory, leaving the RDB part unread.
func TestPreambleStream(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	for i := range 10 {
		if _, err := srv.Do(ctx, "SET", fmt.Sprint("k", i), i); err != nil {
			t.Fatal(err)
		}
	}
	dump, err := os.ReadFile(srv.Save(t))
	if err != nil {
		t.Fatal(err)
	}
	tail := cmds("SELECT 2", "SET x y")
	for _, drain := range []bool{false, true} {
		r := NewReader(bytes.NewReader(append(dump[:len(dump):len(dump)], tail...)))
		s := summary{}
		e, err := r.Next()
		if err != nil || e.Kind != KindRDB {
			t.Fatalf("first entry %+v, %v; want the RDB part", e, err)
		}
		if drain {
			s = readAll(t, r) // counts nothing of the RDB part, already returned
		}
		e, err = r.Next()
		if drain {
			if err != io.EOF {
				t.Fatalf("after reading all: %v", err)
			}
			if s.commands != 1 {
				t.Fatalf("read %d commands, want 1", s.commands)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fmt.Sprintf("%d %d %q", e.Offset, e.DB, e.Args), fmt.Sprintf("%d 2 [\"SET\" \"x\" \"y\"]", len(dump)+23); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

// writeLive writes keys of every type into several databases through one
// connection, with expiries and transactions (one switching database
// inside), tagging keys with phase.
func writeLive(ctx context.Context, t *testing.T, srv *redistest.Server, phase string) {
	t.Helper()
	conn := srv.Client().Conn()
	defer conn.Close()
	do := func(args ...any) {
		t.Helper()
		if err := conn.Do(ctx, args...).Err(); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("%v: %v", args, err)
		}
	}
	for _, db := range []int{0, 1, 5} {
		do("SELECT", db)
		k := func(s string) string { return fmt.Sprintf("%s:%s:%d", phase, s, db) }
		do("SET", k("str"), "v")
		do("INCRBY", k("n"), 42)
		do("APPEND", k("str"), "more")
		do("SET", k("ttl"), "x", "EX", 3600)
		do("RPUSH", k("list"), "a", "b", "c")
		do("LPOP", k("list"))
		do("SADD", k("set"), "a", "b", 1, 2)
		do("ZADD", k("zset"), 1.5, "a", 2, "b")
		do("HSET", k("hash"), "f", "v", "g", "w")
		do("XADD", k("stream"), "*", "f", "v")
		do("EXPIRE", k("hash"), 7200)
		do("PFADD", k("hll"), "a", "b")
		do("SETBIT", k("bits"), 100, 1)
	}
	do("SELECT", 0)
	do("MULTI")
	do("SET", phase+":tx", "1")
	do("INCR", phase+":txn")
	do("EXEC")
	// Redis 7 propagates a transaction of one write without MULTI/EXEC:
	// this one writes to two databases.
	do("MULTI")
	do("SET", phase+":tx3", "3")
	do("SELECT", 2)
	do("SET", phase+":tx2", "2")
	do("EXEC")
}

// rewriteAOF runs BGREWRITEAOF and waits until it is done.
func rewriteAOF(ctx context.Context, t *testing.T, srv *redistest.Server) {
	t.Helper()
	if _, err := srv.Do(ctx, "BGREWRITEAOF"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		info, err := srv.Client().Info(ctx, "persistence").Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info, "aof_rewrite_in_progress:0") && strings.Contains(info, "aof_rewrite_scheduled:0") {
			if !strings.Contains(info, "aof_last_bgrewrite_status:ok") {
				t.Fatalf("rewrite failed:\n%s", info)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("BGREWRITEAOF did not finish in 30s")
}

// keyCount is the number of keys in all databases.
func keyCount(ctx context.Context, t *testing.T, srv *redistest.Server) int {
	t.Helper()
	info, err := srv.Client().Info(ctx, "keyspace").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(info, "\n") {
		var db, keys int
		if _, err := fmt.Sscanf(line, "db%d:keys=%d", &db, &keys); err == nil {
			n += keys
		}
	}
	return n
}

// liveAOF fills a server with appendonly on, rewrites its AOF, writes
// more, and opens its appendonlydir.
func liveAOF(t *testing.T, config ...string) (*redistest.Server, *Reader, int) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{Config: append([]string{"appendonly yes", "appendfsync always"}, config...)})
	if err := redistest.FillMixed(ctx, srv.Client(), 1); err != nil {
		t.Fatal(err)
	}
	writeLive(ctx, t, srv, "before")
	rewriteAOF(ctx, t, srv)
	baseKeys := keyCount(ctx, t, srv)
	writeLive(ctx, t, srv, "after")
	r, err := Open(ctx, filepath.Join(srv.Dir(), "appendonlydir"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return srv, r, baseKeys
}

// checkIncr checks what writeLive wrote after the rewrite came through.
func checkIncr(t *testing.T, s summary) {
	t.Helper()
	text := strings.Join(s.lines, "\n")
	for _, want := range []string{
		`5 0 ["SET" "after:str:5" "v"]`,
		`1 0 ["RPUSH" "after:list:1" "a" "b" "c"]`,
		`0 1 ["MULTI"]`,
		`0 2 ["SET" "after:tx" "1"]`,
		`2 2 ["SET" "after:tx2" "2"]`,
		`2 3 ["EXEC"]`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %s among the commands read:\n%s", want, text)
		}
	}
	if strings.Contains(text, `"before:`) {
		t.Errorf("commands from before the rewrite in the incr file")
	}
}

func TestLivePreamble(t *testing.T) {
	_, r, baseKeys := liveAOF(t)
	var rdbKeys int
	e, err := r.Next()
	if err != nil || e.Kind != KindRDB || !strings.HasSuffix(e.File, ".base.rdb") {
		t.Fatalf("first entry %+v, %v; want the base RDB", e, err)
	}
	for {
		rec, err := e.RDB.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == rdb.KindKey {
			rdbKeys++
		}
	}
	if rdbKeys != baseKeys {
		t.Errorf("base RDB has %d keys, the server had %d", rdbKeys, baseKeys)
	}
	s := readAll(t, r)
	t.Logf("base: %d keys; incr: %d commands in dbs %v", rdbKeys, s.commands, s.dbs)
	checkIncr(t, s)
}

func TestLivePlainBase(t *testing.T) {
	ctx := context.Background()
	src, r, _ := liveAOF(t, "aof-use-rdb-preamble no")
	if m := r.Manifest(); m == nil || m.Base == nil || !strings.HasSuffix(m.Base.Name, ".base.aof") || len(m.Incrs) != 1 {
		t.Fatalf("manifest %+v, want an AOF base and one incr", m)
	}
	// Replay every command, base and incr, into an empty server.
	dst := redistest.Start(t, redistest.Options{})
	conn := dst.Client().Conn()
	defer conn.Close()
	pipe := conn.Pipeline()
	db, n, files := 0, 0, map[string]int{}
	flush := func() {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("replay: %v", err)
		}
	}
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != KindCommand {
			t.Fatalf("entry of kind %d in an AOF without RDB", e.Kind)
		}
		if e.DB != db {
			pipe.Do(ctx, "SELECT", e.DB)
			db = e.DB
		}
		args := make([]any, len(e.Args))
		for i, a := range e.Args {
			args[i] = string(a)
		}
		pipe.Do(ctx, args...)
		n++
		files[e.File]++
		if pipe.Len() >= 500 && e.Tx == TxNone {
			flush()
		}
	}
	flush()
	t.Logf("replayed %d commands: %v", n, files)
	if got, want := keyCount(ctx, t, dst), keyCount(ctx, t, src); got != want {
		t.Errorf("replayed %d keys, source has %d", got, want)
	}
	got, err := dst.Do(ctx, "DEBUG", "DIGEST")
	if err != nil {
		t.Fatal(err)
	}
	want, err := src.Do(ctx, "DEBUG", "DIGEST")
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("DEBUG DIGEST of the replay %v, source %v", got, want)
	}
}

func TestLiveTimestamps(t *testing.T) {
	start := time.Now().Unix()
	_, r, _ := liveAOF(t, "aof-timestamp-enabled yes", "aof-use-rdb-preamble no")
	var base, incr int64
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Timestamp < start-1 || e.Timestamp > time.Now().Unix()+1 {
			t.Fatalf("%s@%d: timestamp %d, want one from %d on", e.File, e.Offset, e.Timestamp, start)
		}
		if strings.Contains(e.File, ".base.") {
			base = e.Timestamp
		} else {
			incr = e.Timestamp
		}
	}
	t.Logf("last #TS: base %d, incr %d", base, incr)
	if base == 0 || incr == 0 {
		t.Errorf("no timestamps in the base or the incr file")
	}
}

// TestDumpTrailingBytes: a stream that is an RDB dump followed by bytes
// that start no command (redis-cli --rdb - writes its 40-byte EOF marker
// after the dump) ends after the checksum, as Redis loads such a dump;
// a multi-part AOF's base file gets no such leniency, as Redis reads on
// after its RDB for commands.
func TestDumpTrailingBytes(t *testing.T) {
	var buf bytes.Buffer
	w, err := rdb.NewWriter(&buf, rdb.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteKey(&rdb.KeyValue{Key: []byte("k"), Type: rdb.TypeString, ExpireAt: rdb.NoExpiry, Idle: -1, Freq: -1,
		Elements: func(fn func(*rdb.Element) error) error { return fn(&rdb.Element{Member: []byte("v")}) }}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	dump := buf.Bytes()
	marker := []byte("0123456789abcdef0123456789abcdef01234567")
	data := append(bytes.Clone(dump), marker...)

	r := NewReader(bytes.NewReader(data))
	if s := readAll(t, r); s.keys != 1 || s.commands != 0 {
		t.Errorf("read %+v, want the one key", s)
	}
	if off, ok := r.Trailing(); !ok || off != int64(len(dump)) {
		t.Errorf("Trailing() = %d, %v; want %d, true", off, ok, len(dump))
	}
	r = NewReader(bytes.NewReader(dump))
	readAll(t, r)
	if _, ok := r.Trailing(); ok {
		t.Errorf("Trailing() reports bytes after a dump that has none")
	}

	m := &Manifest{Base: &ManifestFile{Name: "base.rdb", Seq: 1, Type: TypeBase}}
	r, err = NewMultiReader(context.Background(), m, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		e, err := r.Next()
		if err == nil && e.Kind == KindRDB {
			continue
		}
		if err == nil || err == io.EOF {
			t.Fatalf("a base file with bytes after its RDB read without error")
		}
		break
	}
}
