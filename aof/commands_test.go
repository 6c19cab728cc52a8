package aof

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// farFuture is an absolute expiry (2100-01-01) no test outlives.
const farFuture = int64(4102444800000)

// Both servers evict by LRU so the dump carries idle times and RESTORE
// IDLETIME is exercised.
var serverConfig = []string{"maxmemory-policy allkeys-lru"}

// TestRewriteJudgedByRedis rewrites a dump of every type and encoding
// into commands, pipes them into an empty server with redis-cli --pipe,
// and compares both servers: DEBUG DIGEST, each key's DEBUG DIGEST-VALUE
// and PEXPIRETIME (the digest only tells whether a key expires), FUNCTION
// LIST, and XINFO STREAM FULL for every stream (the digest covers stream
// entries, not groups, consumers or counters).
func TestRewriteJudgedByRedis(t *testing.T) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed")
	}
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: serverConfig})
	fillSource(t, ctx, src)
	dump := src.Save(t)
	want := snapshot(t, ctx, src)

	for _, tc := range []struct {
		name string
		opts RewriteOptions
	}{
		{"commands", RewriteOptions{}},
		{"commands-batch3", RewriteOptions{Batch: 3}},
		{"commands-batchbytes", RewriteOptions{BatchBytes: 100}},
		{"restore-payloads", RewriteOptions{RestorePayloads: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "commands.resp")
			n := rewriteDump(t, dump, file, tc.opts)
			dst := redistest.Start(t, redistest.Options{Config: serverConfig})
			pipe(t, dst, file)
			got := snapshot(t, ctx, dst)
			if got.digest != want.digest {
				t.Errorf("DEBUG DIGEST %s, want %s", got.digest, want.digest)
			}
			compareSnapshots(t, got, want)
			t.Logf("%d commands, DEBUG DIGEST %s on both servers", n, got.digest)
		})
	}
}

// fillSource writes FillMixed's data and what it lacks: a function
// library, binary names and values in several databases, expiries, zset
// scores at the edges of float64, and streams with every kind of group
// state.
func fillSource(t *testing.T, ctx context.Context, srv *redistest.Server) {
	t.Helper()
	c := srv.Client()
	if err := redistest.FillMixed(ctx, c, 1); err != nil {
		t.Fatal(err)
	}
	do := func(db int, args ...any) {
		t.Helper()
		conn := c.Conn()
		defer conn.Close()
		if err := conn.Do(ctx, "SELECT", db).Err(); err != nil {
			t.Fatal(err)
		}
		if err := conn.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	do(0, "FUNCTION", "LOAD", "#!lua name=mylib\nredis.register_function('f', function(keys, args) return 1 end)")
	do(0, "FUNCTION", "LOAD", "#!lua name=other\nredis.register_function{function_name='g', callback=function(keys, args) return 2 end, flags={'no-writes'}}")
	bin := "\x00\xff\r\n*3\r\n$bin"
	for _, db := range []int{3, 9, 15} {
		d := strconv.Itoa(db)
		do(db, "SET", bin+d, "\r\n\x00value\xfe"+d)
		do(db, "PEXPIREAT", bin+d, farFuture+int64(db))
		do(db, "RPUSH", "list\x00"+d, "a", "\x00", "", "\r\n", "b")
		do(db, "SADD", "set\xff"+d, "1", "2", "\x00", "-5")
		do(db, "HSET", "hash\r\n"+d, "f\x00", "v\xff", "", "empty field")
		do(db, "PEXPIREAT", "hash\r\n"+d, farFuture)
	}
	do(4, "ZADD", "zset:edges", "inf", "pinf", "-inf", "ninf", "0", "zero", "-0", "negzero",
		"5e-324", "tiny", "1.7976931348623157e308", "max", "0.1", "tenth", "-3.3333333333333335", "third",
		"123456789012345678", "bigint")
	do(4, "ZADD", "zset:lp", "0.30000000000000004", "a", "1e-300", "b")
	do(4, "SET", "empty-string", "")
	// A stream with groups at several positions, pending entries owned
	// by several consumers, claimed, acknowledged, idle consumers, and
	// deleted entries that are not pending.
	for i := 1; i <= 40; i++ {
		do(5, "XADD", "s\x00bin", fmt.Sprintf("%d-%d", 1000+i/3, i%3), "f", strconv.Itoa(i), "g\r\n", "\x00")
	}
	do(5, "XGROUP", "CREATE", "s\x00bin", "all", "0")
	do(5, "XREADGROUP", "GROUP", "all", "alice", "COUNT", "7", "STREAMS", "s\x00bin", ">")
	do(5, "XREADGROUP", "GROUP", "all", "bob\x00", "COUNT", "5", "STREAMS", "s\x00bin", ">")
	do(5, "XREADGROUP", "GROUP", "all", "alice", "COUNT", "3", "STREAMS", "s\x00bin", "0")
	do(5, "XACK", "s\x00bin", "all", "1000-2", "1001-0")
	do(5, "XCLAIM", "s\x00bin", "all", "carol", "0", "1002-1", "1002-2")
	do(5, "XGROUP", "CREATECONSUMER", "s\x00bin", "all", "idle")
	do(5, "XGROUP", "CREATE", "s\x00bin", "mid", "1005-0")
	do(5, "XGROUP", "CREATE", "s\x00bin", "tail", "$")
	do(5, "XGROUP", "CREATE", "s\x00bin", "known", "1003-0", "ENTRIESREAD", "9")
	do(5, "XDEL", "s\x00bin", "1012-0", "1013-1")
	do(5, "PEXPIREAT", "s\x00bin", farFuture)
	// Empty streams: never had entries, emptied by XDEL, emptied by XTRIM.
	do(5, "XGROUP", "CREATE", "s:never", "g", "$", "MKSTREAM")
	do(5, "XADD", "s:xdel", "7-7", "a", "b")
	do(5, "XDEL", "s:xdel", "7-7")
	do(5, "XADD", "s:trim", "9-1", "a", "b")
	do(5, "XADD", "s:trim", "9-2", "a", "b")
	do(5, "XTRIM", "s:trim", "MAXLEN", "0")
	do(5, "XSETID", "s:trim", "10-0", "ENTRIESADDED", "5", "MAXDELETEDID", "9-5")
}

// rewriteDump writes the commands for the dump at path into file and
// returns how many there are.
func rewriteDump(t *testing.T, path, file string, opts RewriteOptions) int64 {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w := NewWriter(out)
	rw := NewRewriter(opts)
	rd := rdb.NewReader(in)
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch rec.Kind {
		case rdb.KindFunction:
			err = rw.Function(rec.Data, w.WriteCommand)
		case rdb.KindKey:
			err = rw.Key(rd.KeyValue(), w.WriteCommand)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return w.Commands()
}

// pipe feeds file to the server with redis-cli --pipe and fails on any
// error reply.
func pipe(t *testing.T, srv *redistest.Server, file string) {
	t.Helper()
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port()), "--pipe")
	cmd.Stdin = in
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "errors: 0,") {
		t.Fatalf("redis-cli --pipe: %v\n%s", err, out)
	}
}

// serverState is what the comparison looks at.
type serverState struct {
	digest    string
	keys      map[string]keyState // "db:key"
	functions any
	streams   map[string]any // "db:key" -> XINFO STREAM FULL, normalized
}

type keyState struct {
	typ, digest string
	expireAt    int64
}

func snapshot(t *testing.T, ctx context.Context, srv *redistest.Server) serverState {
	t.Helper()
	c := srv.Client()
	s := serverState{keys: map[string]keyState{}, streams: map[string]any{}}
	var err error
	if s.digest, err = c.Do(ctx, "DEBUG", "DIGEST").Text(); err != nil {
		t.Fatal(err)
	}
	libs, err := c.Do(ctx, "FUNCTION", "LIST", "WITHCODE").Slice()
	if err != nil {
		t.Fatal(err)
	}
	// Libraries come in hash table order.
	slices.SortFunc(libs, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	s.functions = libs
	conn := c.Conn()
	defer conn.Close()
	for db := 0; db < 16; db++ {
		if err := conn.Do(ctx, "SELECT", db).Err(); err != nil {
			t.Fatal(err)
		}
		var keys []string
		iter := conn.Scan(ctx, 0, "*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		cmds, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Type(ctx, k)
				p.Do(ctx, "DEBUG", "DIGEST-VALUE", k)
				p.PExpireTime(ctx, k)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			typ := cmds[3*i].(*redis.StatusCmd).Val()
			dig := fmt.Sprint(cmds[3*i+1].(*redis.Cmd).Val())
			exp := cmds[3*i+2].(*redis.DurationCmd).Val()
			s.keys[fmt.Sprintf("%d:%q", db, k)] = keyState{typ, dig, int64(exp / time.Millisecond)}
			if typ == "stream" {
				info, err := conn.Do(ctx, "XINFO", "STREAM", k, "FULL", "COUNT", 0).Result()
				if err != nil {
					t.Fatal(err)
				}
				s.streams[fmt.Sprintf("%d:%q", db, k)] = scrub(info)
			}
		}
	}
	return s
}

func compareSnapshots(t *testing.T, got, want serverState) {
	t.Helper()
	if len(got.keys) != len(want.keys) {
		t.Errorf("%d keys, want %d", len(got.keys), len(want.keys))
	}
	bad := 0
	for k, w := range want.keys {
		if g, ok := got.keys[k]; !ok || g != w {
			if bad++; bad <= 10 {
				t.Errorf("key %s: got %+v (present %v), want %+v", k, g, ok, w)
			}
		}
	}
	if !reflect.DeepEqual(got.functions, want.functions) {
		t.Errorf("FUNCTION LIST:\ngot  %v\nwant %v", got.functions, want.functions)
	}
	if len(want.streams) == 0 {
		t.Error("no streams compared")
	}
	for k, w := range want.streams {
		if g := got.streams[k]; !reflect.DeepEqual(g, w) {
			if bad++; bad <= 10 {
				t.Errorf("XINFO STREAM %s FULL:\ngot  %v\nwant %v", k, g, w)
			}
		}
	}
}

// recorder collects commands as strings.
type recorder struct{ cmds []string }

func (r *recorder) emit(args ...[]byte) error {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = string(a)
	}
	r.cmds = append(r.cmds, strings.Join(parts, " "))
	return nil
}

// fakeKey builds a KeyValue from elements.
func fakeKey(db int, key string, typ rdb.Type, expireAt int64, elems ...rdb.Element) *rdb.KeyValue {
	return &rdb.KeyValue{
		DB: db, Key: []byte(key), Type: typ, ExpireAt: expireAt, Idle: -1, Freq: -1,
		Elements: func(fn func(*rdb.Element) error) error {
			for i := range elems {
				e := elems[i] // a copy, as the reader's buffers are reused
				if err := fn(&e); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func TestRewriterCommands(t *testing.T) {
	m := func(s string) rdb.Element { return rdb.Element{Member: []byte(s), ExpireAt: rdb.NoExpiry} }
	hf := func(f, v string, at int64) rdb.Element {
		return rdb.Element{Member: []byte(f), Value: []byte(v), ExpireAt: at}
	}
	z := func(s string, score float64) rdb.Element {
		return rdb.Element{Member: []byte(s), Score: score, ExpireAt: rdb.NoExpiry}
	}
	tests := []struct {
		name string
		opts RewriteOptions
		keys []*rdb.KeyValue
		want []string
	}{
		{
			name: "select only when the database changes",
			keys: []*rdb.KeyValue{
				fakeKey(0, "a", rdb.TypeString, rdb.NoExpiry, m("1")),
				fakeKey(0, "b", rdb.TypeString, 1700000000123, m("")),
				fakeKey(2, "c", rdb.TypeString, rdb.NoExpiry, m("3")),
			},
			want: []string{"SELECT 0", "SET a 1", "SET b ", "PEXPIREAT b 1700000000123", "SELECT 2", "SET c 3"},
		},
		{
			name: "batches",
			opts: RewriteOptions{Batch: 2},
			keys: []*rdb.KeyValue{
				fakeKey(1, "l", rdb.TypeList, 5, m("a"), m("b"), m("c"), m("d"), m("e")),
				fakeKey(1, "s", rdb.TypeSet, rdb.NoExpiry, m("x"), m("y")),
			},
			want: []string{"SELECT 1", "RPUSH l a b", "RPUSH l c d", "RPUSH l e", "PEXPIREAT l 5", "SADD s x y"},
		},
		{
			name: "byte cap",
			opts: RewriteOptions{BatchBytes: 4},
			keys: []*rdb.KeyValue{fakeKey(0, "l", rdb.TypeList, rdb.NoExpiry, m("ab"), m("cd"), m("e"))},
			want: []string{"SELECT 0", "RPUSH l ab cd", "RPUSH l e"},
		},
		{
			name: "scores",
			keys: []*rdb.KeyValue{fakeKey(0, "z", rdb.TypeZSet, rdb.NoExpiry,
				z("a", math.Inf(1)), z("b", math.Inf(-1)), z("c", 0.1), z("d", math.Copysign(0, -1)), z("e", 1e21), z("f", 5e-324))},
			want: []string{"SELECT 0", "ZADD z inf a -inf b 0.1 c -0 d 1e+21 e 5e-324 f"},
		},
		{
			name: "hash field expiries",
			opts: RewriteOptions{Batch: 3},
			keys: []*rdb.KeyValue{fakeKey(0, "h", rdb.TypeHash, 99,
				hf("a", "1", 10), hf("b", "2", rdb.NoExpiry), hf("c", "3", 10), hf("d", "4", 10), hf("e", "5", 20))},
			want: []string{"SELECT 0",
				"HSET h a 1 b 2 c 3", "HPEXPIREAT h 10 FIELDS 2 a c",
				"HSET h d 4 e 5", "HPEXPIREAT h 10 FIELDS 1 d", "HPEXPIREAT h 20 FIELDS 1 e",
				"PEXPIREAT h 99"},
		},
		{
			name: "hash field expiries grouped",
			keys: []*rdb.KeyValue{fakeKey(0, "h", rdb.TypeHash, rdb.NoExpiry,
				hf("a", "1", 10), hf("b", "2", 10), hf("c", "3", rdb.NoExpiry))},
			want: []string{"SELECT 0", "HSET h a 1 b 2 c 3", "HPEXPIREAT h 10 FIELDS 2 a b"},
		},
		{
			name: "empty collections are skipped",
			keys: []*rdb.KeyValue{fakeKey(0, "l", rdb.TypeList, 5), fakeKey(0, "s", rdb.TypeString, rdb.NoExpiry, m("v"))},
			want: []string{"SELECT 0", "SET s v"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r recorder
			rw := NewRewriter(tc.opts)
			for _, kv := range tc.keys {
				if err := rw.Key(kv, r.emit); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(r.cmds, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(r.cmds, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestRewriterStream(t *testing.T) {
	kv := fakeKey(0, "s", rdb.TypeStream, rdb.NoExpiry,
		rdb.Element{ID: rdb.StreamID{Ms: 5, Seq: 1}, Fields: [][]byte{[]byte("f"), []byte("v")}})
	info := &rdb.StreamInfo{
		Length: 1, LastID: rdb.StreamID{Ms: 6}, MaxDeletedID: rdb.StreamID{Ms: 5, Seq: 9}, EntriesAdded: 3,
		Groups: []rdb.StreamGroup{{
			Name: "g", LastID: rdb.StreamID{Ms: 5, Seq: 1}, EntriesRead: -1,
			Pending:   []rdb.PendingEntry{{ID: rdb.StreamID{Ms: 5, Seq: 1}, DeliveryTime: 1234, DeliveryCount: 2, Consumer: "c"}},
			Consumers: []rdb.StreamConsumer{{Name: "c"}, {Name: "idle"}},
		}, {Name: "h", EntriesRead: 0}},
	}
	kv.Stream = func() *rdb.StreamInfo { return info }
	empty := fakeKey(0, "e", rdb.TypeStream, 77)
	empty.Stream = func() *rdb.StreamInfo { return &rdb.StreamInfo{} }
	var r recorder
	rw := NewRewriter(RewriteOptions{})
	for _, k := range []*rdb.KeyValue{kv, empty} {
		if err := rw.Key(k, r.emit); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"SELECT 0",
		"XADD s 5-1 f v",
		"XSETID s 6-0 ENTRIESADDED 3 MAXDELETEDID 5-9",
		"XGROUP CREATE s g 5-1",
		"XGROUP CREATECONSUMER s g c",
		"XGROUP CREATECONSUMER s g idle",
		"XCLAIM s g c 0 5-1 TIME 1234 RETRYCOUNT 2 JUSTID FORCE",
		"XGROUP CREATE s h 0-0 ENTRIESREAD 0",
		"XADD e MAXLEN 0 0-1 x y",
		"XSETID e 0-0 ENTRIESADDED 0 MAXDELETEDID 0-0",
		"PEXPIREAT e 77",
	}
	if !reflect.DeepEqual(r.cmds, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(r.cmds, "\n"), strings.Join(want, "\n"))
	}
}

func TestRewriterRestore(t *testing.T) {
	payload := func(w io.Writer) error { _, err := w.Write([]byte("\x00\x01v\x0a\x00crc64xyz")); return err }
	mod := &rdb.KeyValue{DB: 0, Key: []byte("m"), Type: rdb.TypeModule, ExpireAt: 42, Idle: -1, Freq: -1, Dump: payload}
	withIdle := &rdb.KeyValue{DB: 0, Key: []byte("i"), Type: rdb.TypeString, ExpireAt: 42, Idle: 7, Freq: -1, Dump: payload}
	withFreq := &rdb.KeyValue{DB: 0, Key: []byte("f"), Type: rdb.TypeList, ExpireAt: rdb.NoExpiry, Idle: -1, Freq: 3, Dump: payload}

	var r recorder
	if err := NewRewriter(RewriteOptions{}).Key(mod, r.emit); err != nil {
		t.Fatal(err)
	}
	rw := NewRewriter(RewriteOptions{RestorePayloads: true})
	for _, k := range []*rdb.KeyValue{mod, withIdle, withFreq} {
		if err := rw.Key(k, r.emit); err != nil {
			t.Fatal(err)
		}
	}
	p := "\x00\x01v\x0a\x00crc64xyz"
	want := []string{
		"SELECT 0", "RESTORE m 0 " + p + " REPLACE", "PEXPIREAT m 42",
		"SELECT 0", "RESTORE m 42 " + p + " ABSTTL REPLACE",
		"RESTORE i 42 " + p + " ABSTTL REPLACE IDLETIME 7",
		"RESTORE f 0 " + p + " REPLACE FREQ 3",
	}
	if !reflect.DeepEqual(r.cmds, want) {
		t.Errorf("got\n%q\nwant\n%q", r.cmds, want)
	}
}

func TestRewriterErrors(t *testing.T) {
	var r recorder
	rw := NewRewriter(RewriteOptions{})
	nan := fakeKey(0, "z", rdb.TypeZSet, rdb.NoExpiry, rdb.Element{Member: []byte("m"), Score: math.NaN()})
	if err := rw.Key(nan, r.emit); !errors.Is(err, ErrNaNScore) || !strings.Contains(err.Error(), `"z"`) {
		t.Errorf("NaN score: got %v, want ErrNaNScore naming the key", err)
	}
	mod := &rdb.KeyValue{Key: []byte("m"), Type: rdb.TypeModule, ExpireAt: rdb.NoExpiry}
	if err := rw.Key(mod, r.emit); !errors.Is(err, ErrNoCommands) {
		t.Errorf("module without payload: got %v, want ErrNoCommands", err)
	}
	boom := errors.New("boom")
	failing := func(args ...[]byte) error { return boom }
	if err := NewRewriter(RewriteOptions{}).Key(fakeKey(0, "l", rdb.TypeList, rdb.NoExpiry, rdb.Element{Member: []byte("a")}), failing); !errors.Is(err, boom) {
		t.Errorf("emit error: got %v, want it returned", err)
	}
}

// TestScoreFormatRoundTrips checks that scores parse back to the same bits.
func TestScoreFormatRoundTrips(t *testing.T) {
	for _, f := range []float64{0.1, 1.0 / 3, math.MaxFloat64, math.SmallestNonzeroFloat64, -2.2250738585072014e-308, 123456789012345678, math.Nextafter(1, 2)} {
		var r recorder
		kv := fakeKey(0, "z", rdb.TypeZSet, rdb.NoExpiry, rdb.Element{Member: []byte("m"), Score: f})
		if err := NewRewriter(RewriteOptions{}).Key(kv, r.emit); err != nil {
			t.Fatal(err)
		}
		s := strings.Fields(r.cmds[1])[2]
		got, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(f) {
			t.Errorf("%v formatted as %q parses to %v (%v)", f, s, got, err)
		}
	}
}

func BenchmarkRewriterList(b *testing.B) {
	elems := make([]rdb.Element, 1000)
	for i := range elems {
		elems[i] = rdb.Element{Member: bytes.Repeat([]byte{'x'}, 16), ExpireAt: rdb.NoExpiry}
	}
	kv := fakeKey(0, "list", rdb.TypeList, rdb.NoExpiry, elems...)
	w := NewWriter(io.Discard)
	rw := NewRewriter(RewriteOptions{})
	b.SetBytes(16 * 1000)
	b.ReportAllocs()
	for b.Loop() {
		if err := rw.Key(kv, w.WriteCommand); err != nil {
			b.Fatal(err)
		}
	}
}
