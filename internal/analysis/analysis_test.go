package analysis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/rdb"
)

func rec(db int, key string, typ rdb.Type, expireAt int64) *rdb.Record {
	return &rdb.Record{Kind: rdb.KindKey, DB: db, Key: []byte(key), Type: typ, ExpireAt: expireAt}
}

func stats(memory int64) rdb.ValueStats {
	return rdb.ValueStats{Encoding: rdb.EncodingEmbstr, Elements: 1, Memory: memory}
}

func TestTopKeys(t *testing.T) {
	top := NewTopKeys(3)
	buf := []byte("k0")
	for i, m := range []int64{5, 50, 1, 30, 50, 7} {
		buf[1] = byte('0' + i) // the reader reuses its buffer: TopKeys must copy
		top.Add(&rdb.Record{Kind: rdb.KindKey, Key: buf, Type: rdb.TypeString, ExpireAt: rdb.NoExpiry}, stats(m))
	}
	var got []string
	for _, k := range top.Keys() {
		got = append(got, fmt.Sprintf("%s=%d", k.Key, k.Stats.Memory))
	}
	want := []string{"k1=50", "k4=50", "k3=30"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	other := NewTopKeys(3)
	other.Add(rec(0, "big", rdb.TypeHash, rdb.NoExpiry), stats(100))
	top.Merge(other)
	if k := top.Keys(); string(k[0].Key) != "big" || len(k) != 3 || string(k[2].Key) != "k4" {
		t.Errorf("after merge: %v", k)
	}
}

func TestPrefixesSeparator(t *testing.T) {
	p := NewPrefixes(PrefixOptions{Separator: ":", Depth: 2})
	for _, k := range []string{"user:1:name", "user:1:mail", "user:2:name", "user:3", "order:9", "plain", "a::b"} {
		p.Add(0, []byte(k), 10)
	}
	p.Add(1, []byte("user:1:x"), 5)
	var got []string
	for _, e := range p.Top(0) {
		got = append(got, fmt.Sprintf("%d %s d%d %d/%d", e.DB, e.Prefix, e.Depth, e.Keys, e.Memory))
	}
	want := []string{"0 user: d1 4/40", "0 user:1: d2 2/20", "0 a: d1 1/10", "0 order: d1 1/10", "0 user:2: d2 1/10", "0 a:: d2 1/10", "1 user: d1 1/5", "1 user:1: d2 1/5"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if top := p.Top(1); len(top) != 1 || top[0].Prefix != "user:" {
		t.Errorf("Top(1) = %v", top)
	}
}

func TestPrefixesBytes(t *testing.T) {
	// tree.rdb's keys; HDT3213/rdb's tree.csv lists a(6) ab(5) abb(3) at depth 3.
	p := NewPrefixes(PrefixOptions{Depth: 3})
	for _, k := range []string{"abc", "abbd", "a", "abba", "ab", "b", "abb"} {
		p.Add(0, []byte(k), 10)
	}
	var got []string
	for _, e := range p.Top(5) {
		got = append(got, fmt.Sprintf("%s/%d", e.Prefix, e.Keys))
	}
	if want := []string{"a/6", "ab/5", "abb/3", "abc/1", "b/1"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestPrefixesBounded(t *testing.T) {
	p := NewPrefixes(PrefixOptions{Separator: ":", Depth: 1, MaxEntries: 100})
	for i := range 1000 {
		p.Add(0, fmt.Appendf(nil, "id%d:x", i), int64(i))
	}
	p.Add(0, []byte("big:x"), 1<<20)
	if n := len(p.Top(0)); n > 100 {
		t.Errorf("%d prefixes held, want at most 100", n)
	}
	if !p.Approximate() || p.Top(1)[0].Prefix != "big:" {
		t.Errorf("approximate %v, top %v", p.Approximate(), p.Top(1))
	}
}

func TestSummary(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	ms := now.UnixMilli()
	opts := SummaryOptions{Now: now, Top: 2, Prefixes: PrefixOptions{Separator: ":", Depth: 1}}
	a, b := NewSummary(opts), NewSummary(opts)
	a.Add(rec(0, "s:1", rdb.TypeString, rdb.NoExpiry), stats(10))
	a.Add(rec(0, "s:2", rdb.TypeString, ms-1), stats(20))
	a.Add(rec(1, "h:1", rdb.TypeHash, ms+time.Minute.Milliseconds()), stats(30))
	b.Add(rec(0, "s:3", rdb.TypeString, ms+2*time.Hour.Milliseconds()), stats(40))
	b.Add(rec(0, "z", rdb.TypeZSet, ms+3*24*time.Hour.Milliseconds()), stats(50))
	b.Add(rec(0, "l", rdb.TypeList, ms+30*24*time.Hour.Milliseconds()), stats(60))
	a.Merge(b)
	if a.Total != (Totals{6, 210}) {
		t.Errorf("total %+v", a.Total)
	}
	if a.ByDB[0] != (Totals{5, 180}) || a.ByType[rdb.TypeString] != (Totals{3, 70}) || a.ByEncoding[rdb.EncodingEmbstr].Keys != 6 {
		t.Errorf("breakdowns %+v %+v", a.ByDB, a.ByType)
	}
	e := a.Expiry
	if e.None.Keys != 1 || e.Expired.Keys != 1 || e.Hour.Keys != 1 || e.Day.Keys != 1 || e.Week.Keys != 1 || e.Later.Keys != 1 {
		t.Errorf("expiry profile %+v", e)
	}
	if k := a.Biggest.Keys(); len(k) != 2 || string(k[0].Key) != "l" {
		t.Errorf("biggest %v", k)
	}
	if p := a.Prefixes.Top(1); p[0].Prefix != "s:" || p[0].Keys != 3 {
		t.Errorf("prefixes %v", p)
	}
	if g := Sorted(a.ByDB); g[0].Name != 0 || g[1].Name != 1 {
		t.Errorf("sorted %v", g)
	}
}

func TestTreeAndFlameGraph(t *testing.T) {
	s := NewSummary(SummaryOptions{Prefixes: PrefixOptions{Separator: ":", Depth: 3}})
	for _, k := range []string{"app:user:1", "app:user:2", "app:sess:1", "other:1", "x</script>:1", "bin\xff:1", "plain"} {
		s.Add(rec(0, k, rdb.TypeString, rdb.NoExpiry), stats(100))
	}
	root := Tree(s)
	if root.Memory != 700 || root.Children[0].Name != "app:" || root.Children[0].Children[0].Name != "user:" {
		t.Fatalf("tree %+v", root)
	}
	// The key without a prefix has a block of its own: children add up.
	var sum, other int64
	for _, c := range root.Children {
		sum += c.Memory
		if c.Name == otherKeys {
			other = c.Memory
		}
	}
	if sum != root.Memory || other != 100 {
		t.Errorf("children of the root sum to %d of %d, %q holds %d, want 100", sum, root.Memory, otherKeys, other)
	}
	var buf bytes.Buffer
	if err := WriteFlameGraph(&buf, s, FlameGraphOptions{Title: "t <b>"}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	if strings.Count(html, "</script>") != 2 || strings.Contains(html, "<b>") || !strings.Contains(html, `bin\\xff:`) {
		t.Errorf("HTML not escaped properly")
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 424: "424B", 1024: "1K", 2608: "2.5K", 3 << 20: "3M", 1<<30 + 1<<29: "1.5G"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFunctionName(t *testing.T) {
	for code, want := range map[string]string{
		"#!lua name=mylib\nredis.register_function('f', ...)": "mylib",
		"#!lua engine name=x other=1":                         "x",
		"return 1":                                            "",
	} {
		if got := functionName(&rdb.Record{Kind: rdb.KindFunction, Data: []byte(code)}); got != want {
			t.Errorf("functionName(%q) = %q, want %q", code, got, want)
		}
	}
}

func TestScanCorpus(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "corpus", "hdt3213-rdb", "memory.rdb")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("corpus absent: %v", err)
	}
	defer f.Close()
	var meta Meta
	var keys []string
	filter := &rdb.Filter{Types: []rdb.Type{rdb.TypeString}}
	err = Scan(context.Background(), rdb.NewReader(f), filter, &meta, func(r *rdb.Record, st rdb.ValueStats) error {
		keys = append(keys, string(r.Key))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if v, _ := meta.AuxValue("redis-ver"); v != "6.0.6" || meta.Version != 9 || meta.Magic != "REDIS" || !slices.Equal(keys, []string{"e", "large", "s"}) || meta.Bytes != 2413 {
		t.Errorf("meta %+v keys %v", meta, keys)
	}
	// fn's error stops the scan.
	f.Seek(0, 0)
	stop := errors.New("stop")
	if err := Scan(context.Background(), rdb.NewReader(f), nil, nil, func(*rdb.Record, rdb.ValueStats) error { return stop }); err != stop {
		t.Errorf("got %v, want fn's error", err)
	}
}
