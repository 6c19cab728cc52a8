package analysis

import (
	"encoding/binary"
	"strconv"
	"testing"
)

func TestKeySet(t *testing.T) {
	s := NewKeySet()
	const n = 100000 // several growths
	for i := range n {
		if s.Add(i%3, []byte("key:"+strconv.Itoa(i))) {
			t.Fatalf("key %d reported as seen", i)
		}
	}
	if s.Len() != n {
		t.Fatalf("Len %d, want %d", s.Len(), n)
	}
	for i := range n {
		if !s.Add(i%3, []byte("key:"+strconv.Itoa(i))) {
			t.Fatalf("key %d not reported as seen", i)
		}
		if s.Add(i%3+1, []byte("key:"+strconv.Itoa(i))) {
			// the same name in another database is another key
			t.Fatalf("key %d of db %d reported as seen", i, i%3+1)
		}
	}
	if s.Add(0, nil) || !s.Add(0, nil) {
		t.Fatal("the empty key")
	}
}

func BenchmarkKeySet(b *testing.B) {
	keys := make([][]byte, 1<<20)
	for i := range keys {
		keys[i] = []byte("key:" + strconv.Itoa(i))
	}
	b.ReportAllocs()
	s := NewKeySet()
	for i := 0; b.Loop(); i++ {
		s.Add(0, keys[i&(len(keys)-1)])
	}
}

// TestKeySetSize: a KeySet made for n keys holds them without growing,
// in 15 bytes a key.
func TestKeySetSize(t *testing.T) {
	const n = 300000
	s := NewKeySetSize(n)
	before := s.Bytes()
	for i := range n {
		if s.Add(0, []byte("key:"+strconv.Itoa(i))) {
			t.Fatalf("key %d reported as seen", i)
		}
	}
	if s.Bytes() != before {
		t.Errorf("grew from %d to %d bytes", before, s.Bytes())
	}
	if per := float64(s.Bytes()) / n; per > 15.1 {
		t.Errorf("%.1f bytes a key, want 15", per)
	}
	for i := range n {
		if !s.Add(0, []byte("key:"+strconv.Itoa(i))) {
			t.Fatalf("key %d not reported as seen", i)
		}
	}
}

// BenchmarkKeySetNew adds keys never seen, as a scan of 4 million keys
// does, to a KeySet made for them.
func BenchmarkKeySetNew(b *testing.B) {
	b.ReportAllocs()
	s := NewKeySetSize(4 << 20)
	key := []byte("key:000000000000")
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint64(key[8:], uint64(i))
		s.Add(0, key)
	}
}
