package rdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

var errNoValue = errors.New("rdb: no unread value: call Stats, Elements or WriteValue once after Next returned a key")

// Stats walks the current key's value, if that has not happened yet, and
// returns its summary. It can be called any number of times per key.
func (r *Reader) Stats() (ValueStats, error) {
	if r.statsOK {
		return r.stats, nil
	}
	if !r.pending {
		return ValueStats{}, errNoValue
	}
	err := r.walk(nil)
	return r.stats, err
}

// Elements walks the current key's value and calls fn for each element:
// list items, set members, zset members with scores, hash fields with
// values (and field expiries), stream entries. For a string it calls fn
// once with the string as Member. Elements come in file order, which for
// hash-table encodings is no order at all and for skiplist sorted sets is
// from the highest score down. A value can be walked only once; an
// error returned by fn stops the walk and is returned as is, and the
// Reader cannot continue.
func (r *Reader) Elements(fn func(*Element) error) error {
	if !r.pending {
		return errNoValue
	}
	return r.walk(fn)
}

// WriteValue copies the current key's serialized value exactly as it is in
// the file (type byte excluded) to w, walking and validating it.
func (r *Reader) WriteValue(w io.Writer) (int64, error) {
	if !r.pending {
		return 0, errNoValue
	}
	cw := &r.valueCount
	*cw = countWriter{w: w}
	r.in.startTee(cw)
	err := r.walk(nil)
	if terr := r.in.stopTee(); err == nil && terr != nil {
		err = fmt.Errorf("write value of key %q: %w", r.rec.Key, terr)
		r.err = err
	}
	cw.w = nil
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// walk consumes the current value, computing its stats and calling fn
// (if not nil) for every element.
func (r *Reader) walk(fn func(*Element) error) error {
	r.pending = false
	r.stats = ValueStats{}
	r.mem.reset()
	r.mem2 = newTypesMem{}
	var err error
	t := r.rec.RDBType
	switch t {
	case typeString:
		err = r.walkString(fn)
	case typeList:
		err = r.walkStrings(fn, EncodingQuicklist)
	case typeSet:
		err = r.walkStrings(fn, EncodingHashtable)
	case typeZSet, typeZSet2:
		err = r.walkZSet(fn, t == typeZSet2)
	case typeHash:
		err = r.walkHashTable(fn, hashNoTTL)
	case typeListQuicklist, typeListQuicklist2:
		err = r.walkQuicklist(fn, t == typeListQuicklist2)
	case typeHashZipmap, typeListZiplist, typeSetIntset, typeZSetZiplist, typeHashZiplist,
		typeHashListpack, typeZSetListpack, typeSetListpack, typeHashListpackExPreG, typeHashListpackEx:
		err = r.walkBlob(fn, t)
	case typeHashMetadataPreGA, typeHashMetadata:
		switch {
		case r.magic == "VALKEY": // RDB_TYPE_HASH_2
			err = r.walkHashTable(fn, hashTTLAfter)
		case t == typeHashMetadata:
			err = r.walkHashTable(fn, hashTTLRelative)
		default:
			err = r.walkHashTable(fn, hashTTLAbsolute)
		}
	case typeStreamListpacks, typeStreamListpacks2, typeStreamListpacks3, typeStreamListpacks4, typeStreamListpacks5:
		err = r.walkStream(fn, t)
	case typeArray:
		err = r.walkArray(fn)
	case typeModule2:
		err = r.walkModule2()
	case typeModulePreGA:
		id, _ := r.readLength()
		err = fmt.Errorf("%w: module value of %s in the pre-GA (RDB_TYPE_MODULE) format cannot be read without the module", ErrUnsupportedType, ModuleID(id))
	default:
		err = fmt.Errorf("%w: %d", ErrUnsupportedType, t)
	}
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) || r.err != nil && err == r.err {
			return err
		}
		if fn != nil && !isReadErr(err) {
			// An error from the callback: pass it through unchanged, but the
			// value is only partly consumed, so the Reader stops here.
			r.err = err
			return err
		}
		return r.fail(r.in.offset(), r.rec.Key, err)
	}
	r.stats.ValueSize = r.in.offset() - r.valStart
	r.stats.Memory = r.memTotal() + r.mem2.total()
	r.statsOK = true
	return nil
}

// readErr marks errors of the underlying reader (a disk or network
// failure), so that walk tells them from an Elements callback's errors.
type readErr struct{ error }

func (e readErr) Unwrap() error { return e.error }

func isReadErr(err error) bool {
	var re readErr
	return errors.As(err, &re) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnsupportedType)
}

func (r *Reader) element(n int64) {
	r.stats.Elements++
	if n > r.stats.LargestElement {
		r.stats.LargestElement = n
	}
}

func (r *Reader) newElement() *Element {
	r.el = Element{ExpireAt: NoExpiry}
	return &r.el
}

func (r *Reader) walkString(fn func(*Element) error) error {
	s, err := r.readString(fn != nil, &r.scratch, &r.numBuf)
	if err != nil {
		return err
	}
	// Redis keeps strings that are canonical integers as integers.
	isInt := s.isInt
	if !isInt && s.data != nil && s.n <= 20 {
		_, isInt = parseCanonicalInt(s.data)
	}
	switch {
	case isInt:
		r.stats.Encoding = EncodingInt
	case s.n <= 44:
		r.stats.Encoding = EncodingEmbstr
	default:
		r.stats.Encoding = EncodingRaw
	}
	r.stats.Elements, r.stats.LargestElement = 1, s.n
	r.mem.str(s.n, r.stats.Encoding)
	if fn != nil {
		e := r.newElement()
		e.Member = s.data
		return fn(e)
	}
	return nil
}

// walkStrings reads RDB_TYPE_LIST and RDB_TYPE_SET: a count and that
// many strings. Redis 7 loads the list into a quicklist (enc) and the set
// into a hash table.
func (r *Reader) walkStrings(fn func(*Element) error, enc Encoding) error {
	n, err := r.readLength()
	if err != nil {
		return err
	}
	r.stats.Encoding = enc
	for i := uint64(0); i < n; i++ {
		s, err := r.readString(fn != nil, &r.scratch, &r.numBuf)
		if err != nil {
			return err
		}
		r.element(s.n)
		if enc == EncodingQuicklist {
			r.mem.listPush(s)
		} else {
			r.mem.htEntry(s.n, -1)
			if !s.isInt {
				if _, ok := parseCanonicalInt(s.data); !ok {
					r.mem.nonInt = true
				}
			}
		}
		if fn != nil {
			e := r.newElement()
			e.Member = s.data
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Reader) walkZSet(fn func(*Element) error, binaryScores bool) error {
	n, err := r.readLength()
	if err != nil {
		return err
	}
	r.stats.Encoding = EncodingSkiplist
	for i := uint64(0); i < n; i++ {
		m, err := r.readString(fn != nil, &r.scratch, &r.numBuf)
		if err != nil {
			return err
		}
		if fn != nil {
			r.dataBuf = append(r.dataBuf[:0], m.data...)
			m.data = r.dataBuf
		}
		var score float64
		if binaryScores {
			b, err := r.in.next(8)
			if err != nil {
				return err
			}
			score = math.Float64frombits(binary.LittleEndian.Uint64(b))
		} else if score, err = r.readDoubleString(); err != nil {
			return err
		}
		r.element(m.n)
		r.mem.zslEntry(m.n)
		if fn != nil {
			e := r.newElement()
			e.Member, e.Score = m.data, score
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// readDoubleString reads an old-style score: a length byte (253 NaN, 254
// +inf, 255 -inf) and that many ASCII bytes.
func (r *Reader) readDoubleString() (float64, error) {
	l, err := r.in.readByte()
	if err != nil {
		return 0, err
	}
	switch l {
	case 253:
		return math.NaN(), nil
	case 254:
		return math.Inf(1), nil
	case 255:
		return math.Inf(-1), nil
	}
	b, err := r.in.next(int(l))
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, corruptf("bad score %q", b)
	}
	return f, nil
}

// readBlob reads a string holding an encoded structure (ziplist,
// listpack, intset, zipmap) in full.
func (r *Reader) readBlob() ([]byte, error) {
	s, err := r.readString(true, &r.scratch, &r.numBuf)
	if err != nil {
		return nil, err
	}
	if s.isInt {
		return nil, corruptf("integer where an encoded blob was expected")
	}
	return s.data, nil
}

func (r *Reader) walkBlob(fn func(*Element) error, t byte) error {
	if t == typeHashListpackEx {
		// Minimum field expiry, kept for the future; not needed to read.
		if _, err := r.in.next(8); err != nil {
			return err
		}
	}
	b, err := r.readBlob()
	if err != nil {
		return err
	}
	switch t {
	case typeSetIntset:
		r.stats.Encoding = EncodingIntset
		var it intsetIter
		if err := it.init(b); err != nil {
			return err
		}
		r.mem.blob(int64(len(b)))
		for {
			e, ok := it.next()
			if !ok {
				return nil
			}
			if err := r.emit1(fn, e.s); err != nil {
				return err
			}
		}
	case typeHashZipmap:
		r.stats.Encoding = EncodingListpack
		var it zipmapIter
		if err := it.init(b); err != nil {
			return err
		}
		r.mem.lpBegin()
		for {
			f, v, ok, err := it.next()
			if err != nil || !ok {
				return err
			}
			r.mem.lpAdd(f)
			r.mem.lpAdd(v)
			if err := r.emit2(fn, f, v); err != nil {
				return err
			}
		}
	case typeListZiplist, typeZSetZiplist, typeHashZiplist:
		var it zlIter
		if err := it.init(b); err != nil {
			return err
		}
		return r.walkEntries(fn, t, it.next, true)
	default:
		var it lpIter
		if err := it.init(b); err != nil {
			return err
		}
		r.mem.blob(int64(len(b)))
		return r.walkEntries(fn, t, it.next, false)
	}
}

// walkEntries walks the entries of a ziplist or listpack holding a list,
// zset (member, score), hash (field, value) or hash with TTLs (field,
// value, ttl). convert tells that Redis 7 re-encodes it as a listpack.
func (r *Reader) walkEntries(fn func(*Element) error, t byte, next func() (blobEntry, bool, error), convert bool) error {
	tuple := 1
	switch t {
	case typeListZiplist:
		r.stats.Encoding = EncodingQuicklist
	case typeSetListpack:
		r.stats.Encoding = EncodingListpack
	case typeZSetZiplist, typeZSetListpack, typeHashZiplist, typeHashListpack:
		r.stats.Encoding, tuple = EncodingListpack, 2
	case typeHashListpackExPreG, typeHashListpackEx:
		r.stats.Encoding, tuple = EncodingListpack, 3
	}
	if convert {
		r.mem.lpBegin()
	}
	var first []byte
	var firstN int64
	var second blobEntry
	i := 0
	for {
		e, ok, err := next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if convert {
			if e.isInt {
				r.mem.lpAddInt(e.ival)
			} else {
				r.mem.lpAdd(e.s)
			}
		}
		switch i % tuple {
		case 0:
			if tuple == 1 {
				if err := r.emit1(fn, e.s); err != nil {
					return err
				}
				break
			}
			firstN = int64(len(e.s))
			if fn != nil {
				r.dataBuf = append(r.dataBuf[:0], e.s...)
				first = r.dataBuf
			}
		case 1:
			if tuple == 2 {
				if err := r.emitPair(fn, t, first, firstN, e); err != nil {
					return err
				}
				break
			}
			second = e
			if fn != nil {
				r.str2 = append(r.str2[:0], e.s...)
				second.s = r.str2
			}
		case 2:
			r.element(max(firstN, int64(len(second.s))))
			if fn != nil {
				el := r.newElement()
				el.Member, el.Value = first, second.s
				if e.ival != 0 {
					el.ExpireAt = e.ival
				}
				if err := fn(el); err != nil {
					return err
				}
			}
		}
		i++
	}
	if i%tuple != 0 {
		return corruptf("%d entries do not make whole %d-tuples", i, tuple)
	}
	if convert && t == typeListZiplist {
		r.mem.qlNodeFromLP()
	}
	return nil
}

func (r *Reader) emit1(fn func(*Element) error, s []byte) error {
	r.element(int64(len(s)))
	if fn == nil {
		return nil
	}
	e := r.newElement()
	e.Member = s
	return fn(e)
}

func (r *Reader) emit2(fn func(*Element) error, f, v []byte) error {
	r.element(int64(max(len(f), len(v))))
	if fn == nil {
		return nil
	}
	e := r.newElement()
	e.Member, e.Value = f, v
	return fn(e)
}

func (r *Reader) emitPair(fn func(*Element) error, t byte, first []byte, firstN int64, e blobEntry) error {
	if t == typeZSetZiplist || t == typeZSetListpack {
		r.element(firstN)
		if fn == nil {
			return nil
		}
		el := r.newElement()
		el.Member = first
		if e.isInt {
			el.Score = float64(e.ival)
		} else {
			f, err := strconv.ParseFloat(string(e.s), 64)
			if err != nil {
				return corruptf("bad score %q", e.s)
			}
			el.Score = f
		}
		return fn(el)
	}
	r.element(max(firstN, int64(len(e.s))))
	if fn == nil {
		return nil
	}
	el := r.newElement()
	el.Member, el.Value = first, e.s
	return fn(el)
}

// walkQuicklist reads RDB_TYPE_LIST_QUICKLIST (ziplist nodes) and
// RDB_TYPE_LIST_QUICKLIST_2 (container type, then a listpack or a plain
// element per node).
func (r *Reader) walkQuicklist(fn func(*Element) error, v2 bool) error {
	n, err := r.readLength()
	if err != nil {
		return err
	}
	r.stats.Encoding = EncodingQuicklist
	for i := uint64(0); i < n; i++ {
		container := uint64(2)
		if v2 {
			if container, err = r.readLength(); err != nil {
				return err
			}
			if container != 1 && container != 2 {
				return corruptf("quicklist node container %d", container)
			}
		}
		if container == 1 {
			s, err := r.readString(fn != nil, &r.scratch, &r.numBuf)
			if err != nil {
				return err
			}
			r.element(s.n)
			r.mem.qlPlainNode(s.n)
			if fn != nil {
				e := r.newElement()
				e.Member = s.data
				if err := fn(e); err != nil {
					return err
				}
			}
			continue
		}
		b, err := r.readBlob()
		if err != nil {
			return err
		}
		if v2 {
			var it lpIter
			if err := it.init(b); err != nil {
				return err
			}
			r.mem.qlNode(int64(len(b)))
			if err := r.walkEntries(fn, typeListZiplist, it.next, false); err != nil {
				return err
			}
		} else {
			var it zlIter
			if err := it.init(b); err != nil {
				return err
			}
			if err := r.walkEntries(fn, typeListZiplist, it.next, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkModule2 reads a RDB_TYPE_MODULE_2 value: the module id and then
// module-serialized values up to the EOF opcode.
func (r *Reader) walkModule2() error {
	id, err := r.readLength()
	if err != nil {
		return err
	}
	r.stats.Encoding = EncodingModule
	r.stats.Elements = 1
	r.stats.Module = ModuleID(id)
	if err := r.skipModuleOpcodes(); err != nil {
		return fmt.Errorf("module value of %s: %w", ModuleID(id), err)
	}
	return nil
}

// hashTTL tells how a hash-table hash stores field expiries.
type hashTTL uint8

const (
	hashNoTTL hashTTL = iota // RDB_TYPE_HASH: count, then field, value pairs
	// Redis 7.4 RDB_TYPE_HASH_METADATA: an 8-byte minimum expiry, then a
	// length before each field: 0 for none, else expiry - minimum + 1.
	hashTTLRelative
	// Redis 7.4 release candidates (HASH_METADATA_PRE_GA): the length
	// before each field is the absolute expiry, 0 for none.
	hashTTLAbsolute
	// Valkey 9 RDB_TYPE_HASH_2: an 8-byte absolute expiry after each
	// value, -1 for none.
	hashTTLAfter
)

func (r *Reader) walkHashTable(fn func(*Element) error, ttl hashTTL) error {
	var minExpire int64
	if ttl == hashTTLRelative {
		b, err := r.in.next(8)
		if err != nil {
			return err
		}
		minExpire = int64(binary.LittleEndian.Uint64(b))
	}
	n, err := r.readLength()
	if err != nil {
		return err
	}
	r.stats.Encoding = EncodingHashtable
	for i := uint64(0); i < n; i++ {
		exp := NoExpiry
		if ttl == hashTTLRelative || ttl == hashTTLAbsolute {
			v, err := r.readLength()
			if err != nil {
				return err
			}
			switch {
			case v == 0:
			case ttl == hashTTLRelative:
				exp = int64(v) + minExpire - 1
			default:
				exp = int64(v)
			}
		}
		f, err := r.readString(fn != nil, &r.scratch, &r.numBuf)
		if err != nil {
			return err
		}
		if fn != nil {
			// Keep the field while the value is read.
			r.dataBuf = append(r.dataBuf[:0], f.data...)
			f.data = r.dataBuf
		}
		v, err := r.readString(fn != nil, &r.str2, &r.numBuf2)
		if err != nil {
			return err
		}
		if ttl == hashTTLAfter {
			b, err := r.in.next(8)
			if err != nil {
				return err
			}
			if exp = int64(binary.LittleEndian.Uint64(b)); exp < -1 {
				return corruptf("hash field expiry %d", exp)
			}
		}
		r.element(max(f.n, v.n))
		r.mem.htEntry(f.n, v.n)
		if exp != NoExpiry {
			r.mem.ttlField(f.n, v.n)
		}
		if fn != nil {
			e := r.newElement()
			e.Member, e.Value, e.ExpireAt = f.data, v.data, exp
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}
