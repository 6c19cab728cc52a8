package rdb

import (
	"hash/crc64"
	gosync "sync"
)

// crcTable is the CRC-64/Jones table Redis uses (polynomial 0xad93d23594c935a9,
// reflected), in the reversed form hash/crc64 expects.
var crcTable = crc64.MakeTable(crcPoly)

const crcPoly = 0x95ac9329ac4bc9b5

// crcUpdate continues a Redis CRC64 (initial value 0, no final xor) over p.
func crcUpdate(crc uint64, p []byte) uint64 {
	return ^crc64.Update(^crc, crcTable, p)
}

// Redis's CRC64 has no initial value or final xor, so it is linear:
// crc(A||B) = shift(crc(A), len(B)) ^ crc(B), where shift appends len(B)
// zero bytes. That lets blocks be hashed independently, in parallel, and
// folded in order. shift uses precomputed GF(2) matrices that append 2^k
// zero bytes.

type gf2Matrix [64]uint64

func (m *gf2Matrix) times(v uint64) uint64 {
	var s uint64
	for i := 0; v != 0; i, v = i+1, v>>1 {
		if v&1 != 0 {
			s ^= m[i]
		}
	}
	return s
}

func (m *gf2Matrix) square() gf2Matrix {
	var sq gf2Matrix
	for i := range m {
		sq[i] = m.times(m[i])
	}
	return sq
}

// zeroByteOps[k] appends 2^k zero bytes to a CRC register.
var zeroByteOps = gosync.OnceValue(func() *[40]gf2Matrix {
	var ops [40]gf2Matrix
	// One zero bit: reflected shift right, xor the polynomial on carry.
	var bit gf2Matrix
	bit[0] = crcPoly
	for i := 1; i < 64; i++ {
		bit[i] = 1 << (i - 1)
	}
	m := bit
	for range 3 { // 8 bits
		m = m.square()
	}
	ops[0] = m
	for k := 1; k < len(ops); k++ {
		ops[k] = ops[k-1].square()
	}
	return &ops
})

// crcCombine returns crc(A||B) from crc(A), crc(B) and len(B).
func crcCombine(crcA, crcB uint64, lenB int64) uint64 {
	if lenB <= 0 {
		return crcA ^ crcB
	}
	ops := zeroByteOps()
	for k := 0; lenB != 0; k, lenB = k+1, lenB>>1 {
		if lenB&1 != 0 {
			crcA = ops[k].times(crcA)
		}
	}
	return crcA ^ crcB
}

// crcPipeline hashes blocks on other goroutines and folds the results in
// order. At most crcInFlight blocks are pending; each goroutine ends on its
// own, so an abandoned pipeline leaks nothing.
type crcPipeline struct {
	crc  uint64 // CRC of every block folded so far
	jobs []*crcJob
	free [][]byte
}

type crcJob struct {
	data []byte
	crc  uint64
	done chan struct{}
}

const crcInFlight = 4

func (p *crcPipeline) add(b []byte) {
	if len(p.jobs) >= crcInFlight {
		p.foldOldest()
	}
	var buf []byte
	if n := len(p.free); n > 0 {
		buf, p.free = p.free[n-1], p.free[:n-1]
	}
	j := &crcJob{data: append(buf[:0], b...), done: make(chan struct{})}
	p.jobs = append(p.jobs, j)
	go func() {
		j.crc = crcUpdate(0, j.data)
		close(j.done)
	}()
}

func (p *crcPipeline) foldOldest() {
	j := p.jobs[0]
	<-j.done
	p.crc = crcCombine(p.crc, j.crc, int64(len(j.data)))
	p.free = append(p.free, j.data)
	p.jobs[0] = nil
	p.jobs = p.jobs[1:]
}

// sum waits for every pending block and returns the CRC of all of them.
func (p *crcPipeline) sum() uint64 {
	for len(p.jobs) > 0 {
		p.foldOldest()
	}
	return p.crc
}
