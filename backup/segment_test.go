package backup_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/backup"
)

func segment(t testing.TB, cmds []string, times []time.Time) []byte {
	var b bytes.Buffer
	start := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	w, err := backup.NewSegmentWriter(&b, backup.SegmentHeader{ReplID: "abc", StartOffset: 1000, Start: start, DB: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cmds {
		if err := w.Append([]byte(c), times[i]); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	return b.Bytes()
}

func TestSegmentRoundTrip(t *testing.T) {
	base := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	cmds := []string{"*1\r\n$4\r\nPING\r\n", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", strings.Repeat("x", 3<<20), ""}
	times := []time.Time{base.Add(5 * time.Millisecond), base.Add(5*time.Millisecond + 300*time.Microsecond), base.Add(2 * time.Hour), base.Add(time.Hour)}
	data := segment(t, cmds, times)
	r, err := backup.NewSegmentReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if h := r.Header(); h.ReplID != "abc" || h.StartOffset != 1000 || h.DB != 2 {
		t.Errorf("header %+v", h)
	}
	off := int64(1000)
	for i, c := range cmds {
		rec, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		off += int64(len(c))
		want := times[i].Truncate(time.Millisecond)
		if i == 3 {
			want = times[2] // a clock going back is held
		}
		if string(rec.Command) != c || rec.Offset != off || !rec.Received.Equal(want) {
			t.Errorf("record %d: %d bytes, offset %d, time %v; want %d, %d, %v", i, len(rec.Command), rec.Offset, rec.Received, len(c), off, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last record: %v", err)
	}
	// About 6 bytes of overhead per small command before compression.
	small := segment(t, []string{cmds[1], cmds[1], cmds[1]}, []time.Time{base, base, base.Add(time.Millisecond)})
	if over := len(small) - len(segment(t, nil, nil)) - 3*len(cmds[1]); over > 3*7 {
		t.Errorf("%d bytes of overhead for 3 commands", over)
	}
}

// TestSegmentDamaged: a flipped byte stops the reader at the last good
// command, saying where; a cut segment too.
func TestSegmentDamaged(t *testing.T) {
	base := time.Now()
	cmd := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
	data := segment(t, []string{cmd, cmd, cmd, cmd}, []time.Time{base, base, base, base})
	for _, tc := range []struct {
		name  string
		data  []byte
		good  int
		where string
	}{
		{"flipped", func() []byte { d := bytes.Clone(data); d[len(d)-8] ^= 1; return d }(), 3, "checksum mismatch"},
		{"cut", data[:len(data)-5], 3, "cut short"},
	} {
		r, err := backup.NewSegmentReader(bytes.NewReader(tc.data))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			_, err = r.Next()
			if err != nil {
				break
			}
			n++
		}
		if n != tc.good || !errors.Is(err, backup.ErrSegmentCorrupt) || !strings.Contains(err.Error(), tc.where) || !strings.Contains(err.Error(), "last good record") {
			t.Errorf("%s: %d good records, %v", tc.name, n, err)
		}
	}
	if _, err := backup.NewSegmentReader(strings.NewReader("nope")); !errors.Is(err, backup.ErrSegmentCorrupt) {
		t.Errorf("not a segment: %v", err)
	}
}

// FuzzSegmentReader: whatever the bytes, no panic, no hang, and no
// allocation beyond what the input holds.
func FuzzSegmentReader(f *testing.F) {
	base := time.Now()
	f.Add(segment(f, []string{"*1\r\n$4\r\nPING\r\n"}, []time.Time{base}))
	f.Add([]byte("RKSEG1\n\x02{}\x00\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := backup.NewSegmentReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		for range 1000 {
			rec, err := r.Next()
			if err != nil {
				return
			}
			if len(rec.Command) > len(b) {
				t.Fatalf("a %d-byte command from %d bytes", len(rec.Command), len(b))
			}
		}
	})
}
