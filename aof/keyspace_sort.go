package aof

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"math"
	"slices"

	"github.com/redkit/redkit/rdb"
)

// SORT ... STORE (sort.c), propagated verbatim. SORT without STORE does
// not write and is ignored. Redis sorts with qsort or its partial pqsort,
// neither stable: when ALPHA with a BY pattern leaves two different
// elements tied, the order Redis stores them in depends on the order it
// read them (a set's or a sorted set's hash table), so such a SORT is
// refused.

// sortLookup is lookupKeyByPattern: the value pattern names for elem, and
// whether there is one.
func (c *cmd) sortLookup(pattern, elem []byte) ([]byte, bool) {
	if string(pattern) == "#" {
		return elem, true
	}
	star := bytes.IndexByte(pattern, '*')
	if star < 0 {
		return nil, false
	}
	rest := pattern[star+1:]
	var field []byte
	if f := bytes.Index(rest, []byte("->")); f >= 0 && f+2 < len(rest) {
		field = rest[f+2:]
		rest = rest[:f]
	}
	key := make([]byte, 0, star+len(elem)+len(rest))
	key = append(append(append(key, pattern[:star]...), elem...), rest...)
	o := c.lookup(key)
	switch {
	case o == nil:
		return nil, false
	case field != nil:
		if o.typ != rdb.TypeHash {
			return nil, false
		}
		v, ok := o.hash[string(field)]
		return v.value, ok
	case o.typ != rdb.TypeString:
		return nil, false
	}
	return o.str, true
}

// sortStrtod converts as SORT does with strtod: up to the first NUL, the
// empty string as 0, leading spaces allowed, nothing after the number.
func sortStrtod(b []byte) (float64, bool) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return 0, true
	}
	for len(b) > 0 && isCSpace(b[0]) {
		b = b[1:]
	}
	s := string(b)
	t := s
	if len(t) > 0 && (t[0] == '+' || t[0] == '-') {
		t = t[1:]
	}
	if len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') && !bytes.ContainsAny(b, "pP") {
		s += "p0" // C accepts hex floats without an exponent
	}
	f, ok := parseFloat([]byte(s))
	if !ok || math.IsInf(f, 0) && !bytes.Contains(bytes.ToLower(b), []byte("inf")) {
		return 0, false // ERANGE on overflow
	}
	if f != 0 && math.Abs(f) < 0x1p-1022 {
		return 0, false // ERANGE on underflow to a subnormal
	}
	return f, true
}

type sortItem struct {
	elem  []byte
	score float64
	cmp   []byte // ALPHA with BY: the BY value
	hasBy bool   // ALPHA with BY: whether there is one
}

func cmdSort(c *cmd) error {
	var desc, alpha, dontsort bool
	var limitStart, limitCount int64 = 0, -1
	var sortby, store []byte
	var gets [][]byte
	for j := 2; j < len(c.args); j++ {
		left := len(c.args) - j - 1
		a := c.args[j]
		switch {
		case ascii(a, "asc"):
			desc = false
		case ascii(a, "desc"):
			desc = true
		case ascii(a, "alpha"):
			alpha = true
		case ascii(a, "limit") && left >= 2:
			var err error
			if limitStart, err = argInt(c.args[j+1]); err != nil {
				return err
			}
			if limitCount, err = argInt(c.args[j+2]); err != nil {
				return err
			}
			j += 2
		case ascii(a, "store") && left >= 1:
			store = c.args[j+1]
			j++
		case ascii(a, "by") && left >= 1:
			sortby = c.args[j+1]
			dontsort = bytes.IndexByte(sortby, '*') < 0
			j++
		case ascii(a, "get") && left >= 1:
			gets = append(gets, c.args[j+1])
			j++
		default:
			return errSyntax
		}
	}
	o := c.lookup(c.args[1])
	if o != nil && o.typ != rdb.TypeSet && o.typ != rdb.TypeList && o.typ != rdb.TypeZSet {
		return errWrongType
	}
	if store == nil {
		return nil // SORT without STORE writes nothing
	}
	if o == nil {
		o = newObject(rdb.TypeList)
	}
	if dontsort && o.typ == rdb.TypeSet {
		dontsort, alpha, sortby = false, true, nil
	}
	var elems [][]byte
	switch o.typ {
	case rdb.TypeList:
		elems = o.items()
	case rdb.TypeSet:
		for m := range o.set {
			elems = append(elems, []byte(m))
		}
	case rdb.TypeZSet:
		for _, m := range zsorted(o.zset) {
			elems = append(elems, []byte(m.member))
		}
	}
	n := int64(len(elems))
	start := min(max(limitStart, 0), n)
	limitCount = min(max(limitCount, -1), n)
	end := n - 1
	if limitCount >= 0 {
		end = start + limitCount - 1
	}
	if start >= n {
		start, end = n-1, n-2
	}
	end = min(end, n-1)

	items := make([]sortItem, len(elems))
	for i, e := range elems {
		items[i].elem = e
	}
	if dontsort {
		// Native order (list order, or sorted set order), reversed by DESC.
		if desc {
			slices.Reverse(items)
		}
	} else {
		for i := range items {
			by := items[i].elem
			if sortby != nil {
				var ok bool
				if by, ok = c.sortLookup(sortby, items[i].elem); !ok {
					continue
				}
			}
			if alpha {
				if sortby != nil {
					items[i].cmp, items[i].hasBy = by, true
				}
				continue
			}
			f, ok := sortStrtod(by)
			if !ok {
				return rejectf("One or more scores can't be converted into double")
			}
			items[i].score = f
		}
		compare := func(a, b *sortItem) int {
			switch {
			case !alpha:
				if a.score != b.score {
					if a.score > b.score {
						return 1
					}
					return -1
				}
				return bytes.Compare(a.elem, b.elem)
			case sortby != nil:
				switch {
				case !a.hasBy && !b.hasBy:
					return 0
				case !a.hasBy:
					return -1
				case !b.hasBy:
					return 1
				}
				return bytes.Compare(a.cmp, b.cmp)
			}
			return bytes.Compare(a.elem, b.elem)
		}
		slices.SortFunc(items, func(a, b sortItem) int {
			r := compare(&a, &b)
			if desc {
				r = -r
			}
			return r
		})
		if alpha && sortby != nil {
			for i := 1; i < len(items); i++ {
				if compare(&items[i-1], &items[i]) == 0 && !bytes.Equal(items[i-1].elem, items[i].elem) {
					return unsupportedf("SORT ALPHA BY leaves %q and %q tied: Redis's order is not reproducible", items[i-1].elem, items[i].elem)
				}
			}
		}
	}
	var out [][]byte
	for j := start; j <= end; j++ {
		e := items[j].elem
		if len(gets) == 0 {
			out = append(out, bytes.Clone(e))
			continue
		}
		for _, g := range gets {
			v, _ := c.sortLookup(g, e)
			out = append(out, bytes.Clone(v))
		}
	}
	if len(out) == 0 {
		c.del(store)
		return nil
	}
	for i := range out {
		if out[i] == nil {
			out[i] = []byte{}
		}
	}
	l := newObject(rdb.TypeList)
	l.list = out
	c.set(store, l)
	return nil
}

// FUNCTION RESTORE (functions.c), kept here beside the other commands this
// file's slice added. cmdFunctionAll routes it; every other FUNCTION
// subcommand goes to cmdFunction.

func cmdFunctionAll(c *cmd) error {
	if len(c.args) >= 3 && ascii(c.args[1], "restore") {
		return cmdFunctionRestore(c)
	}
	return cmdFunction(c)
}

// dumpCRC is Redis's CRC-64/Jones (reflected polynomial 0xad93d23594c935a9,
// no initial value, no final xor) that ends DUMP payloads.
var dumpCRCTable = crc64.MakeTable(0x95ac9329ac4bc9b5)

func dumpCRC(p []byte) uint64 { return ^crc64.Update(^uint64(0), dumpCRCTable, p) }

// cmdFunctionRestore replays FUNCTION RESTORE payload [APPEND|REPLACE|FLUSH]:
// the payload is FUNCTION DUMP's, FUNCTION2 records (each a library's
// code as an RDB string), then the RDB version (2 bytes) and the CRC64 (8
// bytes), both little-endian.
func cmdFunctionRestore(c *cmd) error {
	if len(c.args) > 4 {
		return rejectf("unknown subcommand or wrong number of arguments for 'restore'")
	}
	policy := "append"
	if len(c.args) == 4 {
		switch a := c.args[3]; {
		case ascii(a, "append"):
		case ascii(a, "replace"):
			policy = "replace"
		case ascii(a, "flush"):
			policy = "flush"
		default:
			return rejectf("Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
		}
	}
	p := c.args[2]
	bad := rejectf("DUMP payload version or checksum are wrong")
	if len(p) < 10 {
		return bad
	}
	ver := int(binary.LittleEndian.Uint16(p[len(p)-10:]))
	if ver > rdb.MaxRedisVersion || dumpCRC(p[:len(p)-8]) != binary.LittleEndian.Uint64(p[len(p)-8:]) {
		return bad
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "REDIS%04d", max(ver, 1))
	b.Write(p[:len(p)-10])
	b.WriteByte(0xff)        // EOF
	b.Write(make([]byte, 8)) // a zero checksum: not checked
	rd := rdb.NewReader(&b)
	libs := map[string][]byte{}
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, rdb.ErrUnsupportedType) {
				return unsupportedf("FUNCTION RESTORE payload: %v", err)
			}
			return rejectf("can not read data type: %v", err)
		}
		if rec.Kind != rdb.KindFunction {
			return rejectf("given type is not a function")
		}
		name, err := libraryName(rec.Data)
		if err != nil {
			return rejectf("%v", err)
		}
		if _, ok := libs[name]; ok {
			return rejectf("Library '%s' already exists", name)
		}
		libs[name] = bytes.Clone(rec.Data)
	}
	switch policy {
	case "flush":
		c.k.libs = libs
		return nil
	case "append":
		for name := range libs {
			if _, ok := c.k.libs[name]; ok {
				return rejectf("Library %s already exists", name)
			}
		}
	}
	for name, code := range libs {
		c.k.libs[name] = code
	}
	return nil
}
