package aof

import (
	"bytes"
	"slices"

	"github.com/redkit/redkit/rdb"
)

// List commands (t_list.c). A list is a slice of items; items are never
// modified in place, so copies may share them.

func cmdPush(c *cmd) error {
	name := c.args[0]
	left := name[0]|0x20 == 'l'
	onlyExisting := len(name) == 6 // LPUSHX, RPUSHX
	o, err := c.lookupType(c.args[1], rdb.TypeList)
	if err != nil {
		return err
	}
	if o == nil {
		if onlyExisting {
			return nil
		}
		o, _ = c.create(c.args[1], rdb.TypeList)
	}
	items := make([][]byte, 0, len(c.args)-2)
	for _, a := range c.args[2:] {
		items = append(items, bytes.Clone(a))
	}
	if left {
		slices.Reverse(items)
		o.list = append(items, o.list...)
	} else {
		o.list = append(o.list, items...)
	}
	return nil
}

func cmdLInsert(c *cmd) error {
	var after bool
	switch {
	case ascii(c.args[2], "after"):
		after = true
	case ascii(c.args[2], "before"):
	default:
		return errSyntax
	}
	o, err := c.lookupType(c.args[1], rdb.TypeList)
	if err != nil || o == nil {
		return err
	}
	for i, it := range o.list {
		if bytes.Equal(it, c.args[3]) {
			if after {
				i++
			}
			o.list = slices.Insert(o.list, i, bytes.Clone(c.args[4]))
			return nil
		}
	}
	return nil
}

func cmdLSet(c *cmd) error {
	idx, err := argInt(c.args[2])
	if err != nil {
		return err
	}
	o, err := c.lookupType(c.args[1], rdb.TypeList)
	if err != nil {
		return err
	}
	if o == nil {
		return rejectf("no such key")
	}
	if idx < 0 {
		idx += int64(len(o.list))
	}
	if idx < 0 || idx >= int64(len(o.list)) {
		return rejectf("index out of range")
	}
	o.list[idx] = bytes.Clone(c.args[3])
	return nil
}

func cmdLRem(c *cmd) error {
	count, err := argInt(c.args[2])
	if err != nil {
		return err
	}
	o, err := c.lookupType(c.args[1], rdb.TypeList)
	if err != nil || o == nil {
		return err
	}
	v := c.args[3]
	removed := int64(0)
	limit := count
	if limit < 0 {
		limit = -limit
	}
	match := func(it []byte) bool {
		if (limit == 0 || removed < limit) && bytes.Equal(it, v) {
			removed++
			return true
		}
		return false
	}
	if count >= 0 {
		o.list = slices.DeleteFunc(o.list, match)
	} else {
		slices.Reverse(o.list)
		o.list = slices.DeleteFunc(o.list, match)
		slices.Reverse(o.list)
	}
	c.dropIfEmpty(c.args[1], o)
	return nil
}

func cmdLTrim(c *cmd) error {
	start, err := argInt(c.args[2])
	if err != nil {
		return err
	}
	end, err := argInt(c.args[3])
	if err != nil {
		return err
	}
	o, err := c.lookupType(c.args[1], rdb.TypeList)
	if err != nil || o == nil {
		return err
	}
	if s, e, ok := rankRange(start, end, int64(len(o.list))); ok {
		o.list = o.list[s : e+1]
	} else {
		o.list = nil
	}
	c.dropIfEmpty(c.args[1], o)
	return nil
}

func cmdPop(c *cmd) error {
	left := c.args[0][0]|0x20 == 'l'
	count, err := popCount(c)
	if err != nil {
		return err
	}
	o, err := c.lookupType(c.args[1], rdb.TypeList)
	if err != nil || o == nil {
		return err
	}
	count = min(count, int64(len(o.list)))
	if left {
		o.list = o.list[count:]
	} else {
		o.list = o.list[:int64(len(o.list))-count]
	}
	c.dropIfEmpty(c.args[1], o)
	return nil
}

// cmdLMove is LMOVE and RPOPLPUSH (RIGHT LEFT).
func cmdLMove(c *cmd) error {
	fromLeft, toLeft := false, true
	if len(c.args) == 5 {
		var ok1, ok2 bool
		fromLeft, ok1 = side(c.args[3])
		toLeft, ok2 = side(c.args[4])
		if !ok1 || !ok2 {
			return errSyntax
		}
	}
	src, err := c.lookupType(c.args[1], rdb.TypeList)
	if err != nil || src == nil {
		return err
	}
	if _, err := c.lookupType(c.args[2], rdb.TypeList); err != nil {
		return err
	}
	var it []byte
	if fromLeft {
		it, src.list = src.list[0], src.list[1:]
	} else {
		it, src.list = src.list[len(src.list)-1], src.list[:len(src.list)-1]
	}
	c.dropIfEmpty(c.args[1], src)
	dst, _ := c.create(c.args[2], rdb.TypeList)
	if toLeft {
		dst.list = append([][]byte{it}, dst.list...)
	} else {
		dst.list = append(dst.list, it)
	}
	return nil
}

func side(b []byte) (left, ok bool) {
	switch {
	case ascii(b, "left"):
		return true, true
	case ascii(b, "right"):
		return false, true
	}
	return false, false
}

// popCount reads the optional COUNT of LPOP, RPOP, SPOP, ZPOPMIN and
// ZPOPMAX (key [count]): 1 when absent.
func popCount(c *cmd) (int64, error) {
	switch len(c.args) {
	case 2:
		return 1, nil
	case 3:
		n, ok := parseInt(c.args[2])
		if !ok || n < 0 {
			return 0, rejectf("value is out of range, must be positive")
		}
		return n, nil
	}
	return 0, errSyntax
}
