package aof

import (
	"bytes"
	"math"
	"strconv"

	"github.com/redkit/redkit/rdb"
)

// String commands (t_string.c).

var errStringSize = rejectf("string exceeds maximum allowed size (proto-max-bulk-len)")

func (c *cmd) maxString() int64 {
	if n := c.k.opts.MaxStringBytes; n > 0 {
		return n
	}
	return 512 << 20
}

func newString(v []byte) *object {
	o := newObject(rdb.TypeString)
	o.str = bytes.Clone(v)
	if o.str == nil {
		o.str = []byte{}
	}
	return o
}

// expireArg resolves an EX, PX, EXAT or PXAT value to absolute ms, as
// SET and GETEX check it.
func (c *cmd) expireArg(unit, v []byte) (int64, error) {
	bad := rejectf("invalid expire time in '%s' command", bytes.ToLower(c.args[0]))
	n, err := argInt(v)
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, bad
	}
	seconds := ascii(unit, "ex") || ascii(unit, "exat")
	if seconds {
		if n > math.MaxInt64/1000 {
			return 0, bad
		}
		n *= 1000
	}
	if ascii(unit, "ex") || ascii(unit, "px") {
		now, err := c.now()
		if err != nil {
			return 0, err
		}
		if n > math.MaxInt64-now {
			return 0, bad
		}
		n += now
	}
	return n, nil
}

func isExpireUnit(a []byte) bool {
	return ascii(a, "ex") || ascii(a, "px") || ascii(a, "exat") || ascii(a, "pxat")
}

func cmdSet(c *cmd) error {
	var nx, xx, get, keepttl bool
	var unit, val []byte
	for j := 3; j < len(c.args); j++ {
		a := c.args[j]
		next := j+1 < len(c.args)
		switch {
		case ascii(a, "nx") && !xx:
			nx = true
		case ascii(a, "xx") && !nx:
			xx = true
		case ascii(a, "get"):
			get = true
		case ascii(a, "keepttl") && unit == nil:
			keepttl = true
		case isExpireUnit(a) && !keepttl && (unit == nil || ascii(unit, string(bytes.ToLower(a)))) && next:
			unit, val = a, c.args[j+1]
			j++
		default:
			return errSyntax
		}
	}
	at := rdb.NoExpiry
	if unit != nil {
		var err error
		if at, err = c.expireArg(unit, val); err != nil {
			return err
		}
	}
	key := c.args[1]
	o := c.lookup(key)
	if get && o != nil && o.typ != rdb.TypeString {
		return errWrongType
	}
	if nx && o != nil || xx && o == nil {
		return nil
	}
	n := newString(c.args[2])
	if keepttl && o != nil {
		n.expireAt = o.expireAt
	} else {
		n.expireAt = at
	}
	c.set(key, n)
	return nil
}

func cmdSetNX(c *cmd) error {
	if c.lookup(c.args[1]) == nil {
		c.set(c.args[1], newString(c.args[2]))
	}
	return nil
}

func cmdSetEX(c *cmd) error {
	unit := []byte("ex")
	if ascii(c.args[0], "psetex") {
		unit = []byte("px")
	}
	at, err := c.expireArg(unit, c.args[2])
	if err != nil {
		return err
	}
	o := newString(c.args[3])
	o.expireAt = at
	c.set(c.args[1], o)
	return nil
}

func cmdMSet(c *cmd) error {
	if len(c.args)%2 != 1 {
		return rejectf("wrong number of arguments for '%s' command", bytes.ToLower(c.args[0]))
	}
	if ascii(c.args[0], "msetnx") {
		for j := 1; j < len(c.args); j += 2 {
			if c.lookup(c.args[j]) != nil {
				return nil
			}
		}
	}
	for j := 1; j < len(c.args); j += 2 {
		c.set(c.args[j], newString(c.args[j+1]))
	}
	return nil
}

func cmdAppend(c *cmd) error {
	o, err := c.lookupType(c.args[1], rdb.TypeString)
	if err != nil {
		return err
	}
	if o == nil {
		c.set(c.args[1], newString(c.args[2]))
		return nil
	}
	if int64(len(o.str))+int64(len(c.args[2])) > c.maxString() {
		return errStringSize
	}
	o.str = append(o.str, c.args[2]...)
	return nil
}

func cmdSetRange(c *cmd) error {
	off, err := argInt(c.args[2])
	if err != nil {
		return err
	}
	if off < 0 {
		return rejectf("offset is out of range")
	}
	v := c.args[3]
	o, err := c.lookupType(c.args[1], rdb.TypeString)
	if err != nil {
		return err
	}
	if len(v) == 0 {
		return nil // nothing to do, and no key created
	}
	if off > c.maxString()-int64(len(v)) {
		return errStringSize
	}
	if o == nil {
		o = newString(nil)
		c.set(c.args[1], o)
	}
	end := int(off) + len(v)
	if end > len(o.str) {
		o.str = append(o.str, make([]byte, end-len(o.str))...)
	}
	copy(o.str[off:], v)
	return nil
}

func cmdIncr(c *cmd) error {
	name := c.args[0]
	incr := int64(1)
	if len(c.args) == 3 {
		n, err := argInt(c.args[2])
		if err != nil {
			return err
		}
		incr = n
	}
	if ascii(name, "decr") {
		incr = -1
	}
	if ascii(name, "decrby") {
		if incr == math.MinInt64 {
			return rejectf("decrement would overflow")
		}
		incr = -incr
	}
	o, err := c.lookupType(c.args[1], rdb.TypeString)
	if err != nil {
		return err
	}
	var cur int64
	if o != nil {
		if cur, err = argInt(o.str); err != nil {
			return err
		}
	}
	if incr < 0 && cur < 0 && incr < math.MinInt64-cur || incr > 0 && cur > 0 && incr > math.MaxInt64-cur {
		return rejectf("increment or decrement would overflow")
	}
	v := strconv.AppendInt(nil, cur+incr, 10)
	if o == nil {
		c.set(c.args[1], newString(v))
	} else {
		o.str = v // the expiry stays
	}
	return nil
}

func cmdIncrByFloat(c *cmd) error {
	o, err := c.lookupType(c.args[1], rdb.TypeString)
	if err != nil {
		return err
	}
	cur, _ := parseLongDouble([]byte("0"))
	if o != nil {
		var ok bool
		if cur, ok = parseLongDouble(o.str); !ok {
			return rejectf("value is not a valid float")
		}
	}
	incr, ok := parseLongDouble(c.args[2])
	if !ok {
		return rejectf("value is not a valid float")
	}
	sum, err := incrLongDouble(cur, incr)
	if err != nil {
		return err
	}
	v := formatLongDouble(sum)
	if o == nil {
		c.set(c.args[1], newString(v))
	} else {
		o.str = v
	}
	return nil
}

func cmdGetSet(c *cmd) error {
	if _, err := c.lookupType(c.args[1], rdb.TypeString); err != nil {
		return err
	}
	c.set(c.args[1], newString(c.args[2]))
	return nil
}

func cmdGetDel(c *cmd) error {
	o, err := c.lookupType(c.args[1], rdb.TypeString)
	if err != nil || o == nil {
		return err
	}
	c.del(c.args[1])
	return nil
}

func cmdGetEx(c *cmd) error {
	var unit, val []byte
	persist := false
	for j := 2; j < len(c.args); j++ {
		a := c.args[j]
		switch {
		case ascii(a, "persist") && unit == nil && !persist:
			persist = true
		case isExpireUnit(a) && unit == nil && !persist && j+1 < len(c.args):
			unit, val = a, c.args[j+1]
			j++
		default:
			return errSyntax
		}
	}
	at := rdb.NoExpiry
	if unit != nil {
		var err error
		if at, err = c.expireArg(unit, val); err != nil {
			return err
		}
	}
	o, err := c.lookupType(c.args[1], rdb.TypeString)
	if err != nil || o == nil {
		return err
	}
	if unit != nil || persist {
		o.expireAt = at
	}
	return nil
}

func cmdSetBit(c *cmd) error {
	off, ok := parseInt(c.args[2])
	if !ok || off < 0 || off >= c.maxString()*8 {
		return rejectf("bit offset is not an integer or out of range")
	}
	var bit byte
	switch string(c.args[3]) {
	case "0":
	case "1":
		bit = 1
	default:
		return rejectf("bit is not an integer or out of range")
	}
	o, err := c.lookupType(c.args[1], rdb.TypeString)
	if err != nil {
		return err
	}
	if o == nil {
		o = newString(nil)
		c.set(c.args[1], o)
	}
	i := int(off >> 3)
	if i >= len(o.str) {
		o.str = append(o.str, make([]byte, i+1-len(o.str))...)
	}
	mask := byte(1) << (7 - uint(off&7))
	if bit == 1 {
		o.str[i] |= mask
	} else {
		o.str[i] &^= mask
	}
	return nil
}
