package rdb

import (
	"encoding/binary"
	"hash/crc64"
	"math/bits"
	gosync "sync"
)

// crcTable is the CRC-64/Jones table Redis uses (polynomial 0xad93d23594c935a9,
// reflected), in the reversed form hash/crc64 expects.
var crcTable = crc64.MakeTable(crcPoly)

const crcPoly = 0x95ac9329ac4bc9b5

// crcSlices are the slicing-by-8 tables of crcTable: crcSlices[k][b] is
// the CRC of byte b followed by k zero bytes. hash/crc64 has such tables
// only for its own two polynomials; for others it compares 2 KB tables on
// every call and hashes inputs under 2 KB a byte at a time, which made it
// the biggest cost of RESTORE payloads (BenchmarkCRC64: 380 MB/s on
// 40-300 byte payloads with hash/crc64, about 4x that with these tables).
var crcSlices = func() *[8][256]uint64 {
	var t [8][256]uint64
	t[0] = *crcTable
	for i := range 256 {
		c := t[0][i]
		for k := 1; k < 8; k++ {
			c = t[0][c&0xff] ^ c>>8
			t[k][i] = c
		}
	}
	return &t
}()

// crcUpdate continues a Redis CRC64 (initial value 0, no final xor) over p.
// Where the CPU multiplies without carries (PCLMULQDQ), inputs of
// crcFoldMin bytes and more are folded 16 bytes at a time (crcFold), and
// only the last 16 bytes and the tail go through the tables.
func crcUpdate(crc uint64, p []byte) uint64 {
	if haveCLMUL && len(p) >= crcFoldMin {
		n := len(p) &^ 15
		crc = crcFold(crc, p[:n])
		p = p[n:]
	}
	return crcUpdateTable(crc, p)
}

// crcUpdateTable is crcUpdate with the tables alone.
func crcUpdateTable(crc uint64, p []byte) uint64 {
	t := crcSlices
	for len(p) >= 8 {
		crc ^= binary.LittleEndian.Uint64(p)
		crc = t[7][crc&0xff] ^ t[6][crc>>8&0xff] ^ t[5][crc>>16&0xff] ^ t[4][crc>>24&0xff] ^
			t[3][crc>>32&0xff] ^ t[2][crc>>40&0xff] ^ t[1][crc>>48&0xff] ^ t[0][crc>>56]
		p = p[8:]
	}
	for _, b := range p {
		crc = t[0][byte(crc)^b] ^ crc>>8
	}
	return crc
}

// Folding. Read p as a polynomial M over GF(2), its first byte's lowest
// bit the highest power (the reflected order Redis's CRC uses); the CRC
// is reflect(M·x^64 mod P), so two inputs of equal M mod P have the same
// CRC, whatever their lengths. Replace the first 16 bytes A = Ahi·x^64 +
// Alo by A' ≡ A·x^128 (mod P), added to the 16 bytes B that follow:
// M mod P is unchanged and the input is 16 bytes shorter. A' is
// Ahi·(x^192 mod P) + Alo·(x^128 mod P), two 64x64 carry-less products.
// In the reflected order, the product of two reflected 64-bit lanes comes
// out one bit short of its place, so the constants are taken one power
// lower (x^191 and x^127 mod P) and the products need no shift. Fold to
// the last 16 bytes, then hash those 16 with the tables.

// crcFoldMin is the shortest input folded: below it, the tables are as
// fast (BenchmarkCRC64).
const crcFoldMin = 64

// crcFoldK are the folding constants: reflect(x^191 mod P) multiplies the
// low lane (Ahi), reflect(x^127 mod P) the high one (Alo).
var crcFoldK = [2]uint64{bits.Reverse64(xPowMod(191)), bits.Reverse64(xPowMod(127))}

// xPowMod returns x^n mod P, in the normal (unreflected) order: bit i is
// the coefficient of x^i.
func xPowMod(n int) uint64 {
	const normal = 0xad93d23594c935a9 // P less its x^64 term
	r := uint64(1)
	for range n {
		carry := r >> 63
		r <<= 1
		if carry != 0 {
			r ^= normal
		}
	}
	return r
}

// crcFold continues crc over p, whose length is a multiple of 16 and at
// least 32.
func crcFold(crc uint64, p []byte) uint64 {
	s := [2]uint64{binary.LittleEndian.Uint64(p) ^ crc, binary.LittleEndian.Uint64(p[8:])}
	crcFoldCLMUL(&s, p[16:], &crcFoldK)
	var last [16]byte
	binary.LittleEndian.PutUint64(last[:], s[0])
	binary.LittleEndian.PutUint64(last[8:], s[1])
	return crcUpdateTable(0, last[:])
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
	crc   uint64 // CRC of every block folded so far
	jobs  []*crcJob
	free  [][]byte
	stage []byte // small pieces gathered into one block
}

type crcJob struct {
	data []byte
	crc  uint64
	done chan struct{}
}

const crcInFlight = 4

// add hashes b after everything added before. Pieces smaller than
// asyncCRCMin are gathered into one block first: one goroutine and one
// combine per block, not per piece (a key read for its DUMP payload
// flushes a few bytes at a time).
func (p *crcPipeline) add(b []byte) {
	if len(b) < asyncCRCMin {
		p.stage = append(p.stage, b...)
		if len(p.stage) >= asyncCRCMin {
			p.addBlock(p.stage)
			p.stage = p.stage[:0]
		}
		return
	}
	if len(p.stage) > 0 {
		p.addBlock(p.stage)
		p.stage = p.stage[:0]
	}
	p.addBlock(b)
}

func (p *crcPipeline) addBlock(b []byte) {
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
	if len(p.stage) > 0 {
		p.crc = crcCombine(p.crc, crcUpdate(0, p.stage), int64(len(p.stage)))
		p.stage = p.stage[:0]
	}
	return p.crc
}
