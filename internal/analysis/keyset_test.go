package analysis

import (
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
