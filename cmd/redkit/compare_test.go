package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/compare"
	"github.com/redkit/redkit/internal/redistest"
)

func TestCompareUsage(t *testing.T) {
	r := redkit(t, nil, "compare", "--help").want(t, 0)
	for _, want := range []string{"redkit compare dump.rdb redis://", "EXIT CODES", "--ttl-tolerance", "--sample"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("compare --help lacks %q", want)
		}
	}
	redkit(t, nil, "compare", "a.rdb").want(t, 2)
	redkit(t, nil, "compare", "--format", "xml", "a.rdb", "b.rdb").want(t, 2)
	redkit(t, nil, "compare", "-", "-").want(t, 2)
	r = redkit(t, nil, "compare", "redis://:hunter2@127.0.0.1:1/x/y", "b.rdb").want(t, 2)
	if strings.Contains(r.stderr, "hunter2") {
		t.Errorf("password printed: %s", r.stderr)
	}
}

func TestCompareErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.rdb")
	os.WriteFile(bad, []byte("REDIS0010\xfe\x00\x00\x03key"), 0o644)
	// Trouble is 2, as diff(1) and cmp(1); 1 is for differences.
	r := redkit(t, nil, "compare", filepath.Join(dir, "absent.rdb"), bad).want(t, 2)
	if !strings.Contains(r.stderr, "absent.rdb") && !strings.Contains(r.stderr, "bad.rdb") {
		t.Errorf("error does not name the file: %s", r.stderr)
	}
	r = redkit(t, nil, "compare", bad, bad).want(t, 2)
	if !strings.Contains(r.stderr, "bad.rdb") || !strings.Contains(r.stderr, "offset") {
		t.Errorf("error does not name the file and offset: %s", r.stderr)
	}
	// Against a sound file, so that the server's failure is the only one
	// (with bad.rdb both sides fail, and either may be told first).
	sound := filepath.Join("..", "..", "testdata", "sample.rdb")
	r = redkit(t, nil, "compare", "redis://:hunter2@127.0.0.1:1", sound).want(t, 2)
	if strings.Contains(r.stderr, "hunter2") || !strings.Contains(r.stderr, "127.0.0.1:1") || !strings.Contains(r.stderr, "hint: nothing listens there") {
		t.Errorf("unreachable server: %s", r.stderr)
	}
	// A server that wants a password: the hint names compare's flags.
	srv := redistest.Start(t, redistest.Options{Password: "s3cret"})
	good := corpus(t, "hdt3213-rdb/memory.rdb")
	r = redkit(t, nil, "compare", good, "redis://"+srv.Addr()).want(t, 2)
	if !strings.Contains(r.stderr, "--b-password-file") || strings.Contains(r.stderr, "--to-password-file") {
		t.Errorf("no password: %s", r.stderr)
	}
}

func TestCompareLive(t *testing.T) {
	ref := redistest.Start(t, redistest.Options{Password: "s3cret"})
	if err := redistest.FillMixed(context.Background(), ref.Client(), 1); err != nil {
		t.Fatal(err)
	}
	path := ref.Save(t)

	r := redkit(t, nil, "compare", path, ref.URL()).want(t, 0)
	if !strings.Contains(r.stdout, "identical") || strings.Contains(r.stdout+r.stderr, "s3cret") {
		t.Errorf("identical compare:\n%s%s", r.stdout, r.stderr)
	}
	redkit(t, nil, "compare", "--sample", "100", ref.URL(), path).want(t, 0)

	// A copy with one difference of each kind.
	ctx := context.Background()
	c := ref.Client()
	keys, _, err := c.ScanType(ctx, 0, "*", 1000, "list").Result()
	if err != nil || len(keys) == 0 {
		t.Fatal(keys, err)
	}
	list := keys[0]
	c.LSet(ctx, list, 0, "changed")
	c.Set(ctx, "extra:key", "x", 0)
	c.Set(ctx, "redkit:checkpoint", "ignored", 0)

	r = redkit(t, nil, "compare", path, ref.URL()).want(t, 1)
	for _, want := range []string{"extra   db 0 \"extra:key\"", "value   db 0 " + strconvQuote(list), "extra 1, type 0, value 1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "redkit:checkpoint") {
		t.Errorf("reserved key reported:\n%s", r.stdout)
	}

	r = redkit(t, nil, "compare", "--format", "json", "--max-report", "1", path, ref.URL()).want(t, 1)
	var got struct {
		Identical   bool             `json:"identical"`
		Counts      map[string]int64 `json:"counts"`
		Differences []struct {
			Kind string `json:"kind"`
			Key  string `json:"key"`
		} `json:"differences"`
		Truncated bool `json:"truncated"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	if got.Identical || got.Counts["extra"] != 1 || got.Counts["value"] != 1 || len(got.Differences) != 1 || !got.Truncated {
		t.Errorf("json report: %+v", got)
	}
}

// strconvQuote quotes a key as the text report does (Go syntax): the
// list chosen by SCAN may have a binary name.
func strconvQuote(s string) string { return strconv.Quote(s) }

// TestCompareProgressTotal: compare's progress counts keys out of a
// total when one is known: a dump's RESIZEDB count, a server's INFO
// keyspace; past it (a dump of several databases) it counts on alone.
func TestCompareProgressTotal(t *testing.T) {
	mem := corpus(t, "hdt3213-rdb/memory.rdb")
	if n, ok := dumpHeaderKeys(mem, nil); !ok || n != 7 {
		t.Errorf("dumpHeaderKeys(memory.rdb) = %d, %v; want its 7 keys", n, ok)
	}
	if n, ok := dumpHeaderKeys(mem, []int{3}); ok || n != 0 {
		t.Errorf("dumpHeaderKeys(memory.rdb, db 3) = %d, %v; want none", n, ok)
	}
	if _, ok := dumpHeaderKeys("-", nil); ok {
		t.Errorf("a total for standard input")
	}

	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	for i := range 25 {
		srv.Client().Set(ctx, "k"+strconv.Itoa(i), "v", 0)
	}
	var got []int64
	src, err := compareSource(globalOptions{}, compareOptions{}, 1, srv.URL(), func(n int64) { got = append(got, n) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := compare.Compare(ctx, mustDump(t, mem), src, compare.Options{}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != 25 {
		t.Errorf("server's key count %v, want [25]", got)
	}

	// The bar: 7 of 32, then past a total too small.
	var buf lockedBuffer
	var n atomic.Int64
	total := int64(32)
	stop := drawKeyProgress(&buf, &n, func() int64 { return total }, 5*time.Millisecond)
	n.Store(7)
	waitFor(t, &buf, regexp.MustCompile(`7 of 32 keys read`))
	n.Store(40)
	waitFor(t, &buf, regexp.MustCompile(`\b40 keys read`))
	stop()
	if strings.Contains(buf.String(), "40 of 32") {
		t.Errorf("a count past its total drawn: %q", buf.String())
	}
}

func mustDump(t *testing.T, path string) compare.Source {
	t.Helper()
	src, err := compareSource(globalOptions{}, compareOptions{}, 0, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestKeyProgressText(t *testing.T) {
	for _, tc := range []struct {
		done, total int64
		rate        float64
		want        string
	}{
		{7, -1, -1, "compare: 7 keys read"},
		{7, 32, -1, "compare: 7 of 32 keys read"},
		{10, 30, 10, "compare: 10 of 30 keys read, 10 keys/s, 2s left"},
	} {
		if got := keyProgressText(tc.done, tc.total, tc.rate); got != tc.want {
			t.Errorf("keyProgressText(%d, %d, %v) = %q, want %q", tc.done, tc.total, tc.rate, got, tc.want)
		}
	}
}
