package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/analysis"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

func bulk(keys ...string) []aof.Value {
	out := make([]aof.Value, len(keys))
	for i, k := range keys {
		out[i] = aof.Value{Kind: aof.BulkString, Str: []byte(k)}
	}
	return out
}

// TestFirstSeen: a key SCAN returns again in the same database is
// dropped and counted; the same name in another database is another key.
func TestFirstSeen(t *testing.T) {
	st := &ScanStats{}
	s := &scanner{st: st, seen: analysis.NewKeySet()}
	names := func(v []aof.Value) (out []string) {
		for _, k := range v {
			out = append(out, string(k.Str))
		}
		return out
	}
	if got := names(s.firstSeen(0, bulk("a", "b", "a"))); fmt.Sprint(got) != "[a b]" {
		t.Errorf("first batch: %v", got)
	}
	if got := names(s.firstSeen(0, bulk("b", "c"))); fmt.Sprint(got) != "[c]" {
		t.Errorf("second batch: %v", got)
	}
	if got := names(s.firstSeen(1, bulk("a", "c"))); fmt.Sprint(got) != "[a c]" {
		t.Errorf("another database: %v", got)
	}
	if st.Duplicates != 2 {
		t.Errorf("%d duplicates, want 2", st.Duplicates)
	}
}

// bigScanner reads srv with a MaxDump of 64 KiB into a buffer.
func bigScanner(t *testing.T, srv *redistest.Server) (*scanner, *bytes.Buffer, *rdb.Writer) {
	t.Helper()
	c, err := Dial(t.Context(), srv.Addr(), &Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var buf bytes.Buffer
	w, err := rdb.NewWriter(&buf, rdb.WriterOptions{Version: 10})
	if err != nil {
		t.Fatal(err)
	}
	s := newScanner(c, 0, &ScanStats{}, ScanOptions{MaxDump: 64 << 10, TempDir: t.TempDir()})
	s.w, s.version = w, 10
	t.Cleanup(s.closeSpool)
	return s, &buf, w
}

func fill(t *testing.T, srv *redistest.Server, cmds [][]any) {
	t.Helper()
	ctx := context.Background()
	p := srv.Client().Pipeline()
	for _, a := range cmds {
		p.Do(ctx, a...)
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// keysOf lists the keys of an RDB file with their types.
func keysOf(t *testing.T, file []byte) map[string]rdb.Type {
	t.Helper()
	out := map[string]rdb.Type{}
	rd := rdb.NewReader(bytes.NewReader(file))
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == rdb.KindKey {
			out[string(rec.Key)] = rec.Type
		}
	}
}

// loadFile has a fresh server load file and returns it.
func loadFile(t *testing.T, file []byte) *redistest.Server {
	t.Helper()
	dst := redistest.Start(t, redistest.Options{})
	if err := os.WriteFile(filepath.Join(dst.Dir(), "dump.rdb"), file, 0o644); err != nil {
		t.Fatal(err)
	}
	dst.Restart(t, false)
	return dst
}

// TestDumpBigChanges drives what happens to a big key while it is read
// in chunks, after its first chunk.
func TestDumpBigChanges(t *testing.T) {
	ctx := context.Background()
	bigHash := func() [][]any {
		var cmds [][]any
		for i := range 5000 {
			cmds = append(cmds, []any{"HSET", "k", fmt.Sprint(i), "some value of a few bytes"})
		}
		return cmds
	}
	t.Run("type changed", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{})
		fill(t, srv, bigHash())
		s, buf, w := bigScanner(t, srv)
		hooked := false
		s.chunkHook = func(string) {
			if !hooked {
				hooked = true
				fill(t, srv, [][]any{{"DEL", "k"}, {"SET", "k", "a string now"}})
			}
		}
		if err := s.dumpBatch(0, bulk("k")); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if got := keysOf(t, buf.Bytes()); got["k"] != rdb.TypeString || s.st.Keys != 1 || s.st.Chunked != 0 {
			t.Fatalf("keys %v, stats %+v", got, s.st)
		}
		dst := loadFile(t, buf.Bytes())
		if v, err := dst.Client().Get(ctx, "k").Result(); err != nil || v != "a string now" {
			t.Fatalf("GET k: %q %v", v, err)
		}
	})
	t.Run("deleted", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{})
		fill(t, srv, bigHash())
		s, buf, w := bigScanner(t, srv)
		var gone []string
		s.gone = func(db int, key []byte) { gone = append(gone, fmt.Sprintf("%d %s", db, key)) }
		s.chunkHook = func(string) { fill(t, srv, [][]any{{"DEL", "k"}}) }
		if err := s.dumpBatch(0, bulk("k")); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if got := keysOf(t, buf.Bytes()); len(got) != 0 || s.st.Vanished != 1 || fmt.Sprint(gone) != "[0 k]" {
			t.Fatalf("keys %v, gone %v, stats %+v", got, gone, s.st)
		}
	})
	t.Run("zset window shifted", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{})
		var cmds [][]any
		for i := range 5000 {
			cmds = append(cmds, []any{"ZADD", "k", i, fmt.Sprintf("member:%d", i)})
		}
		fill(t, srv, cmds)
		s, buf, w := bigScanner(t, srv)
		hooked := false
		s.chunkHook = func(string) {
			if !hooked {
				hooked = true
				var add [][]any
				for i := range 700 {
					add = append(add, []any{"ZADD", "k", -1 - i, fmt.Sprintf("new:%d", i)})
				}
				fill(t, srv, add)
			}
		}
		if err := s.dumpBatch(0, bulk("k")); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if s.st.Chunked != 1 {
			t.Fatalf("stats %+v", s.st)
		}
		// The windows after the first repeat 700 members (dropped) and
		// hold the new members past the first window's end.
		dst := loadFile(t, buf.Bytes())
		if n, err := dst.Client().ZCount(ctx, "k", "0", "+inf").Result(); err != nil || n != 5000 {
			t.Fatalf("%d of the 5000 members first there (%v)", n, err)
		}
		if n, err := dst.Client().ZCard(ctx, "k").Result(); err != nil || n != 5000+700-500 {
			t.Fatalf("ZCARD %d %v", n, err)
		}
	})
	t.Run("set shrunk", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{})
		var cmds [][]any
		for i := range 20000 {
			cmds = append(cmds, []any{"SADD", "k", fmt.Sprintf("member:%d", i)})
		}
		fill(t, srv, cmds)
		s, buf, w := bigScanner(t, srv)
		hooked := false
		s.chunkHook = func(string) {
			if !hooked {
				hooked = true
				var rem [][]any
				for i := range 20000 {
					if i%40 != 0 {
						rem = append(rem, []any{"SREM", "k", fmt.Sprintf("member:%d", i)})
					}
				}
				fill(t, srv, rem)
			}
		}
		if err := s.dumpBatch(0, bulk("k")); err != nil {
			t.Fatal(err)
		}
		w.Close()
		loadFile(t, buf.Bytes())
	})
}

// TestDumpBigStreamGroups: a big stream's consumer groups are read after
// its entries, so changes to them during the read (new deliveries, acks,
// a consumer deleted, entries claimed by a new consumer) give a file the
// server loads with the groups as they are at the end; a stream with more
// pending entries than the limit is read by one DUMP.
func TestDumpBigStreamGroups(t *testing.T) {
	ctx := context.Background()
	bigStream := func() [][]any {
		var cmds [][]any
		for i := range 5000 {
			cmds = append(cmds, []any{"XADD", "k", "*", "field", fmt.Sprintf("value %d of some length", i)})
		}
		return append(cmds,
			[]any{"XGROUP", "CREATE", "k", "g", "0"},
			[]any{"XREADGROUP", "GROUP", "g", "alice", "COUNT", "100", "STREAMS", "k", ">"},
			[]any{"XREADGROUP", "GROUP", "g", "bob", "COUNT", "100", "STREAMS", "k", ">"})
	}
	pendingOf := func(t *testing.T, srv *redistest.Server) string {
		t.Helper()
		v, err := srv.Do(ctx, "XPENDING", "k", "g", "-", "+", "100000")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range v.([]any) {
			e := p.([]any)
			out = append(out, fmt.Sprint(e[0], e[1], e[3]))
		}
		g, err := srv.Client().XInfoGroups(ctx, "k").Result()
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(len(out), out, g)
	}
	t.Run("changed", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{})
		fill(t, srv, bigStream())
		s, buf, w := bigScanner(t, srv)
		hooked := false
		s.chunkHook = func(string) {
			if hooked {
				return
			}
			hooked = true
			v, err := srv.Client().XPendingExt(ctx, &redis.XPendingExtArgs{Stream: "k", Group: "g", Start: "-", End: "+", Count: 300}).Result()
			if err != nil {
				t.Error(err)
				return
			}
			fill(t, srv, [][]any{
				{"XREADGROUP", "GROUP", "g", "carol", "COUNT", "50", "STREAMS", "k", ">"},
				{"XACK", "k", "g", v[0].ID, v[1].ID, v[2].ID},
				{"XCLAIM", "k", "g", "dave", "0", v[150].ID, v[151].ID},
				{"XGROUP", "DELCONSUMER", "k", "g", "alice"},
				{"XGROUP", "CREATE", "k", "g2", "$"},
			})
		}
		if err := s.dumpBatch(0, bulk("k")); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if s.st.Chunked != 1 || s.st.BigDumped != 0 {
			t.Fatalf("stats %+v", s.st)
		}
		dst := loadFile(t, buf.Bytes())
		if got, want := pendingOf(t, dst), pendingOf(t, srv); got != want {
			t.Fatalf("loaded groups:\n%s\nsource:\n%s", got, want)
		}
	})
	t.Run("too many pending", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{})
		fill(t, srv, bigStream())
		s, buf, w := bigScanner(t, srv)
		s.maxPending = 150
		if err := s.dumpBatch(0, bulk("k")); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if s.st.Chunked != 0 || s.st.BigDumped != 1 || s.st.Keys != 1 {
			t.Fatalf("stats %+v", s.st)
		}
		dst := loadFile(t, buf.Bytes())
		if got, want := pendingOf(t, dst), pendingOf(t, srv); got != want {
			t.Fatalf("loaded groups:\n%s\nsource:\n%s", got, want)
		}
	})
}

// TestDumpBigSpilledRepeats: a big hash, set and sorted set read in
// chunks while a writer adds members (HSCAN and SSCAN over a growing,
// rehashing table; ZRANGE windows shifted by new lower scores), with the
// deduper's memory table lowered to 1,000 members so that the repeats
// are found in its runs on disk: the file loads (a member written twice
// would be refused) and holds every member first there.
func TestDumpBigSpilledRepeats(t *testing.T) {
	const n = 50000
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	var cmds [][]any
	for i := range n {
		cmds = append(cmds,
			[]any{"HSET", "h", fmt.Sprintf("field:%d", i), i},
			[]any{"SADD", "s", fmt.Sprintf("member:%d", i)},
			[]any{"ZADD", "z", i, fmt.Sprintf("member:%d", i)})
		if len(cmds) >= 3000 {
			fill(t, srv, cmds)
			cmds = cmds[:0]
		}
	}
	fill(t, srv, cmds)
	s, buf, w := bigScanner(t, srv)
	s.dedup = dedupLimits{memMembers: 1000, runRecords: 3000, fanIn: 4}
	added := 0
	s.chunkHook = func(cmd string) {
		var add [][]any
		for range 150 {
			added++
			switch cmd {
			case "HSCAN":
				add = append(add, []any{"HSET", "h", fmt.Sprintf("new:%d", added), added})
			case "SSCAN":
				add = append(add, []any{"SADD", "s", fmt.Sprintf("new:%d", added)})
			case "ZRANGE":
				add = append(add, []any{"ZADD", "z", -added, fmt.Sprintf("new:%d", added)})
			}
		}
		fill(t, srv, add)
	}
	if err := s.dumpBatch(0, bulk("h", "s", "z")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s.st.Chunked != 3 || s.dedup.omitted == 0 {
		t.Fatalf("stats %+v, %d repeats omitted from the spool", s.st, s.dedup.omitted)
	}
	dst := loadFile(t, buf.Bytes())
	c := dst.Client()
	p := c.Pipeline()
	var hm []*redis.SliceCmd
	var sm []*redis.BoolSliceCmd
	var zs []*redis.FloatSliceCmd
	for start := 0; start < n; start += 1000 {
		var fields, members []string
		var any []any
		for i := start; i < start+1000; i++ {
			fields = append(fields, fmt.Sprintf("field:%d", i))
			members = append(members, fmt.Sprintf("member:%d", i))
			any = append(any, fmt.Sprintf("member:%d", i))
		}
		hm = append(hm, p.HMGet(ctx, "h", fields...))
		sm = append(sm, p.SMIsMember(ctx, "s", any...))
		zs = append(zs, p.ZMScore(ctx, "z", members...))
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for j := range hm {
		for i, v := range hm[j].Val() {
			if want := fmt.Sprint(j*1000 + i); v != want {
				t.Fatalf("field:%d is %v, want %s", j*1000+i, v, want)
			}
		}
		for i, in := range sm[j].Val() {
			if !in {
				t.Fatalf("member:%d missing from the set", j*1000+i)
			}
		}
		for i, sc := range zs[j].Val() {
			if sc != float64(j*1000+i) {
				t.Fatalf("member:%d scores %v", j*1000+i, sc)
			}
		}
	}
	t.Logf("%d members added meanwhile, %d repeats omitted from the spool", added, s.dedup.omitted)
}
