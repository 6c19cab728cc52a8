package sync

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/redkit/redkit/rdb"
)

// dedupThrough adds members (values "v"+member for a hash) through a
// deduper with limits l and hash (nil: its own) and returns the members
// and values the written key holds, in order.
func dedupThrough(t *testing.T, typ rdb.Type, members []string, l dedupLimits, hash func([]byte) [2]uint64) (got []string, spans int) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "spool")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := rdb.NewCollection(typ, f)
	if err != nil {
		t.Fatal(err)
	}
	s := &scanner{tempDir: t.TempDir(), dedup: l}
	d := s.newDeduper(c, f)
	defer d.close()
	if hash != nil {
		d.hash = hash
	}
	for i, m := range members {
		e := rdb.Element{Member: []byte(m), Value: []byte("v" + m), Score: float64(i), ExpireAt: rdb.NoExpiry}
		if err := d.add(&e); err != nil {
			t.Fatal(err)
		}
	}
	omit, omitN, omitLen, err := d.finish()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var spool io.Reader = f
	if omitN > 0 {
		if spool, err = c.OmitSpans(f, omit, omitN, omitLen); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	w, err := rdb.NewWriter(&out, rdb.WriterOptions{Version: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteCollection(0, []byte("k"), rdb.NoExpiry, c, spool, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rd := rdb.NewReader(bytes.NewReader(out.Bytes()))
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind != rdb.KindKey {
			continue
		}
		err = rd.Elements(func(e *rdb.Element) error {
			if typ == rdb.TypeHash && string(e.Value) != "v"+string(e.Member) {
				return fmt.Errorf("field %q has value %q", e.Member, e.Value)
			}
			got = append(got, string(e.Member))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if uint64(len(got)) != c.Len() {
		t.Fatalf("%d elements read, the collection counts %d", len(got), c.Len())
	}
	return got, int(omitN)
}

// firstOccurrences is members, each once, in the order first met.
func firstOccurrences(members []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range members {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

// TestDeduper: members given with repeats (near and far, across runs
// and intermediate merges, the first and the last element repeated) are
// written once each, in the order first met, whether held in memory or
// spilled; with a hash that collides for most members, members are told
// apart by their bytes.
func TestDeduper(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	collide := func(m []byte) [2]uint64 { return [2]uint64{uint64(len(m) % 3), 7} }
	for _, tc := range []struct {
		name   string
		n      int
		l      dedupLimits
		hash   func([]byte) [2]uint64
		spills bool
	}{
		{"memory", 500, dedupLimits{}, nil, false},
		{"runs", 2000, dedupLimits{memMembers: 10, runRecords: 37, fanIn: 1000}, nil, true},
		{"merged runs", 3000, dedupLimits{memMembers: 10, runRecords: 7, fanIn: 3}, nil, true},
		{"one run in memory", 300, dedupLimits{memMembers: 10, runRecords: 1000}, nil, true},
		{"collisions in memory", 300, dedupLimits{}, collide, false},
		{"collisions in runs", 600, dedupLimits{memMembers: 5, runRecords: 11, fanIn: 3}, collide, true},
	} {
		for _, typ := range []rdb.Type{rdb.TypeSet, rdb.TypeZSet, rdb.TypeHash} {
			t.Run(fmt.Sprintf("%s/%v", tc.name, typ), func(t *testing.T) {
				var members []string
				for i := range tc.n {
					m := fmt.Sprintf("m%d%s", rng.IntN(tc.n), bytes.Repeat([]byte("x"), rng.IntN(5)))
					if i%50 == 0 {
						m = fmt.Sprintf("alone%d", i)
					}
					members = append(members, m)
					if rng.IntN(10) == 0 && len(members) > 0 {
						members = append(members, members[rng.IntN(len(members))]) // a repeat
					}
				}
				members = append(members, members[0], members[len(members)-1], members[0])
				members = append(members, "last")
				want := firstOccurrences(members)
				got, spans := dedupThrough(t, typ, members, tc.l, tc.hash)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%d members written, want %d", len(got), len(want))
				}
				if tc.spills != (spans > 0) {
					t.Errorf("%d spans omitted, spilling %v", spans, tc.spills)
				}
			})
		}
	}
}

// TestDeduperRunsFail: runs that cannot be written fail the key, naming
// them, rather than let a repeat through.
func TestDeduperRunsFail(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "spool")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := rdb.NewCollection(rdb.TypeSet, f)
	if err != nil {
		t.Fatal(err)
	}
	s := &scanner{tempDir: t.TempDir() + "/missing", dedup: dedupLimits{memMembers: 4, runRecords: 4}}
	d := s.newDeduper(c, f)
	defer d.close()
	for i := range 100 {
		err = d.add(&rdb.Element{Member: []byte(fmt.Sprint(i))})
		if err != nil {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "runs of a big key's members") {
		t.Fatalf("runs in a missing directory: %v", err)
	}
}
