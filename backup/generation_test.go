package backup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
)

// TestSegments: segments stored one after the other are listed in order
// (from their keys alone) and read back with their offsets and times; a
// missing one is a gap; a damaged one fails its checksum.
func TestSegments(t *testing.T) {
	ctx := context.Background()
	b, dir := newFile(t)
	gen := backup.NewID(time.Now())
	c := storage.Codec{Compression: "zstd"}
	base := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	off := int64(500)
	var infos []*backup.SegmentInfo
	for s := range 3 {
		sb, err := backup.NewSegmentBuilder(backup.SegmentHeader{ReplID: "r", StartOffset: off, Start: base, DB: s}, c)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			cmd := []byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + strconv.Itoa(len(strconv.Itoa(i))) + "\r\n" + strconv.Itoa(i) + "\r\n")
			if err := sb.Append(cmd, base.Add(time.Duration(s*100+i)*time.Millisecond), 0); err != nil {
				t.Fatal(err)
			}
		}
		closed := base.Add(time.Duration(s*100+150) * time.Millisecond)
		info, data, err := sb.Finish(gen, closed, s+1)
		if err != nil {
			t.Fatal(err)
		}
		if err := backup.StoreSegment(ctx, b, info, data); err != nil {
			t.Fatal(err)
		}
		if info.StartOffset != off || info.Records != 100 || info.EndDB != s+1 || !info.First.Equal(base.Add(time.Duration(s*100)*time.Millisecond)) || !info.Closed.Equal(closed) {
			t.Errorf("segment %d: %+v", s, info)
		}
		off = info.EndOffset
		infos = append(infos, info)
	}
	// A segment not finished leaves nothing; one stored again after a
	// restart (same start, more commands) hides the shorter one.
	sb, _ := backup.NewSegmentBuilder(backup.SegmentHeader{StartOffset: off, Start: base}, c)
	sb.Append([]byte("*1\r\n$4\r\nPING\r\n"), base, 0)

	segs, err := backup.ListSegments(ctx, b, gen)
	if err != nil || len(segs) != 3 || segs[2].EndOffset != off {
		t.Fatalf("ListSegments: %d, %v", len(segs), err)
	}
	for i := range segs {
		if segs[i] != *infos[i] {
			t.Errorf("listed %+v\nstored %+v", segs[i], *infos[i])
		}
	}
	ss, err := backup.OpenSegment(ctx, b, segs[1], "zstd", storage.Codec{})
	if err != nil {
		t.Fatal(err)
	}
	if h := ss.Header(); h.DB != 1 || h.ReplID != "r" {
		t.Errorf("header %+v", h)
	}
	n := 0
	for {
		r, err := ss.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 100 && (r.Offset != segs[1].EndOffset || !r.Received.Equal(segs[1].Last)) {
			t.Errorf("last record: offset %d at %v; info %+v", r.Offset, r.Received, segs[1])
		}
	}
	if err := ss.Verify(); err != nil || n != 100 {
		t.Errorf("%d records, verify %v", n, err)
	}
	ss.Close()

	// A gap: the middle segment is gone.
	if err := os.Remove(filepath.Join(dir, "continuous", gen, segs[1].Object)); err != nil {
		t.Fatal(err)
	}
	got, err := backup.ListSegments(ctx, b, gen)
	if !errors.Is(err, backup.ErrGap) || len(got) != 1 {
		t.Errorf("with a gap: %d segments, %v", len(got), err)
	}
	// A damaged segment fails its checksum.
	obj := filepath.Join(dir, "continuous", gen, segs[2].Object)
	data, _ := os.ReadFile(obj)
	data[len(data)/2] ^= 0x10
	os.WriteFile(obj, data, 0o644)
	ss, err = backup.OpenSegment(ctx, b, segs[2], "zstd", storage.Codec{})
	if err == nil {
		for err == nil {
			_, err = ss.Next()
		}
		if verr := ss.Verify(); verr != nil {
			err = verr
		}
	}
	if !errors.Is(err, storage.ErrChecksum) && !errors.Is(err, backup.ErrSegmentCorrupt) {
		t.Errorf("a damaged segment: %v", err)
	}
}

// TestSegmentRestored: a segment stored again from the same offset
// after a restart, longer, replaces the first in the listing.
func TestSegmentRestored(t *testing.T) {
	ctx := context.Background()
	b, _ := newFile(t)
	gen := backup.NewID(time.Now())
	now := time.Now()
	store := func(start int64, n int) *backup.SegmentInfo {
		sb, err := backup.NewSegmentBuilder(backup.SegmentHeader{StartOffset: start, Start: now}, storage.Codec{})
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			sb.Append([]byte("*1\r\n$4\r\nPING\r\n"), now, 0)
		}
		si, data, err := sb.Finish(gen, now, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := backup.StoreSegment(ctx, b, si, data); err != nil {
			t.Fatal(err)
		}
		return si
	}
	a := store(0, 2)
	store(a.EndOffset, 1)
	long := store(a.EndOffset, 3)
	segs, err := backup.ListSegments(ctx, b, gen)
	if err != nil || len(segs) != 2 || segs[1] != *long {
		t.Errorf("%+v, %v", segs, err)
	}
}

// TestSegmentsFailover: after a failover, the new master's history
// continues the generation from the offset after the old one's last data
// command, before the old master's trailing PINGs and PUBLISHes (stored
// in segments of the old replication ID): the listing follows the new
// history from there, whichever order the keys sort in, and leaves the
// old tail out.
func TestSegmentsFailover(t *testing.T) {
	ctx := context.Background()
	sha := strings.Repeat("ab", 32)
	put := func(b storage.Backend, gen string, start, end int64, replid string, closed int) {
		key := fmt.Sprintf("%s%s/%020d-%020d-%s-%d-%d-%d-%d-%d-%s.seg.zst", backup.ContinuousDir, gen, start, end, replid, closed, closed, closed, 1, 0, sha)
		if _, err := b.Put(ctx, key, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	type seg struct {
		start, end int64
		replid     string
		closed     int
	}
	for _, tc := range []struct {
		name string
		segs []seg
		want string
	}{
		{"the new history longer", []seg{{0, 100, "old", 1}, {100, 100, "old", 2}, {100, 150, "old", 3}, {150, 150, "old", 4}, {100, 300, "new", 5}, {300, 300, "new", 6}},
			"0-100/old 100-300/new 300-300/new"},
		{"inside the old segment", []seg{{0, 150, "old", 1}, {150, 164, "old", 2}, {120, 300, "new", 5}, {300, 400, "new", 6}},
			"0-150/old 120-300/new 300-400/new"},
		{"the new history shorter at first", []seg{{0, 100, "old", 1}, {100, 150, "old", 3}, {150, 164, "old", 4}, {100, 120, "new", 5}, {120, 400, "new", 6}},
			"0-100/old 100-120/new 120-400/new"},
		{"no failover: a replay of the same history is covered", []seg{{0, 100, "a", 1}, {100, 200, "a", 2}, {100, 150, "a", 3}, {200, 250, "a", 4}},
			"0-100/a 100-200/a 200-250/a"},
		{"an older history does not replace a newer one", []seg{{0, 100, "old", 1}, {100, 300, "new", 5}, {100, 150, "old", 3}},
			"0-100/old 100-300/new"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := newFile(t)
			gen := backup.NewID(time.Now())
			for _, s := range tc.segs {
				put(b, gen, s.start, s.end, s.replid, s.closed)
			}
			segs, err := backup.ListSegments(ctx, b, gen)
			var got []string
			for _, s := range segs {
				got = append(got, fmt.Sprintf("%d-%d/%s", s.StartOffset, s.EndOffset, s.ReplID))
			}
			if err != nil || strings.Join(got, " ") != tc.want {
				t.Errorf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// TestLastDataEnd: the offset after the last command that changes data,
// and its database, read back from stored segments past the master's
// trailing PINGs, PUBLISHes and SELECTs, across segments; without one,
// the first segment's start.
func TestLastDataEnd(t *testing.T) {
	ctx := context.Background()
	b, _ := newFile(t)
	gen := backup.NewID(time.Now())
	now := time.Now()
	resp := func(args ...string) []byte {
		out := fmt.Appendf(nil, "*%d\r\n", len(args))
		for _, a := range args {
			out = fmt.Appendf(out, "$%d\r\n%s\r\n", len(a), a)
		}
		return out
	}
	var segs []backup.SegmentInfo
	off := int64(1000)
	store := func(db int, cmds ...[]byte) {
		sb, err := backup.NewSegmentBuilder(backup.SegmentHeader{StartOffset: off, Start: now, DB: db}, storage.Codec{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cmds {
			sb.Append(c, now, db)
		}
		si, data, err := sb.Finish(gen, now, db)
		if err != nil {
			t.Fatal(err)
		}
		if err := backup.StoreSegment(ctx, b, si, data); err != nil {
			t.Fatal(err)
		}
		segs, off = append(segs, *si), si.EndOffset
	}
	ping := resp("PING")
	store(0, ping, resp("PUBLISH", "__sentinel__:hello", "x"))
	if end, db, err := backup.LastDataEnd(ctx, b, segs, "zstd", storage.Codec{}); end != 1000 || db != 0 || err != nil {
		t.Errorf("no data: %d, db %d, %v; want the first segment's start", end, db, err)
	}
	store(0, resp("SELECT", "3"), resp("SET", "k", "v"))
	want := off
	store(3, resp("SELECT", "0"), ping, resp("PUBLISH", "c", "m"))
	store(0)
	store(0, ping)
	if end, db, err := backup.LastDataEnd(ctx, b, segs, "zstd", storage.Codec{}); end != want || db != 3 || err != nil {
		t.Errorf("got %d, db %d, %v; want %d, db 3", end, db, err, want)
	}
}
