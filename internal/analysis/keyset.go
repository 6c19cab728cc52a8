package analysis

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"math/bits"
)

// ErrDuplicateKey marks a key a dump holds twice in one database.
var ErrDuplicateKey = errors.New("duplicated key")

// KeySet remembers the keys of each database, to find a key a dump holds
// twice: Redis refuses to load such a file ("Duplicated key found in RDB
// file"). It keeps a 128-bit hash of each key, not the key: 16 bytes a
// slot in an open-addressing table at most 4/5 full, so 20 bytes a key
// when it was made for the number of keys it gets (NewKeySetSize), and
// up to 50 while it grows (by half, the old table beside the new one).
// Two different keys are taken for the same with a chance of about
// n²/2^128 for n keys.
type KeySet struct {
	h1, h2 maphash.Hash
	slots  [][2]uint64 // {0, 0} is an empty slot
	n      int
	db     [8]byte
}

// NewKeySet returns an empty KeySet.
func NewKeySet() *KeySet { return NewKeySetSize(0) }

// NewKeySetSize returns an empty KeySet made for n keys: it holds them
// without growing.
func NewKeySetSize(n int) *KeySet {
	s := &KeySet{slots: make([][2]uint64, max(1024, n/4*5+5))}
	s.h1.SetSeed(maphash.MakeSeed())
	s.h2.SetSeed(maphash.MakeSeed())
	return s
}

// Add adds db's key and reports whether it was there already.
func (s *KeySet) Add(db int, key []byte) bool {
	binary.LittleEndian.PutUint64(s.db[:], uint64(db))
	sum := [2]uint64{s.hash(&s.h1, key), s.hash(&s.h2, key) | 1} // never {0, 0}
	if s.insert(sum) {
		return true
	}
	if s.n++; s.n > len(s.slots)/5*4 {
		old := s.slots
		s.slots = make([][2]uint64, len(old)+len(old)/2)
		for _, v := range old {
			if v[1] != 0 {
				s.insert(v)
			}
		}
	}
	return false
}

// insert puts sum in its slot (linear probing from the slot its first
// word maps to) and reports whether it was there.
func (s *KeySet) insert(sum [2]uint64) bool {
	n := uint64(len(s.slots))
	i, _ := bits.Mul64(sum[0], n)
	for {
		switch s.slots[i] {
		case sum:
			return true
		case [2]uint64{}:
			s.slots[i] = sum
			return false
		}
		if i++; i == n {
			i = 0
		}
	}
}

// Bytes is the memory the table takes.
func (s *KeySet) Bytes() int64 { return int64(len(s.slots)) * 16 }

func (s *KeySet) hash(h *maphash.Hash, key []byte) uint64 {
	h.Reset()
	h.Write(s.db[:])
	h.Write(key)
	return h.Sum64()
}

// Len is the number of keys added.
func (s *KeySet) Len() int { return s.n }
