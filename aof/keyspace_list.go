package aof

import (
	"bytes"
	"math"
	"slices"

	"github.com/redkit/redkit/rdb"
)

// List commands (t_list.c). A list is a slice of items; items are never
// modified in place, so copies may share them. The slice keeps free slots
// before its first element (object.lhead of them) so that LPUSH, like
// RPUSH, takes amortized constant time: when they run out, the list moves
// to a new array with as many free slots at its front as it has elements.
// A list's array is never shared with another list.

// maxListHead bounds object.lhead (a uint32; an int on 32-bit platforms
// too). A variable for tests.
var maxListHead = math.MaxInt32

// items returns the elements of a list.
func (o *object) items() [][]byte { return o.list[o.lhead:] }

// lpush puts items at the head of the list, in their order: items[0]
// becomes the first element.
func (o *object) lpush(items ...[]byte) {
	k, head := len(items), int(o.lhead)
	if k <= head {
		head -= k
		copy(o.list[head:], items)
		o.lhead = uint32(head)
		return
	}
	// Move to a new array with free slots at its front for as many
	// elements as the list has, and the free slots it had at its end, up
	// to as many.
	live := o.items()
	n := len(live)
	front := min(n, maxListHead)
	back := min(cap(o.list)-len(o.list), n)
	buf := make([][]byte, front+k+n, front+k+n+back)
	copy(buf[front:], items)
	copy(buf[front+k:], live)
	o.list, o.lhead = buf, uint32(front)
}

// rpush puts items at the tail of the list, in their order.
func (o *object) rpush(items ...[]byte) {
	if o.lhead == 0 || len(items) <= cap(o.list)-len(o.list) {
		o.list = append(o.list, items...)
		return
	}
	// Out of room at the end of an array with free slots at its front:
	// keep up to as many of those as the list has elements, and double
	// the room at the end.
	live := o.items()
	n, k := len(live), len(items)
	front := min(int(o.lhead), n)
	buf := make([][]byte, front, front+2*(n+k))
	buf = append(append(buf, live...), items...)
	o.list, o.lhead = buf, uint32(front)
}

// lpop removes the first count elements (at most the list's length).
func (o *object) lpop(count int) {
	head := int(o.lhead)
	clear(o.list[head : head+count]) // let the items be collected
	head += count
	if head > maxListHead {
		// Keep lhead in range: move the elements to the array's start.
		n := copy(o.list, o.list[head:])
		clear(o.list[n:])
		o.list, head = o.list[:n], 0
	}
	o.lhead = uint32(head)
}

// rpop removes the last count elements (at most the list's length).
func (o *object) rpop(count int) {
	n := len(o.list) - count
	clear(o.list[n:])
	o.list = o.list[:n]
}

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
		o.lpush(items...)
	} else {
		o.rpush(items...)
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
	for i, it := range o.items() {
		if bytes.Equal(it, c.args[3]) {
			if after {
				i++
			}
			o.list = slices.Insert(o.list, int(o.lhead)+i, bytes.Clone(c.args[4]))
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
	live := o.items()
	if idx < 0 {
		idx += int64(len(live))
	}
	if idx < 0 || idx >= int64(len(live)) {
		return rejectf("index out of range")
	}
	live[idx] = bytes.Clone(c.args[3])
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
	live := o.items()
	if count >= 0 {
		live = slices.DeleteFunc(live, match)
	} else {
		slices.Reverse(live)
		live = slices.DeleteFunc(live, match)
		slices.Reverse(live)
	}
	o.list = o.list[:int(o.lhead)+len(live)]
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
	n := int64(len(o.items()))
	if s, e, ok := rankRange(start, end, n); ok {
		o.rpop(int(n - 1 - e))
		o.lpop(int(s))
	} else {
		o.list, o.lhead = nil, 0
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
	count = min(count, int64(len(o.items())))
	if left {
		o.lpop(int(count))
	} else {
		o.rpop(int(count))
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
	if live := src.items(); fromLeft {
		it = live[0]
		src.lpop(1)
	} else {
		it = live[len(live)-1]
		src.rpop(1)
	}
	c.dropIfEmpty(c.args[1], src)
	dst, _ := c.create(c.args[2], rdb.TypeList)
	if toLeft {
		dst.lpush(it)
	} else {
		dst.rpush(it)
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
