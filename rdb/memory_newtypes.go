package rdb

import (
	"math"
	"math/bits"
)

// Memory estimates for what Redis 8.8 added in RDB 14: arrays and the
// NACK zones of stream consumer groups. No Redis 8.8 server could be
// measured for this build, so these are models of the structures in
// Redis's sparsearray.h, costed with the same jemalloc size classes as
// memory.go, not fitted to MEMORY USAGE:
//
//   - an array is its robj and redisArray header; a directory of slice
//     pointers (flat, a power of two of them, while the highest slice is
//     below AR_SUPER_BLOCK_SLOTS, else super-directory blocks of 2048
//     pointers); per slice of 4096 indices a header and either sorted
//     (offset, value) pairs (up to AR_SPARSE_KMAX_DEFAULT, 10, elements)
//     or a dense window of 8-byte slots, a power of two wide; and a heap
//     string for each value that is not held inline in its tagged word
//     (integers of 62 bits, floats whose low 2 bits are zero, strings of
//     up to 7 bytes are inline).
//   - a stream's NACK zone is costed as the nearest existing model has
//     it, a doubly linked list: one 24-byte node per NACKed entry (the
//     entry itself is in the group's PEL, which memory.go costs).
const (
	arHeaderSize     = 80   // sizeof(redisArray) on 64 bits
	arSliceHeader    = 32   // sizeof(arSlice) on 64 bits
	arSliceBits      = 12   // AR_SLICE_SIZE_DEFAULT 4096
	arSparseMax      = 10   // AR_SPARSE_KMAX_DEFAULT
	arSuperSlots     = 2048 // AR_SUPER_BLOCK_SLOTS
	arSuperEntrySize = 24   // sizeof(arSDirEntry)
	arStringHeader   = 8    // arString's length word
	nackNodeSize     = 24   // a list node: prev, next, value
	robjSize         = 16
)

// newTypesMem accumulates the memory of an array or of a stream's NACK
// zones as the walkers feed it, elements in ascending index order.
type newTypesMem struct {
	nacked int64 // NACKed entries of a stream

	isArray   bool
	values    float64 // heap strings
	slices    float64 // closed slices
	slice     uint64  // current slice id
	sliceN    int64   // elements in it
	sliceLo   uint64  // lowest and highest offset in it
	sliceHi   uint64
	topSlice  uint64 // highest slice id
	blocks    int64  // distinct super-directory blocks
	lastBlock uint64
}

func (m *newTypesMem) arrayInt(idx uint64, v, textLen int64) {
	if v < -(1<<61) || v > 1<<61-1 {
		m.values += float64(jemallocSize(arStringHeader + textLen + 1))
	}
	m.arrayAt(idx)
}

func (m *newTypesMem) arrayFloat(idx uint64, f float64, textLen int64) {
	if math.Float64bits(f)&3 != 0 {
		m.values += float64(jemallocSize(arStringHeader + textLen + 1))
	}
	m.arrayAt(idx)
}

func (m *newTypesMem) arrayString(idx uint64, n int64) {
	if n > arSmallStrMax {
		m.values += float64(jemallocSize(arStringHeader + n + 1))
	}
	m.arrayAt(idx)
}

// arrayAt places an element in its slice, closing the previous slice
// when the index moves past it.
func (m *newTypesMem) arrayAt(idx uint64) {
	id, off := idx>>arSliceBits, idx&(1<<arSliceBits-1)
	if !m.isArray || id != m.slice {
		m.closeSlice()
		if block := id / arSuperSlots; !m.isArray || block != m.lastBlock {
			m.blocks++
			m.lastBlock = block
		}
		m.isArray = true
		m.slice, m.sliceN, m.sliceLo = id, 0, off
		m.topSlice = id
	}
	m.sliceN++
	m.sliceHi = off
}

func (m *newTypesMem) closeSlice() {
	if m.sliceN == 0 {
		return
	}
	if m.sliceN <= arSparseMax {
		// offsets (uint16) then values, aligned to 8.
		m.slices += float64(jemallocSize(arSliceHeader + (2*m.sliceN+7)&^7 + 8*m.sliceN))
	} else {
		window := int64(1) << bits.Len64(m.sliceHi-m.sliceLo)
		m.slices += float64(jemallocSize(arSliceHeader + 8*window))
	}
	m.sliceN = 0
}

// total is the memory beyond memory.go's model: for an array, all of it
// but the key's sds and dict entry; for a stream, its NACK zones.
func (m *newTypesMem) total() int64 {
	v := float64(m.nacked) * float64(jemallocSize(nackNodeSize))
	if m.isArray {
		m.closeSlice()
		v += robjSize + float64(jemallocSize(arHeaderSize)) + m.values + m.slices
		if m.topSlice < arSuperSlots {
			v += float64(jemallocSize(int64(8) << bits.Len64(m.topSlice)))
		} else {
			v += float64(m.blocks)*float64(jemallocSize(8*arSuperSlots)) + float64(jemallocSize(arSuperEntrySize*m.blocks))
		}
	}
	return int64(v)
}
