package aof

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/redkit/redkit/rdb"
)

// HyperLogLog commands (hyperloglog.c): PFADD, PFMERGE and PFCOUNT, which
// Redis propagates when it caches a recomputed cardinality. A HyperLogLog
// is a string: the 16-byte header ("HYLL", encoding, 3 unused bytes, the
// cached cardinality little-endian, its top bit set when invalid) and the
// registers, sparse (run-length opcodes) or dense (16384 6-bit registers).
// The string is rebuilt byte for byte as Redis edits it, sparse opcodes
// included, with Redis's default hll-sparse-max-bytes of 3000.

const (
	hllP              = 14
	hllQ              = 64 - hllP
	hllRegisters      = 1 << hllP
	hllBits           = 6
	hllRegisterMax    = 1<<hllBits - 1
	hllHdrSize        = 16
	hllDenseSize      = hllHdrSize + (hllRegisters*hllBits+7)/8
	hllDense          = 0
	hllSparse         = 1
	hllSparseMaxBytes = 3000 // hll-sparse-max-bytes default

	hllSparseValMaxValue = 32
	hllSparseValMaxLen   = 4
	hllSparseZeroMaxLen  = 64
	hllSparseXZeroMaxLen = 16384
)

var (
	errInvalidHLL = rejectf("INVALIDOBJ Corrupted HLL object detected")
	errNotHLL     = rejectf("WRONGTYPE Key is not a valid HyperLogLog string value.")
)

func murmurHash64A(key []byte, seed uint64) uint64 {
	const m = 0xc6a4a7935bd1e995
	const r = 47
	h := seed ^ uint64(len(key))*m
	for len(key) >= 8 {
		k := binary.LittleEndian.Uint64(key)
		k *= m
		k ^= k >> r
		k *= m
		h ^= k
		h *= m
		key = key[8:]
	}
	if len(key) > 0 {
		for i := len(key) - 1; i >= 0; i-- {
			h ^= uint64(key[i]) << (8 * uint(i))
		}
		h *= m
	}
	h ^= h >> r
	h *= m
	h ^= h >> r
	return h
}

// hllPatLen returns the register an element goes to and its count.
func hllPatLen(ele []byte) (int, uint8) {
	hash := murmurHash64A(ele, 0xadc83b19)
	index := int(hash & (hllRegisters - 1))
	hash >>= hllP
	hash |= 1 << hllQ
	return index, uint8(bits.TrailingZeros64(hash) + 1)
}

func hllDenseGet(regs []byte, i int) uint8 {
	b := i * hllBits / 8
	fb := uint(i * hllBits & 7)
	b0, b1 := uint(regs[b]), uint(0)
	if b+1 < len(regs) {
		b1 = uint(regs[b+1])
	}
	return uint8((b0>>fb | b1<<(8-fb)) & hllRegisterMax)
}

func hllDenseSetReg(regs []byte, i int, v uint8) {
	b := i * hllBits / 8
	fb := uint(i * hllBits & 7)
	regs[b] &^= byte(hllRegisterMax << fb)
	regs[b] |= byte(uint(v) << fb)
	if b+1 < len(regs) {
		// Redis writes the byte after the last register too (the SDS
		// terminator); only in-range bytes matter.
		regs[b+1] &^= byte(hllRegisterMax >> (8 - fb))
		regs[b+1] |= byte(uint(v) >> (8 - fb))
	}
}

func hllDenseSet(regs []byte, i int, count uint8) bool {
	if count > hllDenseGet(regs, i) {
		hllDenseSetReg(regs, i, count)
		return true
	}
	return false
}

func newHLL() []byte {
	s := make([]byte, hllHdrSize, hllHdrSize+2*((hllRegisters+hllSparseXZeroMaxLen-1)/hllSparseXZeroMaxLen))
	copy(s, "HYLL")
	s[4] = hllSparse
	for aux := hllRegisters; aux > 0; {
		x := min(aux, hllSparseXZeroMaxLen)
		s = appendXZero(s, x)
		aux -= x
	}
	return s
}

func appendXZero(s []byte, n int) []byte {
	l := n - 1
	return append(s, byte(l>>8)|0x40, byte(l))
}

func sparseVal(val, n int) byte { return byte((val-1)<<2|(n-1)) | 0x80 }

func isZero(b byte) bool  { return b&0xc0 == 0 }
func isXZero(b byte) bool { return b&0xc0 == 0x40 }
func isVal(b byte) bool   { return b&0x80 != 0 }
func zeroLen(b byte) int  { return int(b&0x3f) + 1 }
func xzeroLen(p []byte) int {
	if len(p) < 2 {
		return int(p[0]&0x3f)<<8 + 1 // the SDS terminator is 0
	}
	return int(p[0]&0x3f)<<8 | int(p[1]) + 1
}
func valValue(b byte) int { return int(b>>2&0x1f) + 1 }
func valLen(b byte) int   { return int(b&0x3) + 1 }

// isHLL is isHLLObjectOrReply.
func isHLL(s []byte) bool {
	if len(s) < hllHdrSize || string(s[:4]) != "HYLL" || s[4] > hllSparse {
		return false
	}
	return s[4] != hllDense || len(s) == hllDenseSize
}

func hllInvalidate(s []byte) { s[15] |= 1 << 7 }

// hllSparseToDense converts in place, or returns nil if corrupt.
func hllSparseToDense(s []byte) []byte {
	if s[4] == hllDense {
		return s
	}
	d := make([]byte, hllDenseSize)
	copy(d, s[:hllHdrSize])
	d[4] = hllDense
	regs := d[hllHdrSize:]
	ok := hllSparseRuns(s, func(i, n int, v uint8) {
		for ; v != 0 && n > 0; n-- {
			hllDenseSetReg(regs, i, v)
			i++
		}
	})
	if !ok {
		return nil
	}
	return d
}

// hllSparseRuns walks a sparse HyperLogLog's opcodes, calling fn for each
// run of n registers from index i that hold v (0 for ZERO and XZERO
// runs). It reports false when the runs do not cover exactly
// hllRegisters registers: the string is corrupt.
func hllSparseRuns(s []byte, fn func(i, n int, v uint8)) bool {
	i := 0
	for p := hllHdrSize; p < len(s); {
		var n int
		var v uint8
		switch b := s[p]; {
		case isZero(b):
			n = zeroLen(b)
			p++
		case isXZero(b):
			n = xzeroLen(s[p:])
			p += 2
		default:
			n, v = valLen(b), uint8(valValue(b))
			p++
		}
		if i+n > hllRegisters {
			return false
		}
		fn(i, n, v)
		i += n
	}
	return i == hllRegisters
}

// hllSparseSet is hllSparseSet: it returns the (maybe new) string and 1
// if updated, 0 if not, -1 if corrupt.
func hllSparseSet(s []byte, index int, count uint8) ([]byte, int) {
	if count > hllSparseValMaxValue {
		return hllPromote(s, index, count)
	}
	end := len(s)
	p := hllHdrSize
	first, span, prev := 0, 0, -1
	for p < end {
		oplen := 1
		switch b := s[p]; {
		case isZero(b):
			span = zeroLen(b)
		case isVal(b):
			span = valLen(b)
		default:
			span = xzeroLen(s[p:])
			oplen = 2
		}
		if index <= first+span-1 {
			break
		}
		prev = p
		p += oplen
		first += span
	}
	if span == 0 || p >= end {
		return s, -1
	}
	var isZ, isXZ, isV bool
	var runlen int
	switch b := s[p]; {
	case isZero(b):
		isZ, runlen = true, zeroLen(b)
	case isXZero(b):
		isXZ, runlen = true, xzeroLen(s[p:])
	default:
		isV, runlen = true, valLen(b)
	}
	updatedInPlace := false
	if isV {
		if valValue(s[p]) >= int(count) {
			return s, 0
		}
		if runlen == 1 {
			s[p] = sparseVal(int(count), 1)
			updatedInPlace = true
		}
	}
	if !updatedInPlace && isZ && runlen == 1 {
		s[p] = sparseVal(int(count), 1)
		updatedInPlace = true
	}
	if !updatedInPlace {
		seq := make([]byte, 0, 5)
		last := first + span - 1
		zeros := func(n int) {
			if n > hllSparseZeroMaxLen {
				seq = appendXZero(seq, n)
			} else {
				seq = append(seq, byte(n-1))
			}
		}
		if isZ || isXZ {
			if index != first {
				zeros(index - first)
			}
			seq = append(seq, sparseVal(int(count), 1))
			if index != last {
				zeros(last - index)
			}
		} else {
			cur := valValue(s[p])
			if index != first {
				seq = append(seq, sparseVal(cur, index-first))
			}
			seq = append(seq, sparseVal(int(count), 1))
			if index != last {
				seq = append(seq, sparseVal(cur, last-index))
			}
		}
		oldlen := 1
		if isXZ {
			oldlen = 2
		}
		delta := len(seq) - oldlen
		if delta > 0 && len(s)+delta > hllSparseMaxBytes {
			return hllPromote(s, index, count)
		}
		ns := make([]byte, 0, len(s)+delta)
		ns = append(ns, s[:p]...)
		ns = append(ns, seq...)
		ns = append(ns, s[min(p+oldlen, len(s)):]...)
		s = ns
		end = len(s)
	}
	// Merge adjacent VAL opcodes of the same value, scanning up to 5
	// opcodes from the one before the change.
	p = hllHdrSize
	if prev >= 0 {
		p = prev
	}
	for scan := 5; p < end && scan > 0; {
		scan--
		if isXZero(s[p]) {
			p += 2
			continue
		}
		if isZero(s[p]) {
			p++
			continue
		}
		if p+1 < end && isVal(s[p+1]) {
			v1, v2 := valValue(s[p]), valValue(s[p+1])
			if v1 == v2 {
				if n := valLen(s[p]) + valLen(s[p+1]); n <= hllSparseValMaxLen {
					s[p+1] = sparseVal(v1, n)
					s = append(s[:p], s[p+1:]...)
					end--
					continue
				}
			}
		}
		p++
	}
	hllInvalidate(s)
	return s, 1
}

func hllPromote(s []byte, index int, count uint8) ([]byte, int) {
	d := hllSparseToDense(s)
	if d == nil {
		return s, -1
	}
	hllDenseSet(d[hllHdrSize:], index, count)
	return d, 1
}

func hllAdd(s []byte, ele []byte) ([]byte, int) {
	index, count := hllPatLen(ele)
	switch s[4] {
	case hllDense:
		if hllDenseSet(s[hllHdrSize:], index, count) {
			return s, 1
		}
		return s, 0
	case hllSparse:
		return hllSparseSet(s, index, count)
	}
	return s, -1
}

// hllMergeInto raises max to every register of s; false if s is corrupt.
func hllMergeInto(max []uint8, s []byte) bool {
	if s[4] == hllDense {
		regs := s[hllHdrSize:]
		for i := range hllRegisters {
			if v := hllDenseGet(regs, i); v > max[i] {
				max[i] = v
			}
		}
		return true
	}
	return hllSparseRuns(s, func(i, n int, v uint8) {
		for ; n > 0; n-- {
			if v > max[i] {
				max[i] = v
			}
			i++
		}
	})
}

// hllLookup returns the key's HyperLogLog string, nil if missing.
func (c *cmd) hllLookup(key []byte) (*object, error) {
	o, err := c.lookupType(key, rdb.TypeString)
	if err != nil {
		return nil, err
	}
	if o != nil && !isHLL(o.str) {
		return nil, errNotHLL
	}
	return o, nil
}

func cmdPFAdd(c *cmd) error {
	o, err := c.hllLookup(c.args[1])
	if err != nil {
		return err
	}
	s, updated := []byte(nil), 0
	if o == nil {
		s, updated = newHLL(), 1
	} else {
		s = append([]byte(nil), o.str...)
	}
	for _, ele := range c.args[2:] {
		var r int
		s, r = hllAdd(s, ele)
		if r < 0 {
			return errInvalidHLL // Redis keeps what it changed; a valid AOF never has this
		}
		updated += r
	}
	if updated == 0 {
		return nil
	}
	hllInvalidate(s)
	if o == nil {
		c.set(c.args[1], newString(s))
	} else {
		o.str = s
	}
	return nil
}

func cmdPFMerge(c *cmd) error {
	max := make([]uint8, hllRegisters)
	dense := false
	for _, key := range c.args[1:] {
		o, err := c.hllLookup(key)
		if err != nil {
			return err
		}
		if o == nil {
			continue
		}
		if o.str[4] == hllDense {
			dense = true
		}
		if !hllMergeInto(max, o.str) {
			return errInvalidHLL
		}
	}
	o := c.lookup(c.args[1])
	var s []byte
	if o == nil {
		s = newHLL()
	} else {
		s = append([]byte(nil), o.str...)
	}
	if dense {
		if s = hllSparseToDense(s); s == nil {
			return errInvalidHLL
		}
	}
	for j, v := range max {
		if v == 0 {
			continue
		}
		if s[4] == hllDense {
			hllDenseSet(s[hllHdrSize:], j, v)
		} else {
			s, _ = hllSparseSet(s, j, v)
		}
	}
	hllInvalidate(s)
	if o == nil {
		c.set(c.args[1], newString(s))
	} else {
		o.str = s
	}
	return nil
}

func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x = float64(x * x)
		zp := z
		z += float64(x * y)
		y += y
		if zp == z {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		zp := z
		y *= 0.5
		d := float64((1 - x) * (1 - x))
		z -= float64(d * y)
		if zp == z {
			return z / 3
		}
	}
}

// hllCount is hllCount; false if the sparse representation is corrupt.
func hllCount(s []byte) (uint64, bool) {
	var histo [64]int
	if s[4] == hllDense {
		regs := s[hllHdrSize:]
		for i := range hllRegisters {
			histo[hllDenseGet(regs, i)]++
		}
	} else if !hllSparseRuns(s, func(_, n int, v uint8) { histo[v] += n }) {
		return 0, false
	}
	const m = float64(hllRegisters)
	z := float64(m * hllTau((m-float64(histo[hllQ+1]))/m))
	for j := hllQ; j >= 1; j-- {
		z += float64(histo[j])
		z *= 0.5
	}
	z += float64(m * hllSigma(float64(histo[0])/m))
	const alphaInf = 0.721347520444481703680
	e := float64(float64(float64(alphaInf*m)*m) / z)
	return uint64(int64(math.Round(e))), true
}

// cmdPFCount replays PFCOUNT of one key, which Redis propagates when it
// stores a recomputed cardinality in the header.
func cmdPFCount(c *cmd) error {
	if len(c.args) > 2 {
		for _, key := range c.args[1:] {
			if _, err := c.hllLookup(key); err != nil {
				return err
			}
		}
		return nil // several keys: nothing is cached
	}
	o, err := c.hllLookup(c.args[1])
	if err != nil || o == nil {
		return err
	}
	if o.str[15]&0x80 == 0 {
		return nil // the cache is valid
	}
	card, ok := hllCount(o.str)
	if !ok {
		return errInvalidHLL
	}
	s := append([]byte(nil), o.str...)
	binary.LittleEndian.PutUint64(s[8:16], card)
	o.str = s
	return nil
}
