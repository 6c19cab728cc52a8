package rdb

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The thresholds of a server's compact encodings, at their defaults
// (redis.conf of Redis 7.0 to 7.4, Valkey 8): a collection within them
// is held, and saved, as a listpack or an intset.
const (
	hashEntries  = 512 // hash-max-listpack-entries
	zsetEntries  = 128 // zset-max-listpack-entries
	setEntries   = 128 // set-max-listpack-entries (Redis 7.2 on)
	compactValue = 64  // hash-, zset- and set-max-listpack-value
)

// writeCompact writes a set, hash or sorted set within the default
// thresholds in the encoding a server of the writer's version holds it
// in (WriterOptions.Compact): an intset or a listpack (sets as listpacks
// from RDB 11, Redis 7.2). It reports false for a value that stays in
// the plain encoding.
func (w *Writer) writeCompact(kv *KeyValue, elems []written) bool {
	var t byte
	var blob []byte
	switch kv.Type {
	case TypeSet:
		if b, ok := intsetOf(elems); ok {
			t, blob = typeSetIntset, b
			break
		}
		if w.version < 11 || !withinCompact(elems, setEntries, false) {
			return false
		}
		var lp lpBuilder
		lp.reset()
		for i := range elems {
			lp.str(elems[i].member)
		}
		t, blob = typeSetListpack, lp.finish()
	case TypeHash:
		if !withinCompact(elems, hashEntries, true) {
			return false
		}
		var lp lpBuilder
		lp.reset()
		for i := range elems {
			if elems[i].expireAt != NoExpiry {
				return false // field expiries: the plain encoding
			}
			lp.str(elems[i].member)
			lp.str(elems[i].value)
		}
		t, blob = typeHashListpack, lp.finish()
	case TypeZSet:
		if !withinCompact(elems, zsetEntries, false) {
			return false
		}
		sorted := slices.Clone(elems)
		slices.SortFunc(sorted, func(a, b written) int {
			if a.score != b.score {
				if a.score < b.score {
					return -1
				}
				return 1
			}
			return bytes.Compare(a.member, b.member)
		})
		var lp lpBuilder
		lp.reset()
		for i := range sorted {
			lp.str(sorted[i].member)
			if v, ok := scoreInt(sorted[i].score); ok {
				lp.int(v)
			} else {
				lp.str([]byte(scoreString(sorted[i].score, w.version)))
			}
		}
		t, blob = typeZSetListpack, lp.finish()
	default:
		return false
	}
	w.keyHeader(kv, t)
	w.str(blob)
	return true
}

// withinCompact tells whether elems fit a listpack: at most max, each
// member (and value, for a hash) at most compactValue bytes.
func withinCompact(elems []written, max int, values bool) bool {
	if len(elems) > max {
		return false
	}
	for i := range elems {
		if len(elems[i].member) > compactValue || values && len(elems[i].value) > compactValue {
			return false
		}
	}
	return true
}

// intsetOf encodes a set of integers as an intset (sorted, in the
// smallest width that holds them all), when it has at most
// intsetEntries members, all canonical integers.
func intsetOf(elems []written) ([]byte, bool) {
	if len(elems) > intsetEntries {
		return nil, false
	}
	vals := make([]int64, len(elems))
	width := 2
	for i := range elems {
		v, ok := parseCanonicalInt(elems[i].member)
		if !ok {
			return nil, false
		}
		vals[i] = v
		switch {
		case v < math.MinInt32 || v > math.MaxInt32:
			width = 8
		case (v < math.MinInt16 || v > math.MaxInt16) && width < 4:
			width = 4
		}
	}
	slices.Sort(vals)
	b := binary.LittleEndian.AppendUint32(nil, uint32(width))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vals)))
	for _, v := range vals {
		switch width {
		case 2:
			b = binary.LittleEndian.AppendUint16(b, uint16(v))
		case 4:
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		default:
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
	}
	return b, true
}

// scoreInt is Redis's double2ll: a score held as an integer in a
// listpack.
func scoreInt(d float64) (int64, bool) {
	const half = math.MaxInt64 / 2
	if d < -half || d > half {
		return 0, false
	}
	v := int64(d)
	return v, float64(v) == d
}

// scoreString is Redis's d2string for a score that is not an integer:
// %.17g up to Redis 7.0 (RDB 10); from Redis 7.2 (RDB 11) on, the
// shortest digits that read back, laid out as fpconv_dtoa does.
func scoreString(d float64, version int) string {
	switch {
	case math.IsNaN(d):
		return "nan"
	case math.IsInf(d, 1):
		return "inf"
	case math.IsInf(d, -1):
		return "-inf"
	case version < 11:
		return strconv.FormatFloat(d, 'g', 17, 64)
	}
	neg := d < 0
	// d.ddddde±x: the shortest digits and the first one's exponent.
	e := strconv.FormatFloat(math.Abs(d), 'e', -1, 64)
	mant, exp10, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp10)
	nd := len(digits)
	k := x - (nd - 1) // the value is digits * 10^k
	out := fpconvLayout(digits, k, neg)
	if neg {
		return "-" + out
	}
	return out
}

// fpconvLayout lays out digits * 10^k as fpconv's emit_digits does.
func fpconvLayout(digits string, k int, neg bool) string {
	nd := len(digits)
	exp := k + nd - 1
	if exp < 0 {
		exp = -exp
	}
	if k >= 0 && exp < nd+7 {
		return digits + strings.Repeat("0", k) // a plain integer
	}
	if k < 0 && (k > -7 || exp < 4) {
		offset := nd + k
		if offset <= 0 {
			return "0." + strings.Repeat("0", -offset) + digits
		}
		return digits[:offset] + "." + digits[offset:]
	}
	limit := 18
	if neg {
		limit = 17
	}
	shown := digits[:min(nd, limit)]
	out := shown[:1]
	if len(shown) > 1 {
		out += "." + shown[1:]
	}
	sign := "+"
	if k+len(shown)-1 < 0 {
		sign = "-"
	}
	return out + "e" + sign + strconv.Itoa(exp)
}
