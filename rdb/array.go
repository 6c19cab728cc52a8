package rdb

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// Redis 8.8's arrays (RDB_TYPE_ARRAY, RDB 14) are sparse: elements at
// indices 0 to 2^64-2, most of them holes. As Redis's rdbSaveObject
// writes one (and librdb 2.3 reads it):
//
//	count            length, at least 1: the elements that follow
//	insert_idx_flag  length: 0 (no insert cursor) or 1, then
//	insert_idx       length: the cursor ARINSERT appends after (ARSEEK sets it)
//	count times, in ascending index order:
//	  index          length (never 2^64-1)
//	  tag            length: 0 string, 1 integer, 2 float, 3 small string
//	  value          tag 1: 8 bytes, a little-endian int64
//	                 tag 2: 8 bytes, a little-endian IEEE 754 double
//	                 tags 0 and 3: an RDB string
//
// Tags 0 and 3 differ only in how Redis held the string (on the heap, or
// inline for 7 bytes and fewer); both are read as ArrayString, and the
// Writer writes short strings with tag 3 as Redis does.
const (
	arTagSDS      = 0
	arTagInt      = 1
	arTagFloat    = 2
	arTagSmallStr = 3

	// arSmallStrMax is the longest string a 64-bit Redis keeps inline.
	arSmallStrMax = 7
)

// ArrayKind is how Redis holds an array element: as a string, an integer
// or a float. An element's Member is its value as text either way.
type ArrayKind uint8

// Array element kinds.
const (
	ArrayString ArrayKind = iota
	ArrayInt              // Member is a decimal int64
	ArrayFloat            // Member is a float64 as strconv.FormatFloat(f, 'g', -1, 64) writes it, or inf, -inf, nan
)

var arrayKindNames = [...]string{"string", "int", "float"}

func (k ArrayKind) String() string {
	if int(k) < len(arrayKindNames) {
		return arrayKindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// NoInsertIndex is ArrayInfo.InsertIndex of an array without an insert
// cursor (Redis's AR_INSERT_IDX_NONE).
const NoInsertIndex = math.MaxUint64

// ArrayInfo is an array's metadata: what it holds beside its elements.
// Reader.Array and KeyValue.Array return it once Elements walked the
// array.
type ArrayInfo struct {
	Count uint64 // elements (not holes)
	// InsertIndex is the index ARINSERT appends after, or NoInsertIndex.
	InsertIndex uint64
}

// walkArray reads RDB_TYPE_ARRAY element by element.
func (r *Reader) walkArray(fn func(*Element) error) error {
	r.stats.Encoding = EncodingSlicedArray
	count, err := r.readLength()
	if err != nil {
		return err
	}
	if count == 0 {
		return corruptf("array of 0 elements (Redis saves none)")
	}
	info := ArrayInfo{Count: count, InsertIndex: NoInsertIndex}
	flag, err := r.readLength()
	if err != nil {
		return err
	}
	switch flag {
	case 0:
	case 1:
		if info.InsertIndex, err = r.readLength(); err != nil {
			return err
		}
		if info.InsertIndex == NoInsertIndex {
			return corruptf("array insert index 2^64-1")
		}
	default:
		return corruptf("array insert index flag %d (0 or 1)", flag)
	}
	var prev uint64
	for i := uint64(0); i < count; i++ {
		idx, enc, err := r.readLen()
		if err != nil {
			return err
		}
		switch {
		case enc:
			return corruptf("array element %d: an encoded string where its index was expected", i)
		case idx == math.MaxUint64:
			return corruptf("array element index 2^64-1")
		case i > 0 && idx <= prev:
			return corruptf("array element index %d after %d: indices are saved in ascending order", idx, prev)
		}
		prev = idx
		tag, err := r.readLength()
		if err != nil {
			return err
		}
		var (
			val  []byte
			n    int64
			kind ArrayKind
		)
		switch tag {
		case arTagInt:
			b, err := r.in.next(8)
			if err != nil {
				return err
			}
			v := int64(binary.LittleEndian.Uint64(b))
			val = strconv.AppendInt(r.numBuf[:0], v, 10)
			n, kind = int64(len(val)), ArrayInt
			r.mem2.arrayInt(idx, v, n)
		case arTagFloat:
			b, err := r.in.next(8)
			if err != nil {
				return err
			}
			f := math.Float64frombits(binary.LittleEndian.Uint64(b))
			val = appendArrayFloat(r.numBuf[:0], f)
			n, kind = int64(len(val)), ArrayFloat
			r.mem2.arrayFloat(idx, f, n)
		case arTagSDS, arTagSmallStr:
			s, err := r.readString(fn != nil, &r.scratch, &r.numBuf)
			if err != nil {
				return err
			}
			val, n = s.data, s.n
			r.mem2.arrayString(idx, n)
		default:
			return corruptf("array element %d: unknown value tag %d", idx, tag)
		}
		r.element(n)
		if fn != nil {
			e := r.newElement()
			e.Index, e.Member, e.Kind = idx, val, kind
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	if fn != nil {
		r.array, r.arrayWalked = info, true
	}
	return nil
}

// appendArrayFloat formats an array's float element: bit-exact when
// parsed back with strconv.ParseFloat.
func appendArrayFloat(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	case math.IsNaN(f):
		return append(b, "nan"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// parseArrayValue checks an element's text against its kind and returns
// its tag and, for numbers, its 8 bytes.
func parseArrayValue(e *written) (tag uint64, bits uint64, err error) {
	switch e.kind {
	case ArrayInt:
		v, err := strconv.ParseInt(string(e.member), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("array element %d: %q is not an int64", e.index, e.member)
		}
		return arTagInt, uint64(v), nil
	case ArrayFloat:
		f, err := strconv.ParseFloat(string(e.member), 64)
		if err != nil && f == 0 {
			return 0, 0, fmt.Errorf("array element %d: %q is not a float", e.index, e.member)
		}
		return arTagFloat, math.Float64bits(f), nil
	case ArrayString:
		if len(e.member) <= arSmallStrMax {
			return arTagSmallStr, 0, nil
		}
		return arTagSDS, 0, nil
	}
	return 0, 0, fmt.Errorf("array element %d: unknown kind %v", e.index, e.kind)
}

// writeArray writes RDB_TYPE_ARRAY from elements in ascending index order.
func (w *Writer) writeArray(elems []written, info *ArrayInfo) error {
	for i := range elems {
		if elems[i].index == NoInsertIndex {
			return fmt.Errorf("array element index 2^64-1 (the highest is 2^64-2)")
		}
		if i > 0 && elems[i].index <= elems[i-1].index {
			return fmt.Errorf("array element index %d after %d: want ascending, distinct indices", elems[i].index, elems[i-1].index)
		}
	}
	w.length(uint64(len(elems)))
	if info != nil && info.InsertIndex != NoInsertIndex {
		w.length(1)
		w.length(info.InsertIndex)
	} else {
		w.length(0)
	}
	for i := range elems {
		e := &elems[i]
		tag, bits, err := parseArrayValue(e)
		if err != nil {
			return err
		}
		w.length(e.index)
		w.length(tag)
		switch tag {
		case arTagInt, arTagFloat:
			w.scratch = binary.LittleEndian.AppendUint64(w.scratch[:0], bits)
			w.raw(w.scratch)
		default:
			w.str(e.member)
		}
	}
	return w.err
}
