package rdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// RDB opcodes (rdb.h).
const (
	opKeyMeta       = 243 // REDIS 13+: key metadata, a key prefix; VALKEY: slot import
	opSlotInfo      = 244
	opFunction2     = 245
	opFunctionPreGA = 246
	opModuleAux     = 247
	opIdle          = 248
	opFreq          = 249
	opAux           = 250
	opResizeDB      = 251
	opExpireTimeMs  = 252
	opExpireTime    = 253
	opSelectDB      = 254
	opEOF           = 255

	// Redis Enterprise's own opcodes, which librdb reads past (one length
	// each, nothing to keep): RAM_LRU and SLOT_NUM.
	opEntRAMLRU  = 107
	opEntSlotNum = 121
)

// RDB value types (rdb.h).
const (
	typeString             = 0
	typeList               = 1
	typeSet                = 2
	typeZSet               = 3
	typeHash               = 4
	typeZSet2              = 5
	typeModulePreGA        = 6
	typeModule2            = 7
	typeHashZipmap         = 9
	typeListZiplist        = 10
	typeSetIntset          = 11
	typeZSetZiplist        = 12
	typeHashZiplist        = 13
	typeListQuicklist      = 14
	typeStreamListpacks    = 15
	typeHashListpack       = 16
	typeZSetListpack       = 17
	typeListQuicklist2     = 18
	typeStreamListpacks2   = 19
	typeSetListpack        = 20
	typeStreamListpacks3   = 21
	typeHashMetadataPreGA  = 22
	typeHashListpackExPreG = 23
	typeHashMetadata       = 24
	typeHashListpackEx     = 25
	typeStreamListpacks4   = 26 // REDIS 13+: streams with IDMP producers
	typeStreamListpacks5   = 27 // REDIS 14 (Redis 8.8): streams with per-group NACK zones
	typeArray              = 28 // REDIS 14 (Redis 8.8): sparse arrays

	// Valkey's meanings of the bytes Redis uses for other things.
	typeValkeyHash2 = 22 // VALKEY 80+: hash table with per-field expiry
)

// MaxDB is the highest database number any server can hold: Redis's
// databases setting is an int of at most INT_MAX, and SELECT takes 0 to
// databases-1. A file holding a higher one loads nowhere.
const MaxDB = math.MaxInt32 - 1

// Highest versions this package reads.
const (
	MaxRedisVersion  = 14
	MaxValkeyVersion = 81
	minValkeyVersion = 80
)

// Reader reads an RDB stream record by record. It verifies the CRC64
// trailer at the end. Values of keys are read lazily: call Stats,
// Elements or WriteValue after Next returned a KindKey record; whatever
// is left unread is skipped (and still validated) by the next call to Next.
type Reader struct {
	in      *input
	magic   string
	version int
	started bool
	err     error // sticky

	rec Record
	db  int

	// Key prefixes (expiry, LRU, LFU) seen since the last key. Like Redis,
	// they survive records in between, such as KeyDB's AUX fields.
	expireAt, idle int64
	freq           int

	// State of the current key's value.
	pending  bool  // value not yet consumed
	valStart int64 // offset of the value's first byte
	stats    ValueStats
	statsOK  bool

	keyBuf  []byte
	nameBuf []byte
	dataBuf []byte
	scratch []byte // decompressed strings
	str2    []byte // second string buffer (hash values)
	numBuf  [24]byte
	numBuf2 [24]byte

	stream       StreamInfo // metadata of the last stream walked by Elements
	streamWalked bool       // stream holds the current key's metadata
	metaBuf      []byte     // raw KEY_META bytes of the next key
	hasMeta      bool

	array       ArrayInfo // metadata of the last array walked
	arrayWalked bool      // array holds the current key's metadata

	skipped []SkippedOpcode // Enterprise opcodes read past, by opcode

	kv KeyValue // returned by KeyValue, functions bound once

	storedCRC, computedCRC uint64
	el                     Element
	mem                    memModel
	mem2                   newTypesMem // arrays and NACK zones (memory_newtypes.go)
	dumpCRC                crcWriter   // WriteDump's, reused
	dumpScratch            [16]byte    // WriteDump's small writes
	valueCount             countWriter // WriteValue's, reused

	memForced           *memLayout // SetMemoryModel's; nil: chosen from the dump
	redisVer, valkeyVer string     // the AUX fields naming the server
}

// NewReader returns a Reader reading from r. It buffers r itself.
func NewReader(r io.Reader) *Reader { return newReaderOn(newInput(r)) }

func newReaderOn(in *input) *Reader {
	return &Reader{in: in, expireAt: NoExpiry, idle: -1, freq: -1, mem: memModel{lay: &memLayouts[0]}}
}

// Version is the RDB version from the header; valid after the first Next.
func (r *Reader) Version() int { return r.version }

// Magic is "REDIS" or "VALKEY"; valid after the first Next.
func (r *Reader) Magic() string { return r.magic }

// Offset is the number of bytes consumed so far.
func (r *Reader) Offset() int64 { return r.in.offset() }

// Checksum returns the CRC64 stored in the trailer and the one computed
// over the file. A stored value of 0 means the writer disabled checksums.
// Valid after Next returned io.EOF.
func (r *Reader) Checksum() (stored, computed uint64) { return r.storedCRC, r.computedCRC }

func (r *Reader) fail(off int64, key []byte, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("truncated input: %w", io.ErrUnexpectedEOF)
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		r.err = err
		return err
	}
	if key != nil {
		key = bytes.Clone(key)
	}
	r.err = &ParseError{Offset: off, Key: key, Err: err}
	return r.err
}

func (r *Reader) readHeader() error {
	b, err := r.in.peek(9)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return r.fail(0, nil, fmt.Errorf("%w: file shorter than the 9-byte header", ErrBadMagic))
		}
		return r.fail(0, nil, err)
	}
	switch {
	case bytes.HasPrefix(b, []byte("REDIS")):
		v, err := strconv.Atoi(string(b[5:9]))
		if err != nil {
			return r.fail(0, nil, fmt.Errorf("%w: header %q", ErrBadMagic, b))
		}
		r.magic, r.version = "REDIS", v
		if v < 1 || v > MaxRedisVersion || v >= minValkeyVersion {
			return r.fail(5, nil, fmt.Errorf("%w: %d (this build reads REDIS 1 to %d and VALKEY %d to %d)", ErrUnsupportedVersion, v, MaxRedisVersion, minValkeyVersion, MaxValkeyVersion))
		}
	case bytes.HasPrefix(b, []byte("VALKEY")):
		v, err := strconv.Atoi(string(b[6:9]))
		if err != nil {
			return r.fail(0, nil, fmt.Errorf("%w: header %q", ErrBadMagic, b))
		}
		r.magic, r.version = "VALKEY", v
		if v < minValkeyVersion || v > MaxValkeyVersion {
			return r.fail(6, nil, fmt.Errorf("%w: VALKEY %d", ErrUnsupportedVersion, v))
		}
	default:
		return r.fail(0, nil, fmt.Errorf("%w: header %q", ErrBadMagic, b))
	}
	r.in.next(9)
	r.started = true
	r.chooseMemoryModel()
	return nil
}

// Next returns the next record, or io.EOF after the EOF opcode once the
// checksum has been verified. The record and its slices are valid until
// the next call.
func (r *Reader) Next() (*Record, error) {
	if r.err != nil {
		return nil, r.err
	}
	if !r.started {
		if err := r.readHeader(); err != nil {
			return nil, err
		}
	}
	if r.pending {
		if _, err := r.Stats(); err != nil {
			return nil, err
		}
	}
	r.releaseBuffers()
	rec := &r.rec
	*rec = Record{DB: r.db, ExpireAt: NoExpiry, Idle: -1, Freq: -1}
	r.streamWalked, r.arrayWalked = false, false
	rec.Offset = r.in.offset()
	for {
		off := r.in.offset()
		op, err := r.in.readByte()
		if err != nil {
			return nil, r.fail(off, nil, err)
		}
		switch op {
		case opEOF:
			return nil, r.readTrailer(off)
		case opSelectDB:
			n, err := r.readLength()
			if err != nil {
				return nil, r.fail(off, nil, err)
			}
			if n > MaxDB {
				return nil, r.fail(off, nil, corruptf("database number %d (no server holds more than %d)", n, MaxDB))
			}
			r.db = int(n)
			rec.Kind, rec.DB = KindSelectDB, r.db
			return rec, nil
		case opResizeDB:
			a, err := r.readLength()
			if err == nil {
				rec.ExpiresSize, err = r.readLength()
			}
			if err != nil {
				return nil, r.fail(off, nil, err)
			}
			rec.Kind, rec.DBSize = KindResizeDB, a
			return rec, nil
		case opSlotInfo:
			var v [3]uint64
			for i := range v {
				if v[i], err = r.readLength(); err != nil {
					return nil, r.fail(off, nil, err)
				}
			}
			rec.Kind, rec.Slot, rec.DBSize, rec.ExpiresSize = KindSlotInfo, int(v[0]), v[1], v[2]
			return rec, nil
		case opAux:
			if r.nameBuf, err = r.readStringCopy(r.nameBuf[:0]); err == nil {
				r.dataBuf, err = r.readStringCopy(r.dataBuf[:0])
			}
			if err != nil {
				return nil, r.fail(off, nil, err)
			}
			rec.Kind, rec.Name, rec.Data = KindAux, r.nameBuf, r.dataBuf
			r.noteAux(r.nameBuf, r.dataBuf)
			return rec, nil
		case opFunction2:
			if r.dataBuf, err = r.readStringCopy(r.dataBuf[:0]); err != nil {
				return nil, r.fail(off, nil, err)
			}
			rec.Kind, rec.Data = KindFunction, r.dataBuf
			return rec, nil
		case opFunctionPreGA:
			if err := r.readFunctionPreGA(rec); err != nil {
				return nil, r.fail(off, nil, err)
			}
			return rec, nil
		case opModuleAux:
			if err := r.readModuleAux(rec); err != nil {
				return nil, r.fail(off, nil, err)
			}
			return rec, nil
		case opKeyMeta:
			if r.magic == "VALKEY" {
				if err := r.readSlotImport(rec); err != nil {
					return nil, r.fail(off, nil, err)
				}
				return rec, nil
			}
			if r.version < 13 {
				return nil, r.fail(off, nil, fmt.Errorf("%w: key metadata opcode 243 in an RDB %d file", ErrUnsupportedType, r.version))
			}
			if err := r.readKeyMeta(); err != nil {
				return nil, r.fail(off, nil, err)
			}
		case opExpireTime:
			b, err := r.in.next(4)
			if err != nil {
				return nil, r.fail(off, nil, err)
			}
			r.expireAt = int64(int32(binary.LittleEndian.Uint32(b))) * 1000
		case opExpireTimeMs:
			b, err := r.in.next(8)
			if err != nil {
				return nil, r.fail(off, nil, err)
			}
			r.expireAt = int64(binary.LittleEndian.Uint64(b))
		case opIdle:
			n, err := r.readLength()
			if err != nil {
				return nil, r.fail(off, nil, err)
			}
			r.idle = int64(n)
		case opFreq:
			b, err := r.in.readByte()
			if err != nil {
				return nil, r.fail(off, nil, err)
			}
			r.freq = int(b)
		case opEntRAMLRU, opEntSlotNum:
			if r.magic != "REDIS" {
				return nil, r.fail(off, nil, fmt.Errorf("%w: unknown opcode or value type %d in %s %d file", ErrUnsupportedType, op, r.magic, r.version))
			}
			// Redis Enterprise writes these; Redis and librdb read one
			// length and go on, and so does this Reader.
			if _, err := r.readLength(); err != nil {
				return nil, r.fail(off, nil, fmt.Errorf("redis enterprise opcode %d: %w", op, err))
			}
			r.noteSkipped(op)
		default:
			t, ok := r.logicalType(op)
			if !ok {
				return nil, r.fail(off, nil, fmt.Errorf("%w: unknown opcode or value type %d in %s %d file", ErrUnsupportedType, op, r.magic, r.version))
			}
			if r.keyBuf, err = r.readStringCopy(r.keyBuf[:0]); err != nil {
				return nil, r.fail(off, nil, err)
			}
			rec.Kind, rec.Key, rec.Type, rec.RDBType = KindKey, r.keyBuf, t, op
			rec.ExpireAt, rec.Idle, rec.Freq = r.expireAt, r.idle, r.freq
			r.expireAt, r.idle, r.freq = NoExpiry, -1, -1
			if r.hasMeta {
				rec.Meta, r.hasMeta = r.metaBuf, false
			}
			r.pending, r.statsOK = true, false
			r.valStart = r.in.offset()
			return rec, nil
		}
	}
}

func (r *Reader) readTrailer(off int64) error {
	sum := r.in.sum()
	r.computedCRC = sum
	if r.version >= 5 {
		b, err := r.in.next(8)
		if err != nil {
			return r.fail(r.in.offset(), nil, fmt.Errorf("missing CRC64 trailer: %w", err))
		}
		r.storedCRC = binary.LittleEndian.Uint64(b)
		if r.storedCRC != 0 && r.storedCRC != sum {
			return r.fail(off+1, nil, fmt.Errorf("%w: file says %016x, content hashes to %016x", ErrChecksum, r.storedCRC, sum))
		}
	}
	r.err = io.EOF
	return io.EOF
}

// logicalType maps a value type byte to its logical type, taking the
// file's magic and version into account.
func (r *Reader) logicalType(t byte) (Type, bool) {
	switch t {
	case typeString:
		return TypeString, true
	case typeList, typeListZiplist, typeListQuicklist, typeListQuicklist2:
		return TypeList, true
	case typeSet, typeSetIntset, typeSetListpack:
		return TypeSet, true
	case typeZSet, typeZSet2, typeZSetZiplist, typeZSetListpack:
		return TypeZSet, true
	case typeHash, typeHashZipmap, typeHashZiplist, typeHashListpack:
		return TypeHash, true
	case typeStreamListpacks, typeStreamListpacks2, typeStreamListpacks3:
		return TypeStream, true
	case typeModulePreGA, typeModule2:
		return TypeModule, true
	}
	if r.magic == "VALKEY" {
		// Valkey gives 22 and up its own meanings.
		if t == typeValkeyHash2 {
			return TypeHash, true
		}
		return 0, false
	}
	switch {
	case t >= typeHashMetadataPreGA && t <= typeHashListpackEx && r.version >= 12:
		return TypeHash, true // Redis 7.4+ hashes with field expiry
	case t == typeStreamListpacks4 && r.version >= 13:
		return TypeStream, true
	case t == typeStreamListpacks5 && r.version >= 14:
		return TypeStream, true
	case t == typeArray && r.version >= 14:
		return TypeArray, true
	}
	return 0, false
}

// readLength reads a length-encoded integer. Encoded strings (the 11
// prefix) are an error here.
func (r *Reader) readLength() (uint64, error) {
	n, enc, err := r.readLen()
	if err != nil {
		return 0, err
	}
	if enc {
		return 0, corruptf("encoded string where a length was expected")
	}
	return n, nil
}

// readLen reads a length; enc reports the special-encoding prefix, in
// which case n is the encoding type (RDB_ENC_*).
func (r *Reader) readLen() (n uint64, enc bool, err error) {
	b, err := r.in.readByte()
	if err != nil {
		return 0, false, err
	}
	switch b >> 6 {
	case 0:
		return uint64(b & 0x3f), false, nil
	case 1:
		b2, err := r.in.readByte()
		if err != nil {
			return 0, false, err
		}
		return uint64(b&0x3f)<<8 | uint64(b2), false, nil
	case 3:
		return uint64(b & 0x3f), true, nil
	}
	switch b {
	case 0x80:
		p, err := r.in.next(4)
		if err != nil {
			return 0, false, err
		}
		return uint64(binary.BigEndian.Uint32(p)), false, nil
	case 0x81:
		p, err := r.in.next(8)
		if err != nil {
			return 0, false, err
		}
		return binary.BigEndian.Uint64(p), false, nil
	}
	return 0, false, corruptf("bad length prefix 0x%02x", b)
}

// str is a string read from the file. Data is nil when it was skipped
// (only the length is known).
type str struct {
	data  []byte
	n     int64 // length of the decoded string
	isInt bool  // stored with an integer encoding
	ival  int64
}

// readString reads a string. When want is false long strings are skipped
// rather than copied and s.data is nil for them; short and compressed
// strings are always decoded, so they are always validated. The returned
// data is valid until the next read; buf is used for decoded output.
func (r *Reader) readString(want bool, buf *[]byte, num *[24]byte) (s str, err error) {
	n, enc, err := r.readLen()
	if err != nil {
		return s, err
	}
	if enc {
		switch n {
		case 0, 1, 2:
			size := 1 << n
			p, err := r.in.next(size)
			if err != nil {
				return s, err
			}
			var v int64
			switch size {
			case 1:
				v = int64(int8(p[0]))
			case 2:
				v = int64(int16(binary.LittleEndian.Uint16(p)))
			case 4:
				v = int64(int32(binary.LittleEndian.Uint32(p)))
			}
			d := strconv.AppendInt(num[:0], v, 10)
			return str{data: d, n: int64(len(d)), isInt: true, ival: v}, nil
		case 3:
			return r.readLZF(buf)
		}
		return s, corruptf("unknown string encoding %d", n)
	}
	if n > math.MaxInt64/2 {
		return s, corruptf("string length %d", n)
	}
	if n <= maxInline {
		p, err := r.in.next(int(n))
		if err != nil {
			return s, err
		}
		return str{data: p, n: int64(n)}, nil
	}
	if !want {
		return str{n: int64(n)}, r.in.skip(int64(n))
	}
	*buf, err = r.in.readFull((*buf)[:0], int64(n))
	return str{data: *buf, n: int64(n)}, err
}

func (r *Reader) readLZF(buf *[]byte) (str, error) {
	clen, err := r.readLength()
	if err != nil {
		return str{}, err
	}
	ulen, err := r.readLength()
	if err != nil {
		return str{}, err
	}
	// LZF expands at most about 130 times (a 3-byte back reference yields
	// up to 264 bytes), which bounds what a bogus length can make us allocate.
	if clen == 0 || ulen > clen*132+64 || clen > math.MaxInt32 {
		return str{}, corruptf("LZF string of %d bytes claims %d bytes uncompressed", clen, ulen)
	}
	var src []byte
	if clen <= maxInline {
		if src, err = r.in.next(int(clen)); err != nil {
			return str{}, err
		}
	} else {
		if r.str2, err = r.in.readFull(r.str2[:0], int64(clen)); err != nil {
			return str{}, err
		}
		src = r.str2
	}
	if uint64(cap(*buf)) < ulen {
		*buf = make([]byte, ulen)
	}
	dst := (*buf)[:ulen]
	if err := lzfDecompress(src, dst); err != nil {
		return str{}, corruptf("LZF string (%d bytes compressed, %d uncompressed): %v", clen, ulen, err)
	}
	return str{data: dst, n: int64(ulen)}, nil
}

// readStringCopy reads a whole string and appends it to dst.
func (r *Reader) readStringCopy(dst []byte) ([]byte, error) {
	s, err := r.readString(true, &r.scratch, &r.numBuf)
	if err != nil {
		return dst, err
	}
	return append(dst, s.data...), nil
}

func (r *Reader) skipString() error {
	_, err := r.readString(false, &r.scratch, &r.numBuf)
	return err
}

// readFunctionPreGA reads a library as Redis 7.0-rc1 and rc2 wrote it
// (name, engine, has-description flag, [description], code) and gives it
// the form Redis 7.0's rdbFunctionLoad turns it into: the code after a
// "#!<engine> name=<name>" line, the description dropped.
func (r *Reader) readFunctionPreGA(rec *Record) error {
	var err error
	if r.nameBuf, err = r.readStringCopy(r.nameBuf[:0]); err != nil {
		return err
	}
	// The engine goes straight into the payload being built.
	r.dataBuf = append(r.dataBuf[:0], "#!"...)
	if r.dataBuf, err = r.readStringCopy(r.dataBuf); err != nil {
		return err
	}
	hasDesc, err := r.readLength()
	if err == nil && hasDesc != 0 {
		err = r.skipString()
	}
	if err != nil {
		return err
	}
	r.dataBuf = append(append(append(r.dataBuf, " name="...), r.nameBuf...), '\n')
	if r.dataBuf, err = r.readStringCopy(r.dataBuf); err != nil {
		return err
	}
	rec.Kind, rec.Name, rec.Data = KindFunction, r.nameBuf, r.dataBuf
	return nil
}

// readModuleAux reads a MODULE_AUX opcode's body: module id, when-opcode,
// when, then module-serialized data up to its EOF marker.
func (r *Reader) readModuleAux(rec *Record) error {
	id, err := r.readLength()
	if err != nil {
		return err
	}
	whenOp, err := r.readLength()
	if err != nil {
		return err
	}
	if whenOp != moduleOpUint {
		return corruptf("module aux for %s: bad when-opcode %d", ModuleID(id), whenOp)
	}
	when, err := r.readLength()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	r.in.startTee(&buf)
	err = r.skipModuleOpcodes()
	if terr := r.in.stopTee(); err == nil {
		err = terr
	}
	if err != nil {
		return fmt.Errorf("module aux for %s: %w", ModuleID(id), err)
	}
	rec.Kind, rec.Module, rec.When = KindModuleAux, ModuleID(id), when
	r.dataBuf = append(r.dataBuf[:0], buf.Bytes()...)
	rec.Data = r.dataBuf
	return nil
}

// Module serialization opcodes (RDB_MODULE_OPCODE_*).
const (
	moduleOpEOF    = 0
	moduleOpSint   = 1
	moduleOpUint   = 2
	moduleOpFloat  = 3
	moduleOpDouble = 4
	moduleOpString = 5
)

// skipModuleOpcodes skips module-serialized values up to and including
// the EOF opcode.
func (r *Reader) skipModuleOpcodes() error {
	for {
		op, err := r.readLength()
		if err != nil {
			return err
		}
		switch op {
		case moduleOpEOF:
			return nil
		case moduleOpSint, moduleOpUint:
			_, err = r.readLength()
		case moduleOpFloat:
			_, err = r.in.next(4)
		case moduleOpDouble:
			_, err = r.in.next(8)
		case moduleOpString:
			err = r.skipString()
		default:
			return corruptf("unknown module opcode %d", op)
		}
		if err != nil {
			return err
		}
	}
}

// readKeyMeta reads a Redis 8.6+ KEY_META prefix: a class count, then per
// class a 4-byte class spec and a module-serialized value ending in EOF.
// Its raw bytes are kept for the key that follows.
func (r *Reader) readKeyMeta() error {
	var buf bytes.Buffer
	r.in.startTee(&buf)
	err := r.skipKeyMeta()
	if terr := r.in.stopTee(); err == nil {
		err = terr
	}
	if err != nil {
		return fmt.Errorf("key metadata: %w", err)
	}
	r.metaBuf = append(r.metaBuf[:0], buf.Bytes()...)
	r.hasMeta = true
	return nil
}

func (r *Reader) skipKeyMeta() error {
	n, err := r.readLength()
	if err != nil {
		return err
	}
	if n == 0 || n > 7 {
		return corruptf("%d metadata classes (Redis allows 1 to 7)", n)
	}
	for i := uint64(0); i < n; i++ {
		if _, err := r.in.next(4); err != nil { // class spec
			return err
		}
		if err := r.skipModuleOpcodes(); err != nil {
			return err
		}
	}
	return nil
}

// readSlotImport reads Valkey's SLOT_IMPORT record: a job name and slot
// ranges of an import that was in progress when the file was written.
func (r *Reader) readSlotImport(rec *Record) error {
	var err error
	if r.nameBuf, err = r.readStringCopy(r.nameBuf[:0]); err != nil {
		return err
	}
	n, err := r.readLength()
	if err != nil {
		return err
	}
	if n > 16384 {
		return corruptf("slot import with %d ranges", n)
	}
	rec.SlotRanges = rec.SlotRanges[:0]
	for i := uint64(0); i < n; i++ {
		a, err := r.readLength()
		if err != nil {
			return err
		}
		b, err := r.readLength()
		if err != nil {
			return err
		}
		if a > 16383 || b > 16383 || a > b {
			return corruptf("slot import range %d-%d", a, b)
		}
		rec.SlotRanges = append(rec.SlotRanges, [2]int{int(a), int(b)})
	}
	rec.Kind, rec.Name = KindSlotImport, r.nameBuf
	return nil
}

// Stream returns the metadata of the current key's stream once Elements
// has walked it (nil otherwise). It is valid until the next call to Next.
// Consumer groups and their pending entries lists are held in memory.
func (r *Reader) Stream() *StreamInfo {
	if !r.streamWalked {
		return nil
	}
	return &r.stream
}

// SkippedOpcode counts the records of an opcode the Reader read past
// without returning them: Redis Enterprise's RAM_LRU (107) and SLOT_NUM
// (121), which carry one length each and nothing Redis keeps.
type SkippedOpcode struct {
	Opcode byte
	Name   string
	Count  int64
}

func (r *Reader) noteSkipped(op byte) {
	for i := range r.skipped {
		if r.skipped[i].Opcode == op {
			r.skipped[i].Count++
			return
		}
	}
	name := "RAM_LRU"
	if op == opEntSlotNum {
		name = "SLOT_NUM"
	}
	r.skipped = append(r.skipped, SkippedOpcode{Opcode: op, Name: name, Count: 1})
}

// Skipped returns the opcodes read past so far, in the order first met,
// or nil. The slice is the Reader's: do not change it.
func (r *Reader) Skipped() []SkippedOpcode { return r.skipped }

// Array returns the metadata of the current key's array once Elements
// has walked it (nil otherwise). It is valid until the next call to Next.
func (r *Reader) Array() *ArrayInfo {
	if !r.arrayWalked {
		return nil
	}
	return &r.array
}

// Rest returns the input that follows the RDB's checksum, for files that
// continue after it (an AOF with an RDB preamble). Call it after Next
// returned io.EOF.
func (r *Reader) Rest() io.Reader {
	return io.MultiReader(bytes.NewReader(r.in.buf[r.in.pos:r.in.end]), r.in.r)
}

// keepBuffer is the largest buffer kept from one key to the next; a
// bigger one, grown for a long string, goes back to the garbage collector.
const keepBuffer = 1 << 20

func (r *Reader) releaseBuffers() {
	for _, b := range []*[]byte{&r.scratch, &r.str2, &r.dataBuf} {
		if cap(*b) > keepBuffer {
			*b = nil
		}
	}
}
