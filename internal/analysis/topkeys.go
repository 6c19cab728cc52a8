package analysis

import (
	"bytes"
	"cmp"
	"container/heap"
	"slices"

	"github.com/redkit/redkit/rdb"
)

// Key is a key kept by an aggregator, with its own copy of the name.
type Key struct {
	Source   string // dump the key comes from, when set
	DB       int
	Key      []byte
	Type     rdb.Type
	ExpireAt int64 // Unix ms, or rdb.NoExpiry
	Stats    rdb.ValueStats
}

// compareKeys orders keys by descending memory, then by database, name
// and source, so results do not depend on reading order.
func compareKeys(a, b *Key) int {
	if c := cmp.Compare(b.Stats.Memory, a.Stats.Memory); c != 0 {
		return c
	}
	if c := cmp.Compare(a.DB, b.DB); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	return cmp.Compare(a.Source, b.Source)
}

// TopKeys keeps the N biggest keys by estimated memory, in O(N) memory.
type TopKeys struct {
	Source string // label given to keys added from now on
	n      int
	h      keyHeap
}

// NewTopKeys keeps the n biggest keys (n >= 1).
func NewTopKeys(n int) *TopKeys { return &TopKeys{n: max(n, 1)} }

// Add offers a key; its name is copied only if it is kept.
func (t *TopKeys) Add(rec *rdb.Record, st rdb.ValueStats) {
	k := Key{Source: t.Source, DB: rec.DB, Key: rec.Key, Type: rec.Type, ExpireAt: rec.ExpireAt, Stats: st}
	if len(t.h) == t.n && compareKeys(&k, &t.h[0]) >= 0 {
		return // not bigger than the smallest kept
	}
	k.Key = bytes.Clone(k.Key)
	t.push(k)
}

func (t *TopKeys) push(k Key) {
	if len(t.h) < t.n {
		heap.Push(&t.h, k)
		return
	}
	t.h[0] = k
	heap.Fix(&t.h, 0)
}

// Merge offers all of o's keys.
func (t *TopKeys) Merge(o *TopKeys) {
	for _, k := range o.h {
		if len(t.h) == t.n && compareKeys(&k, &t.h[0]) >= 0 {
			continue
		}
		t.push(k)
	}
}

// Keys returns the kept keys, biggest first.
func (t *TopKeys) Keys() []Key {
	out := slices.Clone(t.h)
	slices.SortFunc(out, func(a, b Key) int { return compareKeys(&a, &b) })
	return out
}

// keyHeap is a heap whose root is the smallest kept key.
type keyHeap []Key

func (h keyHeap) Len() int           { return len(h) }
func (h keyHeap) Less(i, j int) bool { return compareKeys(&h[i], &h[j]) > 0 }
func (h keyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *keyHeap) Push(x any)        { *h = append(*h, x.(Key)) }
func (h *keyHeap) Pop() any {
	old := *h
	k := old[len(old)-1]
	*h = old[:len(old)-1]
	return k
}

// KeyOf returns rec and st as a Key that shares rec's key bytes: valid
// only until the reader moves on.
func KeyOf(source string, rec *rdb.Record, st rdb.ValueStats) Key {
	return Key{Source: source, DB: rec.DB, Key: rec.Key, Type: rec.Type, ExpireAt: rec.ExpireAt, Stats: st}
}
