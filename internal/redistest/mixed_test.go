package redistest_test

import (
	"testing"

	"github.com/redkit/redkit/internal/redistest"
)

// TestFillMixed checks that FillMixed gives every type and encoding of
// Redis 7.0, in databases 0, 1 and 2, and that MemoryUsage sees it all.
func TestFillMixed(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	c := srv.Client()
	if err := redistest.FillMixed(ctx, c, 1); err != nil {
		t.Fatalf("FillMixed: %v", err)
	}
	got, err := redistest.MemoryUsage(ctx, c)
	if err != nil {
		t.Fatalf("MemoryUsage: %v", err)
	}
	if len(got) < 2000 || len(got) > 5000 {
		t.Errorf("MemoryUsage found %d keys, want 2,000 to 5,000", len(got))
	}
	classes := map[string]int{}
	dbs := map[int]int{}
	for _, u := range got {
		classes[u.Type+"/"+u.Encoding]++
		dbs[u.DB]++
		if u.Usage <= 0 {
			t.Errorf("db %d key %.40q: usage %d, want > 0", u.DB, u.Key, u.Usage)
		}
	}
	t.Logf("keys per class: %v; per db: %v", classes, dbs)
	want := []string{
		"string/int", "string/embstr", "string/raw",
		"list/quicklist",
		"set/intset", "set/hashtable",
		"zset/listpack", "zset/skiplist",
		"hash/listpack", "hash/hashtable",
		"stream/stream",
	}
	for _, class := range want {
		if classes[class] < 20 {
			t.Errorf("%s: %d keys, want at least 20", class, classes[class])
		}
	}
	for db := range 3 {
		if dbs[db] == 0 {
			t.Errorf("db %d has no keys", db)
		}
	}
	// FillMixed restores the defaults it changed.
	cfg, err := c.ConfigGet(ctx, "*").Result()
	if err != nil {
		t.Fatalf("CONFIG GET: %v", err)
	}
	for name, wantV := range map[string]string{
		"hash-max-listpack-entries": "128", "hash-max-listpack-value": "64",
		"zset-max-listpack-entries": "128", "zset-max-listpack-value": "64",
		"set-max-intset-entries": "512", "list-max-listpack-size": "-2",
		"stream-node-max-entries": "100", "stream-node-max-bytes": "4096",
	} {
		if gotV := cfg[name]; gotV != wantV {
			t.Errorf("after FillMixed %s = %q, want %q", name, gotV, wantV)
		}
	}
	// The same seed gives the same keys and encodings, and the same memory
	// usage except where it depends on the server's random seeds: skiplist
	// node levels, and whether a growing hashtable's incremental rehash
	// (which counts both tables) has finished.
	other := redistest.Start(t, redistest.Options{})
	if err := redistest.FillMixed(ctx, other.Client(), 1); err != nil {
		t.Fatalf("FillMixed, second server: %v", err)
	}
	again, err := redistest.MemoryUsage(ctx, other.Client())
	if err != nil {
		t.Fatalf("MemoryUsage, second server: %v", err)
	}
	if len(again) != len(got) {
		t.Errorf("second server: %d keys, want %d", len(again), len(got))
	}
	diffs, usageDiffs := 0, 0
	for i := range min(len(got), len(again)) {
		a, b := got[i], again[i]
		if a.Usage != b.Usage && (a.Encoding == "skiplist" || a.Encoding == "hashtable") {
			usageDiffs++
			b.Usage = a.Usage
		}
		if a != b {
			if diffs++; diffs <= 10 {
				t.Errorf("second server: key %d is db %d %.40q %s/%s %d B, want db %d %.40q %s/%s %d B",
					i, b.DB, b.Key, b.Type, b.Encoding, b.Usage, a.DB, a.Key, a.Type, a.Encoding, a.Usage)
			}
		}
	}
	if diffs > 0 {
		t.Errorf("second server: %d keys differ", diffs)
	}
	t.Logf("second server: %d skiplist or hashtable keys use a different amount of memory", usageDiffs)
	// The client's own connections are still on db 0.
	if n, err := c.DBSize(ctx).Result(); err != nil || n != int64(dbs[0]) {
		t.Errorf("DBSIZE = %d, %v; want %d (db 0)", n, err, dbs[0])
	}
}

// TestFillMixedSeeds: every seed fills a server without an error (seed 7
// once emptied a list before LSET).
func TestFillMixedSeeds(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	c := srv.Client()
	for seed := range 12 {
		if err := c.Do(ctx, "FLUSHALL").Err(); err != nil {
			t.Fatal(err)
		}
		if err := redistest.FillMixed(ctx, c, int64(seed)); err != nil {
			t.Errorf("FillMixed seed %d: %v", seed, err)
		}
	}
}
