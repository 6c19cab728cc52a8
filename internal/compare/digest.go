package compare

import (
	"encoding/binary"
	"hash/maphash"
	"math"

	"github.com/redkit/redkit/rdb"
)

// Digest is an order-independent digest of a set of element hashes: two
// 64-bit lanes, each the sum modulo 2^64 of one half of every element's
// 128-bit hash. The zero Digest is the digest of nothing.
type Digest [2]uint64

// add adds one element hash.
func (d *Digest) add(h Digest) {
	d[0] += h[0]
	d[1] += h[1]
}

// Hasher hashes elements with two random maphash seeds. Both sides of a
// comparison must use the same Hasher; digests mean nothing across
// Hashers (or runs). A Hasher is used by one goroutine at a time: make
// one per reader with Clone.
type Hasher struct {
	s1, s2 maphash.Seed
	h1, h2 maphash.Hash
	num    [binary.MaxVarintLen64]byte
}

// NewHasher returns a Hasher with new random seeds.
func NewHasher() *Hasher {
	h := &Hasher{s1: maphash.MakeSeed(), s2: maphash.MakeSeed()}
	h.h1.SetSeed(h.s1)
	h.h2.SetSeed(h.s2)
	return h
}

// Clone returns a Hasher with the same seeds, for another goroutine.
func (h *Hasher) Clone() *Hasher {
	c := &Hasher{s1: h.s1, s2: h.s2}
	c.h1.SetSeed(c.s1)
	c.h2.SetSeed(c.s2)
	return c
}

// Element tags keep elements of different kinds apart.
const (
	tagString   = 's'
	tagList     = 'l'
	tagSet      = 'S'
	tagZSet     = 'z'
	tagHash     = 'h'
	tagStream   = 'x'
	tagModule   = 'm'
	tagMeta     = 'M'
	tagGroup    = 'g'
	tagPending  = 'p'
	tagConsumer = 'c'
)

func (h *Hasher) begin(tag byte) {
	h.h1.Reset()
	h.h2.Reset()
	h.h1.WriteByte(tag)
	h.h2.WriteByte(tag)
}

// bytes writes a length-prefixed byte string.
func (h *Hasher) bytes(b []byte) {
	h.uint(uint64(len(b)))
	h.raw(b)
}

func (h *Hasher) raw(b []byte) {
	h.h1.Write(b)
	h.h2.Write(b)
}

func (h *Hasher) uint(v uint64) {
	n := binary.PutUvarint(h.num[:], v)
	h.raw(h.num[:n])
}

func (h *Hasher) int(v int64) { h.uint(uint64(v)) }

func (h *Hasher) id(id rdb.StreamID) {
	h.uint(id.Ms)
	h.uint(id.Seq)
}

func (h *Hasher) sum() Digest { return Digest{h.h1.Sum64(), h.h2.Sum64()} }

// String hashes a whole string value.
func (h *Hasher) String(s []byte) Digest {
	h.begin(tagString)
	h.bytes(s)
	return h.sum()
}

// ListItem hashes the list item at index i.
func (h *Hasher) ListItem(i int64, item []byte) Digest {
	h.begin(tagList)
	h.int(i)
	h.bytes(item)
	return h.sum()
}

// SetMember hashes a set member.
func (h *Hasher) SetMember(m []byte) Digest {
	h.begin(tagSet)
	h.bytes(m)
	return h.sum()
}

// ZSetMember hashes a sorted set member and its score's exact bits, but
// for -0, hashed as 0: Redis does not tell them apart (the same sorted
// set says "-0" as a skiplist and "0" as a listpack).
func (h *Hasher) ZSetMember(m []byte, score float64) Digest {
	if score == 0 {
		score = 0 // -0 too
	}
	h.begin(tagZSet)
	h.bytes(m)
	h.uint(math.Float64bits(score))
	return h.sum()
}

// HashField hashes a hash field, its value and its expiry (absolute Unix
// ms, or rdb.NoExpiry).
func (h *Hasher) HashField(f, v []byte, expireAt int64) Digest {
	h.begin(tagHash)
	h.bytes(f)
	h.bytes(v)
	if expireAt != rdb.NoExpiry {
		h.int(expireAt)
	}
	return h.sum()
}

// StreamEntry hashes a stream entry: its ID and its fields and values.
func (h *Hasher) StreamEntry(id rdb.StreamID, fields [][]byte) Digest {
	h.begin(tagStream)
	h.id(id)
	h.uint(uint64(len(fields)))
	for _, f := range fields {
		h.bytes(f)
	}
	return h.sum()
}

// Module hashes a module value's DUMP payload body (without the version
// and CRC trailer).
func (h *Hasher) Module(body []byte) Digest {
	h.begin(tagModule)
	h.bytes(body)
	return h.sum()
}

// StreamMeta hashes a stream's own metadata.
func (h *Hasher) StreamMeta(lastID, firstID, maxDeleted rdb.StreamID, entriesAdded uint64) Digest {
	h.begin(tagMeta)
	h.id(lastID)
	h.id(firstID)
	h.id(maxDeleted)
	h.uint(entriesAdded)
	return h.sum()
}

// Group hashes a consumer group's name, last delivered ID and entries
// read (-1 when unknown).
func (h *Hasher) Group(name []byte, lastID rdb.StreamID, entriesRead int64) Digest {
	h.begin(tagGroup)
	h.bytes(name)
	h.id(lastID)
	h.int(entriesRead)
	return h.sum()
}

// Pending hashes a pending entry of a group.
func (h *Hasher) Pending(group []byte, id rdb.StreamID, consumer []byte, deliveries uint64) Digest {
	h.begin(tagPending)
	h.bytes(group)
	h.id(id)
	h.bytes(consumer)
	h.uint(deliveries)
	return h.sum()
}

// Consumer hashes a consumer's name within its group.
func (h *Hasher) Consumer(group, name []byte) Digest {
	h.begin(tagConsumer)
	h.bytes(group)
	h.bytes(name)
	return h.sum()
}
