package compare

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
	"github.com/redkit/redkit/sync"
)

func liveSource(t testing.TB, url string) *LiveSource {
	t.Helper()
	ep, err := sync.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return NewLiveSource(ep, LiveOptions{})
}

// rdbFile is a Source over an RDB file, opened when read.
type rdbFile struct{ path string }

func (f rdbFile) Name() string { return f.path }

func (f rdbFile) Each(ctx context.Context, h *Hasher, keep Keep, fn func(*Entry) error) error {
	in, err := dumpfile.Open(ctx, f.path)
	if err != nil {
		return err
	}
	defer in.Close()
	return NewRDBSource(f.path, rdb.NewReader(in), DumpOptions{}).Each(ctx, h, keep, fn)
}

func mustCompare(t testing.TB, a, b Source, opts Options) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Compare(ctx, a, b, opts)
	if err != nil {
		t.Fatalf("compare %s with %s: %v", a.Name(), b.Name(), err)
	}
	return res
}

func TestDumpVersusLive(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	if err := redistest.FillMixed(ctx, srv.Client(), 1); err != nil {
		t.Fatal(err)
	}
	path := srv.Save(t)
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	res := mustCompare(t, rdbFile{path}, liveSource(t, srv.URL()), Options{TTLTolerance: time.Second})
	if !res.Identical() || res.KeysA == 0 || res.KeysA != res.KeysB {
		t.Fatalf("dump vs its own server: counts %v, keys %d/%d, diffs %+v", res.Counts, res.KeysA, res.KeysB, res.Diffs)
	}
	t.Logf("%d keys identical", res.Same)
}

// copyServer starts a server that loads a copy of the dump at path.
func copyServer(t testing.TB, path string) *redistest.Server {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/copy.rdb", b, 0o644); err != nil {
		t.Fatal(err)
	}
	return redistest.Start(t, redistest.Options{Config: []string{"dir " + dir, "dbfilename copy.rdb"}})
}

// keyOfType returns n keys of db 0 of the given type, with or without a TTL.
func keysOfType(t testing.TB, srv *redistest.Server, typ string, withTTL bool, n int) []string {
	t.Helper()
	ctx := context.Background()
	c := srv.Client()
	var out []string
	var cursor uint64
	for {
		keys, next, err := c.ScanType(ctx, cursor, "*", 1000, typ).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			ttl := c.PTTL(ctx, k).Val()
			if (ttl > 0) == withTTL {
				out = append(out, k)
				if len(out) == n {
					return out
				}
			}
		}
		if cursor = next; cursor == 0 {
			t.Fatalf("fewer than %d keys of type %s (ttl %v)", n, typ, withTTL)
		}
	}
}

// changeOneOfEach makes every kind of difference on srv, a copy of the
// reference, and returns the keys expected in the report by kind.
func changeOneOfEach(t testing.TB, srv *redistest.Server) map[Kind][]string {
	t.Helper()
	ctx := context.Background()
	c := srv.Client()
	do := func(args ...any) {
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	want := map[Kind][]string{}
	strs := keysOfType(t, srv, "string", false, 2)
	do("DEL", strs[0])
	want[Missing] = []string{strs[0]}
	do("SET", "extra:key", "x")
	want[Extra] = []string{"extra:key"}
	do("DEL", strs[1])
	do("SADD", strs[1], "now a set")
	want[TypeDiff] = []string{strs[1]}
	l := keysOfType(t, srv, "list", false, 1)[0]
	do("LSET", l, 0, "changed item")
	// Not the string just turned into a set: SCAN's order changes with
	// each server's hash seed.
	s := keysOfType(t, srv, "set", false, 2)[0]
	if s == strs[1] {
		s = keysOfType(t, srv, "set", false, 2)[1]
	}
	m, err := c.SRandMember(ctx, s).Result()
	if err != nil {
		t.Fatal(err)
	}
	do("SREM", s, m)
	do("SADD", s, "a member that was not there")
	z := keysOfType(t, srv, "zset", false, 1)[0]
	// A new member instead of a changed score: the lowest score may be
	// -inf, which ZINCRBY leaves as it is.
	zm := c.ZRange(ctx, z, 0, 0).Val()[0]
	do("ZREM", z, zm)
	do("ZADD", z, 1, "a member that was not there")
	hk := keysOfType(t, srv, "hash", false, 1)[0]
	f := c.HRandField(ctx, hk, 1).Val()[0]
	do("HSET", hk, f, "changed value")
	var x string
	for _, k := range keysOfType(t, srv, "stream", false, 20) {
		if c.XLen(ctx, k).Val() > 1 {
			x = k
			break
		}
	}
	ents := c.XRangeN(ctx, x, "-", "+", 1).Val()
	do("XDEL", x, ents[0].ID)
	want[ValueDiff] = []string{l, s, z, hk, x}
	exp := keysOfType(t, srv, "string", true, 2)
	at := c.PExpireTime(ctx, exp[0]).Val().Milliseconds()
	do("PEXPIREAT", exp[0], at+5000)
	at = c.PExpireTime(ctx, exp[1]).Val().Milliseconds()
	do("PEXPIREAT", exp[1], at+500) // within the tolerance
	want[ExpiryDiff] = []string{exp[0]}
	do("SET", "redkit:checkpoint", "ignored")
	return want
}

func checkDiffs(t testing.TB, res *Result, want map[Kind][]string) {
	t.Helper()
	got := map[Kind][]string{}
	for _, d := range res.Diffs {
		got[d.Kind] = append(got[d.Kind], d.Key)
	}
	for k, keys := range want {
		if res.Counts[k] != int64(len(keys)) {
			t.Errorf("%s: count %d, want %d (%q)", k, res.Counts[k], len(keys), got[k])
		}
		for _, key := range keys {
			found := false
			for _, g := range got[k] {
				found = found || g == key
			}
			if !found {
				t.Errorf("%s: %q not reported (got %q)", k, key, got[k])
			}
		}
	}
	if res.Differences() != int64(len(want[Missing])+len(want[Extra])+len(want[TypeDiff])+len(want[ValueDiff])+len(want[ExpiryDiff])) {
		t.Errorf("counts %v, want %v", res.Counts, want)
	}
}

func TestDifferences(t *testing.T) {
	ref := redistest.Start(t, redistest.Options{})
	if err := redistest.FillMixed(context.Background(), ref.Client(), 1); err != nil {
		t.Fatal(err)
	}
	path := ref.Save(t)
	cp := copyServer(t, path)
	want := changeOneOfEach(t, cp)
	opts := Options{TTLTolerance: time.Second}
	t.Run("dump-url", func(t *testing.T) {
		checkDiffs(t, mustCompare(t, rdbFile{path}, liveSource(t, cp.URL()), opts), want)
	})
	t.Run("url-url", func(t *testing.T) {
		checkDiffs(t, mustCompare(t, liveSource(t, ref.URL()), liveSource(t, cp.URL()), opts), want)
	})
	t.Run("dump-dump", func(t *testing.T) {
		checkDiffs(t, mustCompare(t, rdbFile{path}, rdbFile{cp.Save(t)}, opts), want)
	})
	t.Run("max-report", func(t *testing.T) {
		res := mustCompare(t, rdbFile{path}, liveSource(t, cp.URL()), Options{TTLTolerance: time.Second, MaxReport: 2})
		if len(res.Diffs) != 2 || !res.Truncated || res.Differences() != 9 {
			t.Errorf("MaxReport 2: %d diffs (truncated %v), %d differences", len(res.Diffs), res.Truncated, res.Differences())
		}
	})
	t.Run("sample", func(t *testing.T) {
		res := mustCompare(t, rdbFile{path}, liveSource(t, cp.URL()), Options{TTLTolerance: time.Second, Sample: 5000})
		// The sample is all of A: every difference but the extra key.
		delete(want, Extra)
		checkDiffs(t, res, want)
		if !res.Sampled || res.Population != res.KeysA+1 && res.Population != res.KeysA {
			t.Errorf("sampled %v, population %d, keys %d", res.Sampled, res.Population, res.KeysA)
		}
		small := mustCompare(t, liveSource(t, ref.URL()), rdbFile{path}, Options{TTLTolerance: time.Second, Sample: 50})
		if !small.Identical() || small.KeysA != 50 || small.KeysB != 50 {
			t.Errorf("sample of 50 against the same data: %v, keys %d/%d", small.Counts, small.KeysA, small.KeysB)
		}
	})
}
