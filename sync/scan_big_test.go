package sync_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
	"github.com/redkit/redkit/sync"
)

// smallMaxDump is the MaxDump of the tests: big keys of a few thousand
// members are read in chunks.
const smallMaxDump = 64 << 10

// pipe runs commands pipelined, failing the test on any error.
func pipe(t testing.TB, c *redis.Client, cmds [][]any) {
	t.Helper()
	ctx := context.Background()
	for len(cmds) > 0 {
		n := min(len(cmds), 1000)
		p := c.Pipeline()
		for _, a := range cmds[:n] {
			p.Do(ctx, a...)
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		cmds = cmds[n:]
	}
}

// bigString is a big string value, read by five GETRANGE windows.
var bigString = strings.Repeat("0123456789abcdef", 5<<16/2)

// fillBig makes a big string and one big key of each collection type (n members each),
// with expiries on some, a stream with consumer groups, consumers and
// pending entries, and some small keys. It returns the number of
// small keys.
func fillBig(t testing.TB, c *redis.Client, n int) (small int) {
	t.Helper()
	var cmds [][]any
	exp := time.Now().Add(time.Hour).UnixMilli()
	for i := range n {
		v := fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%40))
		cmds = append(cmds,
			[]any{"HSET", "big:hash", fmt.Sprintf("field:%d", i), v},
			[]any{"SADD", "big:set", fmt.Sprintf("member:%d:%s", i, strings.Repeat("y", i%30))},
			[]any{"ZADD", "big:zset", strconv.FormatFloat(float64(i%977)/7, 'g', -1, 64), fmt.Sprintf("m%d", i)},
			[]any{"RPUSH", "big:list", v, strconv.Itoa(i)},
			[]any{"XADD", "big:stream", fmt.Sprintf("%d-%d", 1000+i/3, i%3), "f", v, "n", strconv.Itoa(i)},
			[]any{"XADD", "big:grouped", "*", "f", v},
		)
	}
	cmds = append(cmds,
		[]any{"PEXPIREAT", "big:hash", exp},
		[]any{"PEXPIREAT", "big:zset", exp + 1},
		[]any{"SET", "small:str", "hello"},
		[]any{"SET", "big:string", bigString},
		[]any{"PEXPIREAT", "big:string", exp + 2},
		[]any{"XGROUP", "CREATE", "big:grouped", "g", "0"},
		[]any{"XREADGROUP", "GROUP", "g", "alice", "COUNT", "1500", "STREAMS", "big:grouped", ">"},
		[]any{"XREADGROUP", "GROUP", "g", "bob", "COUNT", "30", "STREAMS", "big:grouped", ">"},
		[]any{"XREADGROUP", "GROUP", "g", "bob", "COUNT", "5", "STREAMS", "big:grouped", "0"},
		[]any{"XGROUP", "CREATE", "big:grouped", "g2", "$"},
		[]any{"XGROUP", "CREATECONSUMER", "big:grouped", "g2", "carol"},
		[]any{"XDEL", "big:stream", "1000-1"},
	)
	for i := range 300 {
		cmds = append(cmds, []any{"SET", fmt.Sprintf("small:%d", i), i})
		if i%3 == 0 {
			cmds = append(cmds, []any{"PEXPIREAT", fmt.Sprintf("small:%d", i), exp + int64(i)})
		}
	}
	cmds = append(cmds, []any{"SADD", "small:set", "a", "b"}, []any{"HSET", "small:hash", "f", "v"}, []any{"ZADD", "small:zset", "1", "a"},
		[]any{"RPUSH", "small:list", "a"}, []any{"XADD", "small:stream", "1-1", "f", "v"})
	pipe(t, c, cmds)
	return 301 + 5
}

// commandCalls reads INFO commandstats: calls per command.
func commandCalls(t testing.TB, srv *redistest.Server) map[string]int64 {
	t.Helper()
	v, err := srv.Do(context.Background(), "INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, m := range regexp.MustCompile(`cmdstat_([a-z|]+):calls=(\d+)`).FindAllStringSubmatch(v.(string), -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		out[m[1]] = n
	}
	return out
}

// loadInto writes file as a fresh server's dump.rdb and restarts it, so
// it loads it (the test fails if the server refuses it), and returns the
// server.
func loadInto(t testing.TB, binary string, file []byte) *redistest.Server {
	t.Helper()
	dst := redistest.Start(t, redistest.Options{Binary: binary})
	if err := os.WriteFile(filepath.Join(dst.Dir(), "dump.rdb"), file, 0o644); err != nil {
		t.Fatal(err)
	}
	dst.Restart(t, false)
	return dst
}

// TestScanDumpBigKeys: a big string and a big key of each collection type is read in
// chunks, never by one DUMP (INFO commandstats counts DUMP for the small
// keys only), streams with their consumer groups, and the file equals
// the server's own SAVE, expiries included, and loads, on Redis 7.0 and
// Valkey 8.
func TestScanDumpBigKeys(t *testing.T) {
	for _, binary := range []string{"redis-server", "valkey-server"} {
		t.Run(binary, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{Binary: binary})
			ctx := t.Context()
			small := fillBig(t, srv.Client(), 10000)
			if err := srv.Client().Do(ctx, "CONFIG", "RESETSTAT").Err(); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			var lastKeys, lastBytes int64
			st, err := sync.ScanDump(ctx, srv.Addr(), nil, &buf, sync.ScanOptions{MaxDump: smallMaxDump, Progress: func(k, b int64) { lastKeys, lastBytes = k, b }})
			if err != nil {
				t.Fatal(err)
			}
			calls := commandCalls(t, srv)
			if st.Chunked != 7 || st.BigDumped != 0 || st.Keys != int64(small)+7 || st.Keys != st.Expected || st.Vanished != 0 || st.SizesByCount {
				t.Errorf("stats %+v", st)
			}
			if lastKeys != st.Keys || lastBytes != int64(buf.Len()) {
				t.Errorf("last progress %d keys %d bytes; wrote %d keys %d bytes", lastKeys, lastBytes, st.Keys, buf.Len())
			}
			if st.Largest.Elements != 1 || st.Largest.Key != "big:string" || st.Largest.Type != rdb.TypeString || st.Largest.Bytes != int64(len(bigString)) {
				t.Errorf("largest %+v", st.Largest)
			}
			if calls["dump"] != int64(small) {
				t.Errorf("%d DUMP calls for %d small keys", calls["dump"], small)
			}
			// A chunk is of 500 elements at most (1530 pending entries:
			// four XPENDING for group g, one for g2).
			for cmd, least := range map[string]int64{"hscan": 10, "sscan": 10, "zrange": 10, "lrange": 20, "xrange": 20, "xpending": 5, "getrange": 5} {
				if calls[cmd] < least {
					t.Errorf("%d %s calls, want at least %d", calls[cmd], cmd, least)
				}
			}
			saved, err := os.ReadFile(srv.Save(t))
			if err != nil {
				t.Fatal(err)
			}
			compareFiles(t, buf.Bytes(), saved)
			dst := loadInto(t, binary, buf.Bytes())
			if n, err := dst.Client().DBSize(ctx).Result(); err != nil || n != st.Keys {
				t.Fatalf("the loading server has %d keys (%v), want %d", n, err, st.Keys)
			}
			if n, err := dst.Client().HLen(ctx, "big:hash").Result(); err != nil || n != 10000 {
				t.Fatalf("HLEN %d %v", n, err)
			}
			// The loaded stream goes on from its last ID.
			if err := dst.Client().XAdd(ctx, &redis.XAddArgs{Stream: "big:stream", ID: "*", Values: []any{"a", "b"}}).Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestScanDumpMixedSmallMaxDump: the mixed data set (every type and
// encoding) with a MaxDump so small that most collections are read in
// chunks equals the server's SAVE and loads.
func TestScanDumpMixedSmallMaxDump(t *testing.T) {
	srv := noReplication(t)
	ctx := t.Context()
	if err := redistest.FillMixed(ctx, srv.Client(), 7); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	st, err := sync.ScanDump(ctx, srv.Addr(), nil, &buf, sync.ScanOptions{MaxDump: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Chunked < 100 || st.Keys != st.Expected {
		t.Fatalf("stats %+v", st)
	}
	saved, err := os.ReadFile(srv.Save(t))
	if err != nil {
		t.Fatal(err)
	}
	compareFiles(t, buf.Bytes(), saved)
	loadInto(t, "", buf.Bytes())
}

// TestScanDumpNoMemoryUsage: an ACL user without MEMORY sizes keys by
// their element counts: the big ones are still read in chunks.
func TestScanDumpNoMemoryUsage(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	small := fillBig(t, srv.Client(), 10000)
	if err := srv.Client().Do(ctx, "ACL", "SETUSER", "reader", "on", ">pw", "~*", "&*", "+@all", "-memory").Err(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	// Above 9,000 elements is big: MaxDump/64.
	st, err := sync.ScanDump(ctx, srv.Addr(), &sync.Options{Username: "reader", Password: "pw"}, &buf, sync.ScanOptions{MaxDump: 9000 * 64})
	if err != nil {
		t.Fatal(err)
	}
	if !st.SizesByCount || st.Chunked != 7 || st.BigDumped != 0 || st.Keys != int64(small)+7 {
		t.Errorf("stats %+v", st)
	}
	saved, err := os.ReadFile(srv.Save(t))
	if err != nil {
		t.Fatal(err)
	}
	compareFiles(t, buf.Bytes(), saved)
}

// TestScanDumpBigKeysWritten: writers change a big hash, set, sorted set
// and list while they are read in chunks (adding, removing, moving
// members, which makes HSCAN and SSCAN repeat and ZRANGE windows shift):
// the file still loads (no member twice) and holds every key.
func TestScanDumpBigKeysWritten(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	const n = 20000
	var cmds [][]any
	for i := range n {
		cmds = append(cmds,
			[]any{"HSET", "h", fmt.Sprint(i), "v"},
			[]any{"SADD", "s", fmt.Sprint(i)},
			[]any{"ZADD", "z", i, fmt.Sprint(i)},
			[]any{"RPUSH", "l", i})
	}
	pipe(t, srv.Client(), cmds)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		c := srv.Client()
		rng := rand.New(rand.NewPCG(1, 2))
		var err error
		for wctx.Err() == nil && err == nil {
			p := c.Pipeline()
			for range 50 {
				m := rng.IntN(3 * n)
				switch rng.IntN(7) {
				case 0:
					p.HSet(wctx, "h", fmt.Sprint(m), "w")
				case 1:
					p.HDel(wctx, "h", fmt.Sprint(m))
				case 2:
					p.SAdd(wctx, "s", fmt.Sprint(m))
				case 3:
					p.SRem(wctx, "s", fmt.Sprint(m))
				case 4:
					// A low score: every later window shifts.
					p.ZAdd(wctx, "z", redis.Z{Score: float64(-m), Member: fmt.Sprint(m)})
				case 5:
					p.ZRem(wctx, "z", fmt.Sprint(m))
				case 6:
					p.LPush(wctx, "l", m)
				}
			}
			_, err = p.Exec(wctx)
		}
		if wctx.Err() != nil {
			err = nil
		}
		done <- err
	}()
	var buf bytes.Buffer
	st, err := sync.ScanDump(ctx, srv.Addr(), nil, &buf, sync.ScanOptions{MaxDump: smallMaxDump})
	stop()
	if werr := <-done; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if st.Chunked != 4 || st.Keys != 4 {
		t.Fatalf("stats %+v", st)
	}
	dst := loadInto(t, "", buf.Bytes())
	for _, k := range []string{"h", "s", "z", "l"} {
		if n, err := dst.Client().Exists(ctx, k).Result(); err != nil || n != 1 {
			t.Errorf("key %s: %d %v", k, n, err)
		}
	}
}

// TestScanDumpKeysDeleted: keys deleted by the thousand during the scan
// make the server shrink its table under the cursor: the file loads, each
// key once (SCAN rarely returns a key twice even so: TestFirstSeen drives
// the filter itself).
func TestScanDumpKeysDeleted(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	c := srv.Client()
	const n = 100000
	var cmds [][]any
	for i := range n {
		cmds = append(cmds, []any{"SET", fmt.Sprintf("k:%d", i), "v"})
	}
	pipe(t, c, cmds)
	deleted := false
	var buf bytes.Buffer
	st, err := sync.ScanDump(ctx, srv.Addr(), nil, &buf, sync.ScanOptions{Progress: func(keys, _ int64) {
		if deleted || keys < 5000 {
			return
		}
		deleted = true
		var del [][]any
		for i := range n {
			if i%50 != 0 {
				del = append(del, []any{"UNLINK", fmt.Sprintf("k:%d", i)})
			}
		}
		pipe(t, c, del)
		time.Sleep(500 * time.Millisecond) // serverCron shrinks the table
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d keys written, %d duplicates dropped", st.Keys, st.Duplicates)
	dst := loadInto(t, "", buf.Bytes())
	if got, err := dst.Client().DBSize(ctx).Result(); err != nil || got != st.Keys {
		t.Fatalf("the loading server has %d keys (%v), want %d", got, err, st.Keys)
	}
}

// BenchmarkScanDumpBigKeys reads a 200,000-member sorted set in chunks,
// and by one DUMP for comparison.
func BenchmarkScanDumpBigKeys(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	var cmds [][]any
	for i := range 200000 {
		cmds = append(cmds, []any{"ZADD", "z", i, fmt.Sprintf("member:%d:%s", i, strings.Repeat("m", i%40))})
	}
	pipe(b, srv.Client(), cmds)
	for _, bc := range []struct {
		name    string
		maxDump int64
	}{{"chunks", smallMaxDump}, {"dump", 1 << 40}} {
		b.Run(bc.name, func(b *testing.B) {
			var n countingDiscard
			b.ReportAllocs()
			for b.Loop() {
				n = 0
				if _, err := sync.ScanDump(b.Context(), srv.Addr(), nil, &n, sync.ScanOptions{MaxDump: bc.maxDump}); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(n))
		})
	}
}

type countingDiscard int64

func (c *countingDiscard) Write(p []byte) (int, error) {
	*c += countingDiscard(len(p))
	return len(p), nil
}

// TestScanDumpSpoolFails: a big key whose spool cannot be made fails
// ScanDump, naming the key and the spool.
func TestScanDumpSpoolFails(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	fillBig(t, srv.Client(), 3000)
	var buf bytes.Buffer
	_, err := sync.ScanDump(t.Context(), srv.Addr(), nil, &buf, sync.ScanOptions{MaxDump: smallMaxDump, TempDir: filepath.Join(t.TempDir(), "missing")})
	if err == nil || !strings.Contains(err.Error(), "spool of a big key") || !strings.Contains(err.Error(), "read in chunks") {
		t.Fatalf("ScanDump with a spool directory missing: %v", err)
	}
}
