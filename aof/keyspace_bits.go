package aof

import (
	"math"

	"github.com/redkit/redkit/rdb"
)

// Bit commands (bitops.c): BITOP and BITFIELD, both propagated verbatim.

func cmdBitOp(c *cmd) error {
	const (
		opAnd = iota
		opOr
		opXor
		opNot
	)
	var op int
	switch a := c.args[1]; {
	case ascii(a, "and"):
		op = opAnd
	case ascii(a, "or"):
		op = opOr
	case ascii(a, "xor"):
		op = opXor
	case ascii(a, "not"):
		op = opNot
	default:
		return errSyntax
	}
	if op == opNot && len(c.args) != 4 {
		return rejectf("BITOP NOT must be called with a single source key.")
	}
	srcs := make([][]byte, 0, len(c.args)-3)
	maxlen := 0
	for _, key := range c.args[3:] {
		o, err := c.lookupType(key, rdb.TypeString)
		if err != nil {
			return err
		}
		var s []byte
		if o != nil {
			s = o.str
		}
		srcs = append(srcs, s)
		maxlen = max(maxlen, len(s))
	}
	dest := c.args[2]
	if maxlen == 0 {
		c.del(dest)
		return nil
	}
	at := func(s []byte, j int) byte {
		if j < len(s) {
			return s[j]
		}
		return 0
	}
	res := make([]byte, maxlen)
	for j := range res {
		out := at(srcs[0], j)
		if op == opNot {
			out = ^out
		}
		for _, s := range srcs[1:] {
			switch op {
			case opAnd:
				out &= at(s, j)
			case opOr:
				out |= at(s, j)
			case opXor:
				out ^= at(s, j)
			}
		}
		res[j] = out
	}
	c.set(dest, &object{typ: rdb.TypeString, expireAt: rdb.NoExpiry, idle: -1, freq: -1, str: res})
	return nil
}

const (
	bfWrap = iota
	bfSat
	bfFail
)

type bitfieldOp struct {
	offset uint64
	value  int64 // SET value or INCRBY increment
	incr   bool
	ow     int
	bits   uint
	signed bool
}

var errBitfieldType = rejectf("Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")

func bitfieldType(b []byte) (signed bool, bits uint, err error) {
	if len(b) == 0 || b[0] != 'i' && b[0] != 'u' {
		return false, 0, errBitfieldType
	}
	signed = b[0] == 'i'
	n, ok := parseInt(b[1:])
	if !ok || n < 1 || signed && n > 64 || !signed && n > 63 {
		return false, 0, errBitfieldType
	}
	return signed, uint(n), nil
}

func (c *cmd) bitfieldOffset(b []byte, bits uint) (uint64, error) {
	errOff := rejectf("bit offset is not an integer or out of range")
	hash := len(b) > 0 && b[0] == '#'
	if hash {
		b = b[1:]
	}
	n, ok := parseInt(b)
	if !ok {
		return 0, errOff
	}
	if hash {
		n *= int64(bits) // wraps as C does in practice
	}
	if n < 0 || n>>3 >= c.maxString() {
		return 0, errOff
	}
	return uint64(n), nil
}

func getUnsignedBitfield(p []byte, offset uint64, bits uint) uint64 {
	var v uint64
	for j := uint(0); j < bits; j++ {
		bit := (p[offset>>3] >> (7 - offset&7)) & 1
		v = v<<1 | uint64(bit)
		offset++
	}
	return v
}

func getSignedBitfield(p []byte, offset uint64, bits uint) int64 {
	v := int64(getUnsignedBitfield(p, offset, bits))
	if bits < 64 && v&(1<<(bits-1)) != 0 {
		v |= -1 << bits
	}
	return v
}

func setUnsignedBitfield(p []byte, offset uint64, bits uint, v uint64) {
	for j := uint(0); j < bits; j++ {
		bit := byte(v>>(bits-1-j)) & 1
		shift := 7 - offset&7
		p[offset>>3] = p[offset>>3]&^(1<<shift) | bit<<shift
		offset++
	}
}

// checkUnsignedBitfieldOverflow is bitops.c's: 0 when value+incr fits,
// else ±1 and the value to store for WRAP and SAT.
func checkUnsignedBitfieldOverflow(value uint64, incr int64, bits uint, ow int) (int, uint64) {
	maxv := uint64(1)<<bits - 1
	maxincr := int64(maxv - value)
	minincr := -int64(value)
	wrap := func() uint64 { return (value + uint64(incr)) &^ (math.MaxUint64 << bits) }
	if value > maxv || incr > 0 && incr > maxincr {
		switch ow {
		case bfWrap:
			return 1, wrap()
		case bfSat:
			return 1, maxv
		}
		return 1, 0
	}
	if incr < 0 && incr < minincr {
		switch ow {
		case bfWrap:
			return -1, wrap()
		case bfSat:
			return -1, 0
		}
		return -1, 0
	}
	return 0, 0
}

func checkSignedBitfieldOverflow(value, incr int64, bits uint, ow int) (int, int64) {
	maxv := int64(math.MaxInt64)
	if bits != 64 {
		maxv = 1<<(bits-1) - 1
	}
	minv := -maxv - 1
	maxincr := int64(uint64(maxv) - uint64(value))
	minincr := minv - value
	wrap := func() int64 {
		r := uint64(value) + uint64(incr)
		if bits < 64 {
			mask := uint64(math.MaxUint64) << bits
			if r&(1<<(bits-1)) != 0 {
				r |= mask
			} else {
				r &^= mask
			}
		}
		return int64(r)
	}
	if value > maxv || bits != 64 && incr > maxincr || value >= 0 && incr > 0 && incr > maxincr {
		switch ow {
		case bfWrap:
			return 1, wrap()
		case bfSat:
			return 1, maxv
		}
		return 1, 0
	}
	if value < minv || bits != 64 && incr < minincr || value < 0 && incr < 0 && incr < minincr {
		switch ow {
		case bfWrap:
			return -1, wrap()
		case bfSat:
			return -1, minv
		}
		return -1, 0
	}
	return 0, 0
}

func cmdBitField(c *cmd) error {
	var ops []bitfieldOp
	ow := bfWrap
	readonly := true
	var highest uint64
	for j := 2; j < len(c.args); j++ {
		rem := len(c.args) - j - 1
		sub := c.args[j]
		var incr bool
		switch {
		case ascii(sub, "get") && rem >= 2:
		case ascii(sub, "set") && rem >= 3:
		case ascii(sub, "incrby") && rem >= 3:
			incr = true
		case ascii(sub, "overflow") && rem >= 1:
			j++
			switch a := c.args[j]; {
			case ascii(a, "wrap"):
				ow = bfWrap
			case ascii(a, "sat"):
				ow = bfSat
			case ascii(a, "fail"):
				ow = bfFail
			default:
				return rejectf("Invalid OVERFLOW type specified")
			}
			continue
		default:
			return errSyntax
		}
		signed, bits, err := bitfieldType(c.args[j+1])
		if err != nil {
			return err
		}
		off, err := c.bitfieldOffset(c.args[j+2], bits)
		if err != nil {
			return err
		}
		if ascii(sub, "get") {
			j += 2
			continue
		}
		readonly = false
		highest = max(highest, off+uint64(bits)-1)
		v, err := argInt(c.args[j+3])
		if err != nil {
			return err
		}
		ops = append(ops, bitfieldOp{offset: off, value: v, incr: incr, ow: ow, bits: bits, signed: signed})
		j += 3
	}
	if readonly {
		_, err := c.lookupType(c.args[1], rdb.TypeString)
		return err
	}
	o, err := c.lookupType(c.args[1], rdb.TypeString)
	if err != nil {
		return err
	}
	if o == nil {
		o = newString(nil)
		c.set(c.args[1], o)
	}
	if n := int(highest>>3) + 1; len(o.str) < n {
		o.str = append(o.str, make([]byte, n-len(o.str))...)
	}
	for _, op := range ops {
		if op.signed {
			old := getSignedBitfield(o.str, op.offset, op.bits)
			var over int
			var wrapped, nv int64
			if op.incr {
				over, wrapped = checkSignedBitfieldOverflow(old, op.value, op.bits, op.ow)
				nv = old + op.value
			} else {
				over, wrapped = checkSignedBitfieldOverflow(op.value, 0, op.bits, op.ow)
				nv = op.value
			}
			if over != 0 {
				if op.ow == bfFail {
					continue
				}
				nv = wrapped
			}
			setUnsignedBitfield(o.str, op.offset, op.bits, uint64(nv))
		} else {
			old := getUnsignedBitfield(o.str, op.offset, op.bits)
			var over int
			var wrapped, nv uint64
			if op.incr {
				over, wrapped = checkUnsignedBitfieldOverflow(old, op.value, op.bits, op.ow)
				nv = old + uint64(op.value)
			} else {
				over, wrapped = checkUnsignedBitfieldOverflow(uint64(op.value), 0, op.bits, op.ow)
				nv = uint64(op.value)
			}
			if over != 0 {
				if op.ow == bfFail {
					continue
				}
				nv = wrapped
			}
			setUnsignedBitfield(o.str, op.offset, op.bits, nv)
		}
	}
	return nil
}
