package backup

import (
	"math"
	"strings"
	"testing"
	"time"
)

// segmentInfoSeeds are segments whose keys round-trip.
func segmentInfoSeeds() []SegmentInfo {
	sha := strings.Repeat("0123456789abcdef", 4)
	t0 := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	return []SegmentInfo{
		{StartOffset: 0, EndOffset: 0, First: time.UnixMilli(0).UTC(), Last: time.UnixMilli(0).UTC(), Closed: time.UnixMilli(0).UTC(), SHA256: sha},
		{StartOffset: 1000, EndOffset: 1468, ReplID: "8de1b24d2e7f0c1a9b6e5d4c3b2a190817263544", EndDB: 3, First: t0.Add(10 * time.Millisecond), Last: t0.Add(50 * time.Millisecond), Closed: t0.Add(55 * time.Millisecond), Records: 12, SHA256: sha},
		{StartOffset: 1468, EndOffset: 1468, EndDB: 15, First: t0, Last: t0, Closed: t0.Add(time.Hour), SHA256: strings.Repeat("f", 64)},
		{StartOffset: math.MaxInt64 - 1, EndOffset: math.MaxInt64, EndDB: 1 << 20, First: time.UnixMilli(math.MaxInt64).UTC(),
			Last: time.UnixMilli(math.MaxInt64).UTC(), Closed: time.UnixMilli(math.MaxInt64).UTC(), Records: math.MaxInt64, SHA256: sha},
	}
}

var segmentSuffixes = []string{"", ".zst", ".gz", ".zst.age", ".gz.age", ".age"}

// TestSegmentObjectRoundTrip: a segment's key reads back as the segment
// it names, and only well-formed keys are read as segments.
func TestSegmentObjectRoundTrip(t *testing.T) {
	for _, si := range segmentInfoSeeds() {
		for _, sfx := range segmentSuffixes {
			si.Generation = "gen"
			name := segmentObject(&si, sfx)
			got, ok := parseSegmentObject("gen", name, 42)
			want := si
			want.Object, want.StoredBytes = name, 42
			if !ok || got != want {
				t.Errorf("%s: parsed %v %+v\nwant %+v", name, ok, got, want)
			}
			if again := segmentObject(&got, sfx); again != name {
				t.Errorf("%s: formatted again as %s", name, again)
			}
		}
	}
	sha := strings.Repeat("a", 64)
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"1-2-r1-3-4-5-6-7-" + sha + ".seg", true},
		{"1-2-r1-3-4-5-6-7-" + sha + ".seg.zst", true},
		{"1-2-r1-3-4-5-6-7-" + sha, false},                             // no .seg
		{"1-2-r1-3-4-5-6-7-" + sha[:63] + ".seg", false},               // a short checksum
		{"1-2-r1-3-4-5-6-7-" + sha + "a.seg", false},                   // a long one
		{"1-2-r1-3-4-5-6-" + sha + ".seg", false},                      // a field missing
		{"1-2-r1-3-4-5-6-7-8-" + sha + ".seg", false},                  // one too many
		{"1-2--3-4-5-6-7-" + sha + ".seg", true},                       // no replication ID
		{"1-2-r_1-3-4-5-6-7-" + sha + ".seg", false},                   // not letters and digits
		{"2-1-r1-3-4-5-6-7-" + sha + ".seg", false},                    // ends before it starts
		{"1-2-r1-3-4-5-6-1048577-" + sha + ".seg", false},              // a database beyond 1<<20
		{"1-2-r1-3-4-5-6-1048576-" + sha + ".seg", true},               // the greatest
		{"1-2-r1-x-4-5-6-7-" + sha + ".seg", false},                    // not a number
		{"1--2-3-4-5-6-7-" + sha + ".seg", false},                      // a negative number reads as an empty field
		{"1-2-r1-3-4-5-99999999999999999999-7-" + sha + ".seg", false}, // out of range
		{"+1-2-r1-3-4-5-6-7-" + sha + ".seg", false},                   // a sign is refused: segmentObject writes none
		{"", false},
		{".seg", false},
	} {
		if _, ok := parseSegmentObject("gen", tc.name, 0); ok != tc.ok {
			t.Errorf("%q: ok %v, want %v", tc.name, ok, tc.ok)
		}
	}
}

// FuzzSegmentKey: whatever a folder holds, reading its names as segment
// keys never panics; what is read as a segment is a valid one (offsets
// in order, a database in range, a 64-character checksum), and its
// canonical key (segmentObject's) reads back as the same segment and
// formats again as itself. The seeds, segmentObject's keys, are their
// own canonical keys.
func FuzzSegmentKey(f *testing.F) {
	for _, si := range segmentInfoSeeds() {
		for _, sfx := range segmentSuffixes {
			f.Add(segmentObject(&si, sfx))
		}
	}
	sha := strings.Repeat("a", 64)
	f.Add("+1-02-r1-3-4-5-6-7-" + sha + ".seg.zst")
	f.Add("1-2-r1-3-4-5-6-7-" + sha + ".seg.seg")
	f.Add("1-2-r1-3-4-5-6-7-" + sha[:60] + "/.se.seg")
	f.Add("")
	f.Add(".seg")
	f.Add("--------.seg")
	f.Fuzz(func(t *testing.T, name string) {
		si, ok := parseSegmentObject("gen", name, 7)
		if !ok {
			return
		}
		if si.Generation != "gen" || si.Object != name || si.StoredBytes != 7 {
			t.Fatalf("%q: %+v", name, si)
		}
		if si.StartOffset < 0 || si.EndOffset < si.StartOffset || si.Records < 0 || si.EndDB < 0 || si.EndDB > 1<<20 || len(si.SHA256) != 64 {
			t.Fatalf("%q: an invalid segment %+v", name, si)
		}
		_, suffix, _ := strings.Cut(name, ".seg")
		canon := segmentObject(&si, suffix)
		again, ok := parseSegmentObject("gen", canon, 7)
		if !ok {
			t.Fatalf("%q: its canonical key %q does not parse", name, canon)
		}
		again.Object = name
		if again != si {
			t.Fatalf("%q: canonical key %q reads as %+v, not %+v", name, canon, again, si)
		}
		if c2 := segmentObject(&again, suffix); c2 != canon {
			t.Fatalf("%q: canonical key %q formats again as %q", name, canon, c2)
		}
		// A name that is already canonical is its own canonical key.
		if isCanonicalSegmentKey(name) && canon != name {
			t.Fatalf("canonical %q formats as %q", name, canon)
		}
	})
}

// isCanonicalSegmentKey tells whether name has the fields as
// segmentObject prints them: offsets of 20 digits, the other numbers
// without sign or leading zero.
func isCanonicalSegmentKey(name string) bool {
	base, _, ok := strings.Cut(name, ".seg")
	if !ok {
		return false
	}
	f := strings.Split(base, "-")
	if len(f) != 8 {
		return false
	}
	for i, s := range f[:7] {
		if s == "" || strings.Trim(s, "0123456789") != "" {
			return false
		}
		if i < 2 && len(s) != 20 || i >= 2 && len(s) > 1 && s[0] == '0' {
			return false
		}
	}
	return true
}
