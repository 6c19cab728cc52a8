package rdb

import (
	"encoding/binary"
	"strconv"
)

// blobEntry is one entry of a ziplist, listpack, intset or zipmap. s holds
// the string form (integers are formatted into the iterator's buffer) and
// is valid until the next call.
type blobEntry struct {
	s     []byte
	isInt bool
	ival  int64
}

// lpIter walks a listpack: a 6-byte header (total bytes, element count),
// entries each followed by a back-length, and a 0xFF terminator.
type lpIter struct {
	b     []byte
	pos   int
	count int // element count from the header, or -1 when unknown (65535)
	num   [24]byte
}

func (it *lpIter) init(b []byte) error {
	if len(b) < 7 {
		return corruptf("listpack of %d bytes is shorter than its header", len(b))
	}
	if total := binary.LittleEndian.Uint32(b); int64(total) != int64(len(b)) {
		return corruptf("listpack header says %d bytes, blob has %d", total, len(b))
	}
	if b[len(b)-1] != 0xff {
		return corruptf("listpack does not end with 0xFF")
	}
	it.b, it.pos = b, 6
	it.count = int(binary.LittleEndian.Uint16(b[4:]))
	if it.count == 65535 {
		it.count = -1
	}
	return nil
}

// next returns the next entry; ok is false at the terminator.
func (it *lpIter) next() (e blobEntry, ok bool, err error) {
	b, p := it.b, it.pos
	if p >= len(b) {
		return e, false, corruptf("listpack entry runs past the end")
	}
	c := b[p]
	if c == 0xff {
		if p != len(b)-1 {
			return e, false, corruptf("listpack terminator at %d of %d bytes", p, len(b))
		}
		return e, false, nil
	}
	var hdr, dlen int
	switch {
	case c&0x80 == 0:
		hdr, e.isInt, e.ival = 1, true, int64(c&0x7f)
	case c&0xc0 == 0x80:
		hdr, dlen = 1, int(c&0x3f)
	case c&0xe0 == 0xc0:
		if p+2 > len(b) {
			return e, false, corruptf("listpack entry runs past the end")
		}
		v := int64(c&0x1f)<<8 | int64(b[p+1])
		if v >= 1<<12 {
			v -= 1 << 13
		}
		hdr, e.isInt, e.ival = 2, true, v
	case c&0xf0 == 0xe0:
		if p+2 > len(b) {
			return e, false, corruptf("listpack entry runs past the end")
		}
		hdr, dlen = 2, int(c&0x0f)<<8|int(b[p+1])
	case c == 0xf0:
		if p+5 > len(b) {
			return e, false, corruptf("listpack entry runs past the end")
		}
		hdr, dlen = 5, int(binary.LittleEndian.Uint32(b[p+1:]))
	case c >= 0xf1 && c <= 0xf4:
		size := [...]int{2, 3, 4, 8}[c-0xf1]
		if p+1+size > len(b) {
			return e, false, corruptf("listpack entry runs past the end")
		}
		d := b[p+1 : p+1+size]
		switch size {
		case 2:
			e.ival = int64(int16(binary.LittleEndian.Uint16(d)))
		case 3:
			e.ival = int64(int32(uint32(d[0])<<8|uint32(d[1])<<16|uint32(d[2])<<24) >> 8)
		case 4:
			e.ival = int64(int32(binary.LittleEndian.Uint32(d)))
		case 8:
			e.ival = int64(binary.LittleEndian.Uint64(d))
		}
		hdr, dlen, e.isInt = 1, size, true
	default:
		return e, false, corruptf("bad listpack encoding byte 0x%02x", c)
	}
	elen := hdr + dlen
	if dlen < 0 || p+elen > len(b)-1 {
		return e, false, corruptf("listpack entry runs past the end")
	}
	if e.isInt {
		e.s = strconv.AppendInt(it.num[:0], e.ival, 10)
	} else {
		e.s = b[p+hdr : p+elen]
	}
	bl := lpBacklenSize(elen)
	if p+elen+bl > len(b)-1 {
		return e, false, corruptf("listpack entry back-length runs past the end")
	}
	it.pos = p + elen + bl
	return e, true, nil
}

// lpBacklenSize is the size of the back-length that follows an entry of
// l bytes.
func lpBacklenSize(l int) int {
	switch {
	case l <= 127:
		return 1
	case l < 16383:
		return 2
	case l < 2097151:
		return 3
	case l < 268435455:
		return 4
	}
	return 5
}

// lpEntrySize is the size a listpack entry holding s takes, integer
// encoded when s is a canonical integer, as lpAppend would write it.
func lpEntrySize(s []byte) int {
	if v, ok := parseCanonicalInt(s); ok {
		return lpIntEntrySize(v)
	}
	return lpStrEntrySize(len(s))
}

func lpIntEntrySize(v int64) int {
	switch {
	case v >= 0 && v <= 127:
		return 2
	case v >= -4096 && v <= 4095:
		return 3
	case v >= -32768 && v <= 32767:
		return 4
	case v >= -8388608 && v <= 8388607:
		return 5
	case v >= -2147483648 && v <= 2147483647:
		return 6
	}
	return 10
}

func lpStrEntrySize(n int) int {
	var l int
	switch {
	case n < 64:
		l = 1 + n
	case n < 4096:
		l = 2 + n
	default:
		l = 5 + n
	}
	return l + lpBacklenSize(l)
}

// parseCanonicalInt parses s as Redis's string2ll does: a decimal int64
// with no leading zeros, spaces or plus sign, at most 20 bytes.
func parseCanonicalInt(s []byte) (int64, bool) {
	n := len(s)
	if n == 0 || n > 20 {
		return 0, false
	}
	if n == 1 && s[0] == '0' {
		return 0, true
	}
	neg := s[0] == '-'
	i := 0
	if neg {
		i = 1
		if n == 1 {
			return 0, false
		}
	}
	if s[i] < '1' || s[i] > '9' {
		return 0, false
	}
	var v uint64
	for ; i < n; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (1<<64-1)/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
		if v < uint64(c-'0') {
			return 0, false
		}
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// zlIter walks a ziplist: a 10-byte header (total bytes, tail offset,
// count), entries each prefixed by the previous entry's length and an
// encoding, and a 0xFF terminator.
type zlIter struct {
	b   []byte
	pos int
	num [24]byte
}

func (it *zlIter) init(b []byte) error {
	if len(b) < 11 {
		return corruptf("ziplist of %d bytes is shorter than its header", len(b))
	}
	if total := binary.LittleEndian.Uint32(b); int64(total) != int64(len(b)) {
		return corruptf("ziplist header says %d bytes, blob has %d", total, len(b))
	}
	if b[len(b)-1] != 0xff {
		return corruptf("ziplist does not end with 0xFF")
	}
	it.b, it.pos = b, 10
	return nil
}

func (it *zlIter) next() (e blobEntry, ok bool, err error) {
	b, p := it.b, it.pos
	if p >= len(b) {
		return e, false, corruptf("ziplist entry runs past the end")
	}
	if b[p] == 0xff {
		if p != len(b)-1 {
			return e, false, corruptf("ziplist terminator at %d of %d bytes", p, len(b))
		}
		return e, false, nil
	}
	// previous entry length
	if b[p] == 0xfe {
		p += 5
	} else {
		p++
	}
	if p >= len(b) {
		return e, false, corruptf("ziplist entry runs past the end")
	}
	c := b[p]
	var hdr, dlen int
	switch c >> 6 {
	case 0:
		hdr, dlen = 1, int(c&0x3f)
	case 1:
		if p+2 > len(b) {
			return e, false, corruptf("ziplist entry runs past the end")
		}
		hdr, dlen = 2, int(c&0x3f)<<8|int(b[p+1])
	case 2:
		if p+5 > len(b) {
			return e, false, corruptf("ziplist entry runs past the end")
		}
		hdr, dlen = 5, int(binary.BigEndian.Uint32(b[p+1:]))
	default:
		hdr, e.isInt = 1, true
		switch c {
		case 0xc0:
			dlen = 2
		case 0xd0:
			dlen = 4
		case 0xe0:
			dlen = 8
		case 0xf0:
			dlen = 3
		case 0xfe:
			dlen = 1
		default:
			if c >= 0xf1 && c <= 0xfd {
				e.ival = int64(c&0x0f) - 1
			} else {
				return e, false, corruptf("bad ziplist encoding byte 0x%02x", c)
			}
		}
	}
	if dlen < 0 || p+hdr+dlen > len(b)-1 {
		return e, false, corruptf("ziplist entry runs past the end")
	}
	d := b[p+hdr : p+hdr+dlen]
	if e.isInt {
		switch dlen {
		case 1:
			e.ival = int64(int8(d[0]))
		case 2:
			e.ival = int64(int16(binary.LittleEndian.Uint16(d)))
		case 3:
			e.ival = int64(int32(uint32(d[0])<<8|uint32(d[1])<<16|uint32(d[2])<<24) >> 8)
		case 4:
			e.ival = int64(int32(binary.LittleEndian.Uint32(d)))
		case 8:
			e.ival = int64(binary.LittleEndian.Uint64(d))
		}
		e.s = strconv.AppendInt(it.num[:0], e.ival, 10)
	} else {
		e.s = d
	}
	it.pos = p + hdr + dlen
	return e, true, nil
}

// intsetIter walks an intset: encoding (2, 4 or 8), count, then the
// sorted little-endian integers.
type intsetIter struct {
	b      []byte
	enc, i int
	n      int
	num    [24]byte
}

func (it *intsetIter) init(b []byte) error {
	if len(b) < 8 {
		return corruptf("intset of %d bytes is shorter than its header", len(b))
	}
	enc := int(binary.LittleEndian.Uint32(b))
	n := int64(binary.LittleEndian.Uint32(b[4:]))
	if enc != 2 && enc != 4 && enc != 8 {
		return corruptf("intset encoding %d", enc)
	}
	if 8+int64(enc)*n != int64(len(b)) {
		return corruptf("intset of %d %d-byte integers in %d bytes", n, enc, len(b))
	}
	it.b, it.enc, it.n, it.i = b, enc, int(n), 0
	return nil
}

func (it *intsetIter) next() (e blobEntry, ok bool) {
	if it.i >= it.n {
		return e, false
	}
	d := it.b[8+it.i*it.enc:]
	switch it.enc {
	case 2:
		e.ival = int64(int16(binary.LittleEndian.Uint16(d)))
	case 4:
		e.ival = int64(int32(binary.LittleEndian.Uint32(d)))
	default:
		e.ival = int64(binary.LittleEndian.Uint64(d))
	}
	it.i++
	e.isInt = true
	e.s = strconv.AppendInt(it.num[:0], e.ival, 10)
	return e, true
}

// zipmapIter walks a zipmap (RDB 2 and older hashes): a count byte, then
// key/value pairs with 1- or 5-byte lengths (values carry a free-space
// byte and padding), and a 0xFF terminator.
type zipmapIter struct {
	b   []byte
	pos int
	n   int // entries read
}

func (it *zipmapIter) init(b []byte) error {
	if len(b) < 2 || b[len(b)-1] != 0xff {
		return corruptf("zipmap is too short or not terminated")
	}
	it.b, it.pos = b, 1
	return nil
}

func (it *zipmapIter) length() (int, error) {
	b := it.b
	if it.pos >= len(b) {
		return 0, corruptf("zipmap entry runs past the end")
	}
	c := b[it.pos]
	if c < 254 {
		it.pos++
		return int(c), nil
	}
	if c == 254 && it.pos+5 <= len(b) {
		n := binary.LittleEndian.Uint32(b[it.pos+1:])
		it.pos += 5
		return int(n), nil
	}
	return 0, corruptf("bad zipmap length byte 0x%02x", c)
}

// next returns the next field and value; ok is false at the terminator.
// At the terminator it checks what Redis's zipmapValidateIntegrity
// checks before loading one: at least one entry, and a header count that
// is the real count or 254 (too many to count in a byte).
func (it *zipmapIter) next() (field, value []byte, ok bool, err error) {
	b := it.b
	if it.pos < len(b) && b[it.pos] == 0xff {
		switch {
		case it.n == 0:
			return nil, nil, false, corruptf("empty zipmap (Redis refuses it)")
		case b[0] != 254 && int(b[0]) != it.n:
			return nil, nil, false, corruptf("zipmap header counts %d entries, it holds %d (Redis refuses it)", b[0], it.n)
		}
		return nil, nil, false, nil
	}
	it.n++
	kl, err := it.length()
	if err != nil {
		return nil, nil, false, err
	}
	if kl < 0 || it.pos+kl > len(b) {
		return nil, nil, false, corruptf("zipmap field runs past the end")
	}
	field = b[it.pos : it.pos+kl]
	it.pos += kl
	vl, err := it.length()
	if err != nil {
		return nil, nil, false, err
	}
	if it.pos >= len(b) {
		return nil, nil, false, corruptf("zipmap value runs past the end")
	}
	free := int(b[it.pos])
	it.pos++
	if vl < 0 || it.pos+vl+free > len(b)-1 {
		return nil, nil, false, corruptf("zipmap value runs past the end")
	}
	value = b[it.pos : it.pos+vl]
	it.pos += vl + free
	return field, value, true, nil
}
