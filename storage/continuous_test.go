package storage_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redkit/redkit/storage"
)

// TestSegments: segments stored one after the other are listed in order
// and read back with their offsets and times; a missing one is a gap; a
// damaged one fails its checksum.
func TestSegments(t *testing.T) {
	ctx := context.Background()
	b, dir := newFile(t)
	gen := storage.NewID(time.Now())
	c := storage.Codec{Compression: "zstd"}
	base := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	off := int64(500)
	var infos []*storage.SegmentInfo
	for s := range 3 {
		rec, err := storage.CreateSegment(ctx, b, gen, storage.SegmentHeader{ReplID: "r", StartOffset: off, Start: base, DB: s}, c)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			cmd := []byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + strconv.Itoa(len(strconv.Itoa(i))) + "\r\n" + strconv.Itoa(i) + "\r\n")
			if err := rec.Append(cmd, base.Add(time.Duration(s*100+i)*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		}
		info, err := rec.Close(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if info.StartOffset != off || info.Records != 100 || info.DB != s || !info.First.Equal(base.Add(time.Duration(s*100)*time.Millisecond)) {
			t.Errorf("segment %d: %+v", s, info)
		}
		off = info.EndOffset
		infos = append(infos, info)
	}
	// A segment aborted half-way leaves nothing.
	rec, _ := storage.CreateSegment(ctx, b, gen, storage.SegmentHeader{StartOffset: off, Start: base}, c)
	rec.Append([]byte("*1\r\n$4\r\nPING\r\n"), base)
	rec.Abort(errors.New("link cut"))

	segs, err := storage.ListSegments(ctx, b, gen)
	if err != nil || len(segs) != 3 || segs[2].EndOffset != off {
		t.Fatalf("ListSegments: %d, %v", len(segs), err)
	}
	ss, err := storage.OpenSegment(ctx, b, segs[1], "zstd", storage.Codec{})
	if err != nil {
		t.Fatal(err)
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

	// A gap: the middle segment's info is gone.
	mid := filepath.Join(dir, "continuous", gen, filepath.Base(segName(segs[1])))
	if err := os.Remove(mid); err != nil {
		t.Fatal(err)
	}
	got, err := storage.ListSegments(ctx, b, gen)
	if !errors.Is(err, storage.ErrGap) || len(got) != 1 {
		t.Errorf("with a gap: %d segments, %v", len(got), err)
	}
	// A damaged segment fails its checksum.
	obj := filepath.Join(dir, "continuous", gen, segs[2].Object)
	data, _ := os.ReadFile(obj)
	data[len(data)/2] ^= 0x10
	os.WriteFile(obj, data, 0o644)
	ss, err = storage.OpenSegment(ctx, b, segs[2], "zstd", storage.Codec{})
	if err == nil {
		for err == nil {
			_, err = ss.Next()
		}
		if verr := ss.Verify(); verr != nil {
			err = verr
		}
	}
	if !errors.Is(err, storage.ErrChecksum) && !errors.Is(err, storage.ErrSegmentCorrupt) {
		t.Errorf("a damaged segment: %v", err)
	}
}

func segName(si storage.SegmentInfo) string {
	return fmt.Sprintf("%020d-%020d.json", si.StartOffset, si.EndOffset)
}
