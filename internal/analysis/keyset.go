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
// file"). It keeps a 96-bit hash of each key, not the key: 12 bytes a
// slot in an open-addressing table at most 4/5 full, so 15 bytes a key
// when it was made for the number of keys it gets (NewKeySetSize), and
// up to 38 while it grows (by half, the old table beside the new one).
// Two different keys are taken for the same with a chance of about
// n²/2^97 for n keys (1e-13 for a hundred million).
type KeySet struct {
	h1, h2 maphash.Hash
	hi     []uint64 // a slot's first 64 bits
	lo     []uint32 // its last 32, never 0 in a used slot
	n      int
	db     [8]byte
}

// NewKeySet returns an empty KeySet.
func NewKeySet() *KeySet { return NewKeySetSize(0) }

// NewKeySetSize returns an empty KeySet made for n keys: it holds them
// without growing.
func NewKeySetSize(n int) *KeySet {
	size := max(1024, n/4*5+5)
	s := &KeySet{hi: make([]uint64, size), lo: make([]uint32, size)}
	s.h1.SetSeed(maphash.MakeSeed())
	s.h2.SetSeed(maphash.MakeSeed())
	return s
}

// Add adds db's key and reports whether it was there already.
func (s *KeySet) Add(db int, key []byte) bool {
	binary.LittleEndian.PutUint64(s.db[:], uint64(db))
	hi, lo := s.hash(&s.h1, key), uint32(s.hash(&s.h2, key))|1
	if s.insert(hi, lo) {
		return true
	}
	if s.n++; s.n > len(s.hi)/5*4 {
		oldHi, oldLo := s.hi, s.lo
		size := len(oldHi) + len(oldHi)/2
		s.hi, s.lo = make([]uint64, size), make([]uint32, size)
		for i, l := range oldLo {
			if l != 0 {
				s.insert(oldHi[i], l)
			}
		}
	}
	return false
}

// insert puts (hi, lo) in its slot (linear probing from the slot hi
// maps to) and reports whether it was there.
func (s *KeySet) insert(hi uint64, lo uint32) bool {
	n := uint64(len(s.hi))
	i, _ := bits.Mul64(hi, n)
	for {
		switch l := s.lo[i]; {
		case l == 0:
			s.hi[i], s.lo[i] = hi, lo
			return false
		case l == lo && s.hi[i] == hi:
			return true
		}
		if i++; i == n {
			i = 0
		}
	}
}

// Bytes is the memory the table takes.
func (s *KeySet) Bytes() int64 { return int64(len(s.hi)) * 12 }

func (s *KeySet) hash(h *maphash.Hash, key []byte) uint64 {
	h.Reset()
	h.Write(s.db[:])
	h.Write(key)
	return h.Sum64()
}

// Len is the number of keys added.
func (s *KeySet) Len() int { return s.n }
