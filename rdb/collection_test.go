package rdb_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/redkit/redkit/rdb"
)

// elementsOf makes a value of type t from data: its bytes cut into
// members of varying lengths (unique for sets, sorted sets and hashes).
func elementsOf(t rdb.Type, data []byte) []rdb.Element {
	var out []rdb.Element
	seen := map[string]bool{}
	id := rdb.StreamID{Ms: 1}
	for i := 0; len(data) > 0; i++ {
		n := min(len(data), int(data[0]%23))
		m := append([]byte{}, data[:n]...)
		data = data[n:]
		if len(data) > 0 {
			data = data[1:]
		}
		if t != rdb.TypeList && t != rdb.TypeStream && t != rdb.TypeString {
			if seen[string(m)] {
				continue
			}
			seen[string(m)] = true
		}
		e := rdb.Element{Member: m, ExpireAt: rdb.NoExpiry}
		switch t {
		case rdb.TypeZSet:
			e.Score = float64(len(m)) / 3
			if len(m) > 0 && m[0]%5 == 0 {
				e.Score = math.Inf(1)
			}
		case rdb.TypeHash:
			e.Value = []byte(strings.Repeat("v", i%70))
		case rdb.TypeStream:
			id.Seq += uint64(len(m)) + 1
			if len(m) > 0 && m[0]%3 == 0 {
				id.Ms++
			}
			e.ID = id
			e.Fields = [][]byte{[]byte("f"), m}
			if i%4 == 1 {
				e.Fields = append(e.Fields, []byte("g"), []byte(fmt.Sprint(i)))
			}
		}
		out = append(out, e)
	}
	return out
}

// viaCollection writes one key through a Collection spooled in a buffer.
func viaCollection(t testing.TB, version int, typ rdb.Type, key string, exp int64, elems []rdb.Element) []byte {
	t.Helper()
	var out, spool bytes.Buffer
	w, err := rdb.NewWriter(&out, rdb.WriterOptions{Version: version})
	if err != nil {
		t.Fatal(err)
	}
	c, err := rdb.NewCollection(typ, &spool)
	if err != nil {
		t.Fatal(err)
	}
	for i := range elems {
		if err := c.Add(&elems[i]); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != uint64(len(elems)) {
		t.Fatalf("Len %d, want %d", c.Len(), len(elems))
	}
	if err := w.WriteCollection(3, []byte(key), exp, c, &spool, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// viaWriteKey writes the same key with WriteKey, elements in memory.
func viaWriteKey(t testing.TB, version int, typ rdb.Type, key string, exp int64, elems []rdb.Element) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := rdb.NewWriter(&out, rdb.WriterOptions{Version: version})
	if err != nil {
		t.Fatal(err)
	}
	if typ == rdb.TypeString {
		// One element: the pieces joined.
		var whole []byte
		for _, e := range elems {
			whole = append(whole, e.Member...)
		}
		elems = []rdb.Element{{Member: whole, ExpireAt: rdb.NoExpiry}}
	}
	kv := &rdb.KeyValue{DB: 3, Key: []byte(key), Type: typ, ExpireAt: exp, Idle: -1, Freq: -1,
		Elements: func(fn func(*rdb.Element) error) error {
			for i := range elems {
				if err := fn(&elems[i]); err != nil {
					return err
				}
			}
			return nil
		}}
	if err := w.WriteKey(kv); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

var collectionTypes = []rdb.Type{rdb.TypeList, rdb.TypeSet, rdb.TypeZSet, rdb.TypeHash, rdb.TypeStream, rdb.TypeString}

// TestCollectionRoundTrip: a key written element by element through a
// spool is byte for byte the key WriteKey writes from memory, and reads
// back with its elements, for every type, in RDB 10 and 11, from empty
// to thousands of elements (streams over many listpack nodes).
func TestCollectionRoundTrip(t *testing.T) {
	for _, version := range []int{10, 11} {
		for _, typ := range collectionTypes {
			for _, n := range []int{0, 1, 99, 100, 101, 5000} {
				t.Run(fmt.Sprintf("v%d/%v/%d", version, typ, n), func(t *testing.T) {
					data := make([]byte, 0, n*8)
					for i := range n {
						data = binary.BigEndian.AppendUint32(data, uint32(i)*2654435761)
						data = append(data, byte(i%7))
					}
					elems := elementsOf(typ, data)
					got := viaCollection(t, version, typ, "k", 1700000000000, elems)
					want := viaWriteKey(t, version, typ, "k", 1700000000000, elems)
					if !bytes.Equal(got, want) {
						t.Fatalf("%d elements: %d bytes through a Collection, %d through WriteKey", len(elems), len(got), len(want))
					}
					checkReadBack(t, got, typ, elems)
				})
			}
		}
	}
}

// checkReadBack reads file and checks it holds key "k" of type typ with
// elems (or nothing, for an empty non-stream collection).
func checkReadBack(t testing.TB, file []byte, typ rdb.Type, elems []rdb.Element) {
	t.Helper()
	if typ == rdb.TypeString {
		var whole []byte
		for _, e := range elems {
			whole = append(whole, e.Member...)
		}
		elems = []rdb.Element{{Member: whole}}
	}
	rd := rdb.NewReader(bytes.NewReader(file))
	keys := 0
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
		keys++
		if rec.Type != typ || string(rec.Key) != "k" || rec.DB != 3 || rec.ExpireAt != 1700000000000 {
			t.Fatalf("record %v %q db %d exp %d", rec.Type, rec.Key, rec.DB, rec.ExpireAt)
		}
		i := 0
		err = rd.Elements(func(e *rdb.Element) error {
			if i >= len(elems) {
				return fmt.Errorf("element %d of %d", i, len(elems))
			}
			w := &elems[i]
			if !bytes.Equal(e.Member, w.Member) && typ != rdb.TypeStream || e.Score != w.Score || !bytes.Equal(e.Value, w.Value) || e.ID != w.ID {
				return fmt.Errorf("element %d: %+v, want %+v", i, e, w)
			}
			i++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if i != len(elems) {
			t.Fatalf("%d elements read, want %d", i, len(elems))
		}
	}
	if want := min(1, len(elems)); (typ == rdb.TypeStream || typ == rdb.TypeString) && keys != 1 || typ != rdb.TypeStream && typ != rdb.TypeString && keys != want {
		t.Fatalf("%d keys read", keys)
	}
}

// TestCollectionErrors: what a Collection refuses, and a short spool
// breaking the file rather than writing a wrong one.
func TestCollectionErrors(t *testing.T) {
	if _, err := rdb.NewCollection(rdb.TypeModule, io.Discard); !errors.Is(err, rdb.ErrUnsupportedType) {
		t.Errorf("a module collection: %v", err)
	}
	c, _ := rdb.NewCollection(rdb.TypeHash, io.Discard)
	if err := c.Add(&rdb.Element{Member: []byte("f"), ExpireAt: 5}); err == nil {
		t.Error("a hash field with an expiry was taken")
	}
	c, _ = rdb.NewCollection(rdb.TypeZSet, io.Discard)
	if err := c.Add(&rdb.Element{Member: []byte("m"), Score: math.NaN()}); err == nil {
		t.Error("a NaN score was taken")
	}
	c, _ = rdb.NewCollection(rdb.TypeStream, io.Discard)
	c.Add(&rdb.Element{ID: rdb.StreamID{Ms: 5}, ExpireAt: rdb.NoExpiry})
	if err := c.Add(&rdb.Element{ID: rdb.StreamID{Ms: 4}}); err == nil {
		t.Error("stream entries out of order were taken")
	}

	var out bytes.Buffer
	w, _ := rdb.NewWriter(&out, rdb.WriterOptions{})
	var spool bytes.Buffer
	c, _ = rdb.NewCollection(rdb.TypeSet, &spool)
	c.Add(&rdb.Element{Member: []byte("a")})
	c.Add(&rdb.Element{Member: []byte("b")})
	c.Flush()
	short := bytes.NewReader(spool.Bytes()[:2])
	if err := w.WriteCollection(0, []byte("s"), rdb.NoExpiry, c, short, nil); !errors.Is(err, rdb.ErrSpoolSize) {
		t.Fatalf("a short spool: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Error("the file closed after a short spool")
	}
}

// FuzzCollection: whatever the elements, a Collection writes what
// WriteKey writes, and it reads back.
func FuzzCollection(f *testing.F) {
	f.Add(byte(0), []byte("hello world, a few members"))
	f.Add(byte(4), bytes.Repeat([]byte{7, 1, 2, 3, 4, 5, 6, 7, 8}, 300))
	f.Add(byte(3), []byte{})
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		typ := collectionTypes[int(which)%len(collectionTypes)]
		version := 10 + int(which/8)%2
		elems := elementsOf(typ, data)
		got := viaCollection(t, version, typ, "k", 1700000000000, elems)
		want := viaWriteKey(t, version, typ, "k", 1700000000000, elems)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d elements: %d bytes through a Collection, %d through WriteKey", len(elems), len(got), len(want))
		}
		checkReadBack(t, got, typ, elems)
	})
}

// TestCollectionOmit: elements spooled then omitted (repeated members,
// the first and the last element among them) give byte for byte the key
// written from the other elements alone; ElementMember finds each
// omitted element's member in its span.
func TestCollectionOmit(t *testing.T) {
	for _, typ := range []rdb.Type{rdb.TypeList, rdb.TypeSet, rdb.TypeZSet, rdb.TypeHash} {
		for _, n := range []int{1, 2, 100, 3000} {
			t.Run(fmt.Sprintf("%v/%d", typ, n), func(t *testing.T) {
				var all, kept []rdb.Element
				for i := range n {
					e := rdb.Element{Member: []byte(fmt.Sprintf("m%d%s", i, strings.Repeat("x", i%90))), ExpireAt: rdb.NoExpiry}
					switch typ {
					case rdb.TypeZSet:
						e.Score = float64(i)
					case rdb.TypeHash:
						e.Value = []byte("v")
					}
					if i == 70 {
						e.Member = bytes.Repeat([]byte("L"), 20000) // a 5-byte length
					}
					all = append(all, e)
				}
				// Omitted: the first, the last, every seventh.
				omit := map[int]bool{0: true, n - 1: true}
				for i := 3; i < n; i += 7 {
					omit[i] = true
				}
				var spool bytes.Buffer
				c, err := rdb.NewCollection(typ, &spool)
				if err != nil {
					t.Fatal(err)
				}
				var spans []rdb.Span
				for i := range all {
					off := c.Offset()
					if err := c.Add(&all[i]); err != nil {
						t.Fatal(err)
					}
					if omit[i] {
						spans = append(spans, rdb.Span{Off: off, Len: c.Offset() - off})
					} else {
						kept = append(kept, all[i])
					}
				}
				if err := c.Flush(); err != nil {
					t.Fatal(err)
				}
				j := 0
				for i := range all {
					if !omit[i] {
						continue
					}
					s := spans[j]
					j++
					m, err := rdb.ElementMember(spool.Bytes()[s.Off : s.Off+s.Len])
					if err != nil || !bytes.Equal(m, all[i].Member) {
						t.Fatalf("element %d: member %.20q, %v; want %.20q", i, m, err, all[i].Member)
					}
				}
				r, err := c.Omit(bytes.NewReader(spool.Bytes()), spans)
				if err != nil {
					t.Fatal(err)
				}
				if c.Len() != uint64(len(kept)) {
					t.Fatalf("Len %d after Omit, want %d", c.Len(), len(kept))
				}
				var out bytes.Buffer
				w, err := rdb.NewWriter(&out, rdb.WriterOptions{Version: 11})
				if err != nil {
					t.Fatal(err)
				}
				if err := w.WriteCollection(3, []byte("k"), 1700000000000, c, r, nil); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				want := viaWriteKey(t, 11, typ, "k", 1700000000000, kept)
				if !bytes.Equal(out.Bytes(), want) {
					t.Fatalf("%d kept: %d bytes, want %d", len(kept), out.Len(), len(want))
				}
				checkReadBack(t, out.Bytes(), typ, kept)
			})
		}
	}
	t.Run("errors", func(t *testing.T) {
		var spool bytes.Buffer
		c, _ := rdb.NewCollection(rdb.TypeSet, &spool)
		for _, m := range []string{"a", "b"} {
			c.Add(&rdb.Element{Member: []byte(m)})
		}
		for _, spans := range [][]rdb.Span{{{Off: 2, Len: 2}, {Off: 0, Len: 2}}, {{Off: 3, Len: 2}}, {{Off: 0, Len: 0}}, {{Off: 0, Len: 2}, {Off: 1, Len: 2}}} {
			if _, err := c.Omit(&spool, spans); err == nil {
				t.Errorf("Omit(%v) took it", spans)
			}
		}
		// Spans fewer than told, or past the bytes written, break the
		// file rather than write a wrong count.
		for _, tc := range []struct {
			name    string
			members []string
			span    rdb.Span
		}{
			{"spans short of those told, none left", []string{"a", "b"}, rdb.Span{Off: 0, Len: 2}},
			{"spans short of those told", []string{"a", "b", "c"}, rdb.Span{Off: 0, Len: 2}},
			{"the last span past the bytes written", []string{"a", "b", "c"}, rdb.Span{Off: 4, Len: 2}},
		} {
			spool.Reset()
			c, _ := rdb.NewCollection(rdb.TypeSet, &spool)
			for _, m := range tc.members {
				c.Add(&rdb.Element{Member: []byte(m)})
			}
			r, err := c.OmitSpans(bytes.NewReader(spool.Bytes()), &spanList{tc.span}, 2, 4)
			if err != nil {
				t.Fatal(err)
			}
			w, _ := rdb.NewWriter(io.Discard, rdb.WriterOptions{Version: 11})
			if err := w.WriteCollection(0, []byte("k"), rdb.NoExpiry, c, r, nil); !errors.Is(err, rdb.ErrSpoolSize) {
				t.Errorf("WriteCollection with %s: %v", tc.name, err)
			}
		}
		s, _ := rdb.NewCollection(rdb.TypeStream, &spool)
		if _, err := s.Omit(&spool, nil); !errors.Is(err, rdb.ErrUnsupportedType) {
			t.Errorf("Omit of a stream: %v", err)
		}
		for _, elem := range [][]byte{nil, {0x41}, {0x80, 0, 0}, {0x05, 'a'}, {0xc0}} {
			if _, err := rdb.ElementMember(elem); !errors.Is(err, rdb.ErrCorrupt) {
				t.Errorf("ElementMember(%x): %v", elem, err)
			}
		}
	})
}

type spanList []rdb.Span

func (l *spanList) Next() (rdb.Span, error) {
	if len(*l) == 0 {
		return rdb.Span{}, io.EOF
	}
	s := (*l)[0]
	*l = (*l)[1:]
	return s, nil
}
