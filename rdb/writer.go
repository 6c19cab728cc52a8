package rdb

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// WriterOptions configures a Writer. The zero value writes RDB 10.
type WriterOptions struct {
	// Version is the RDB version written: 10 (Redis 7.0) by default, which
	// Redis 7.0 and later load. Hash field expiries need 12 (Redis 7.4).
	Version int
}

// Writer writes an RDB file from KeyValues. It writes the plain encodings
// (RDB_TYPE_LIST, SET, ZSET_2, HASH, streams as listpacks) and leaves it
// to the loading server to pick its compact in-memory encodings, as it
// does for any dump. A key's elements are gathered in memory before the
// key is written, because the format puts their count first: memory is
// bounded by the largest key, not by the file.
type Writer struct {
	w       *bufio.Writer
	crc     uint64
	version int
	db      int // selected database, -1 before the first key
	err     error
	scratch []byte
	dump    bool // EncodeDump: the value only, no database, expiry or key
}

// NewWriter writes the header and returns a Writer. Call Close to write
// the EOF opcode and checksum.
func NewWriter(w io.Writer, opts WriterOptions) (*Writer, error) {
	v := opts.Version
	if v == 0 {
		v = 10
	}
	if v < 10 || v > MaxRedisVersion {
		return nil, fmt.Errorf("%w: cannot write RDB %d (10 to %d)", ErrUnsupportedVersion, v, MaxRedisVersion)
	}
	wr := &Writer{w: bufio.NewWriterSize(w, 64<<10), version: v, db: -1}
	wr.raw([]byte(fmt.Sprintf("REDIS%04d", v)))
	return wr, wr.err
}

// raw writes p, keeping the checksum.
func (w *Writer) raw(p []byte) {
	if w.err != nil {
		return
	}
	w.crc = crcUpdate(w.crc, p)
	_, w.err = w.w.Write(p)
}

func (w *Writer) byte1(b byte) { w.raw([]byte{b}) }

func (w *Writer) length(n uint64) {
	b := w.scratch[:0]
	switch {
	case n < 1<<6:
		b = append(b, byte(n))
	case n < 1<<14:
		b = append(b, byte(n>>8)|0x40, byte(n))
	case n <= math.MaxUint32:
		b = append(b, 0x80)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	default:
		b = append(b, 0x81)
		b = binary.BigEndian.AppendUint64(b, n)
	}
	w.scratch = b
	w.raw(b)
}

func (w *Writer) str(s []byte) {
	w.length(uint64(len(s)))
	w.raw(s)
}

func (w *Writer) ms(v int64) {
	w.scratch = binary.LittleEndian.AppendUint64(w.scratch[:0], uint64(v))
	w.raw(w.scratch)
}

// WriteAux writes an AUX field.
func (w *Writer) WriteAux(name, value []byte) error {
	w.byte1(opAux)
	w.str(name)
	w.str(value)
	return w.err
}

// WriteFunction writes a function library (FUNCTION2).
func (w *Writer) WriteFunction(code []byte) error {
	w.byte1(opFunction2)
	w.str(code)
	return w.err
}

// WriteModuleAux writes a module's auxiliary data (MODULE_AUX) as a
// KindModuleAux record holds it: the module id, when it was saved and
// the module-serialized payload ending in its EOF opcode. Redis refuses
// to load a file with auxiliary data of a module it has not loaded, as
// it refuses the file the record came from.
func (w *Writer) WriteModuleAux(id ModuleID, when uint64, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if err := checkModulePayload(data); err != nil {
		return fmt.Errorf("module aux of %v: %w", id, err)
	}
	w.byte1(opModuleAux)
	w.length(uint64(id))
	w.length(moduleOpUint)
	w.length(when)
	w.raw(data)
	return w.err
}

// checkModulePayload checks that p is a run of module-serialized values
// ending with the EOF opcode, and nothing after it.
func checkModulePayload(p []byte) error {
	r := NewReader(bytes.NewReader(p))
	if err := r.skipModuleOpcodes(); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return corruptf("module payload of %d bytes ends before its EOF opcode", len(p))
		}
		return err
	}
	if n := r.in.offset(); n != int64(len(p)) {
		return corruptf("module payload has %d bytes after its EOF opcode", int64(len(p))-n)
	}
	return nil
}

// written is one element gathered before its key is written.
type written struct {
	member, value []byte
	score         float64
	expireAt      int64
	id            StreamID
	fields        [][]byte
	index         uint64 // array element
	kind          ArrayKind
}

// WriteKey writes one key, selecting its database first when needed.
func (w *Writer) WriteKey(kv *KeyValue) error {
	if w.err != nil {
		return w.err
	}
	if !w.dump && (kv.DB < 0 || kv.DB > MaxDB) {
		return fmt.Errorf("key %q: database %d: no server holds it (0 to %d)", kv.Key, kv.DB, MaxDB)
	}
	if kv.Type == TypeModule {
		return w.writeDump(kv)
	}
	var elems []written
	hasTTL := false
	err := kv.Elements(func(e *Element) error {
		el := written{member: clone(e.Member), value: clone(e.Value), score: e.Score, expireAt: e.ExpireAt, id: e.ID, index: e.Index, kind: e.Kind}
		if e.Fields != nil {
			el.fields = make([][]byte, len(e.Fields))
			for i, f := range e.Fields {
				el.fields[i] = clone(f)
			}
		}
		if kv.Type == TypeHash && e.ExpireAt != NoExpiry {
			hasTTL = true
		}
		elems = append(elems, el)
		return nil
	})
	if err != nil {
		return fmt.Errorf("key %q: %w", kv.Key, err)
	}
	var t byte
	switch kv.Type {
	case TypeString:
		if len(elems) != 1 {
			return fmt.Errorf("key %q: a string needs one element, got %d", kv.Key, len(elems))
		}
		t = typeString
	case TypeList:
		t = typeList
	case TypeSet:
		t = typeSet
	case TypeZSet:
		t = typeZSet2
	case TypeHash:
		t = typeHash
		if hasTTL {
			if w.version < 12 {
				return &VersionError{Key: kv.Key, What: "hash field expiries (Redis 7.4)", Need: 12, Have: w.version}
			}
			t = typeHashMetadata
		}
	case TypeStream:
		var err error
		if t, err = w.streamType(kv); err != nil {
			return err
		}
	case TypeArray:
		if w.version < 14 {
			return &VersionError{Key: kv.Key, What: "arrays (Redis 8.8)", Need: 14, Have: w.version}
		}
		t = typeArray
	default:
		return fmt.Errorf("%w: key %q of type %v cannot be written", ErrUnsupportedType, kv.Key, kv.Type)
	}
	if len(elems) == 0 && kv.Type != TypeStream {
		return nil // Redis does not keep empty collections
	}
	w.keyHeader(kv, t)
	switch kv.Type {
	case TypeString:
		w.str(elems[0].member)
	case TypeList, TypeSet:
		w.length(uint64(len(elems)))
		for i := range elems {
			w.str(elems[i].member)
		}
	case TypeZSet:
		w.length(uint64(len(elems)))
		for i := range elems {
			w.str(elems[i].member)
			w.scratch = binary.LittleEndian.AppendUint64(w.scratch[:0], math.Float64bits(elems[i].score))
			w.raw(w.scratch)
		}
	case TypeHash:
		w.writeHash(elems, t == typeHashMetadata)
	case TypeStream:
		var info *StreamInfo
		if kv.Stream != nil {
			info = kv.Stream()
		}
		if err := w.writeStream(elems, info, t); err != nil {
			return fmt.Errorf("key %q: %w", kv.Key, err)
		}
	case TypeArray:
		var info *ArrayInfo
		if kv.Array != nil {
			info = kv.Array()
		}
		if err := w.writeArray(elems, info); err != nil {
			return fmt.Errorf("key %q: %w", kv.Key, err)
		}
	}
	return w.err
}

// streamType picks the stream encoding for the Writer's version: Redis
// 8.8's type 27 when a group has NACKed entries (only RDB 14 holds them)
// or the stream has IDMP state, Redis 8.6's type 26 for IDMP state in
// RDB 13, else type 21 (19 before RDB 11). IDMP state, a cache of recent
// idempotency IDs, is left out below RDB 13. WriteKey calls it after
// the elements were walked, when Stream has the metadata.
func (w *Writer) streamType(kv *KeyValue) (byte, error) {
	var info *StreamInfo
	if kv.Stream != nil {
		info = kv.Stream()
	}
	nacked := false
	if info != nil {
		for i := range info.Groups {
			g := &info.Groups[i]
			if len(g.Nacked) == 0 {
				continue
			}
			nacked = true
			// Redis loads a NACK zone only of pending entries no consumer owns.
			unowned := make(map[StreamID]bool, len(g.Pending))
			for _, p := range g.Pending {
				unowned[p.ID] = p.Consumer == ""
			}
			for _, id := range g.Nacked {
				if !unowned[id] {
					return 0, fmt.Errorf("key %q: group %q: NACKed entry %v is not a pending entry without a consumer", kv.Key, g.Name, id)
				}
			}
		}
	}
	switch {
	case nacked && w.version < 14:
		return 0, &VersionError{Key: kv.Key, What: "streams with NACKed entries (Redis 8.8 XNACK)", Need: 14, Have: w.version}
	case nacked || info != nil && info.IDMP != nil && w.version >= 14:
		return typeStreamListpacks5, nil
	case info != nil && info.IDMP != nil && w.version == 13:
		return typeStreamListpacks4, nil
	case w.version >= 11:
		return typeStreamListpacks3, nil
	}
	return typeStreamListpacks2, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// keyHeader selects the database and writes the key's expiry, LRU/LFU
// prefixes, type and name.
func (w *Writer) keyHeader(kv *KeyValue, t byte) {
	if w.dump {
		w.byte1(t)
		return
	}
	if kv.DB != w.db {
		w.byte1(opSelectDB)
		w.length(uint64(kv.DB))
		w.db = kv.DB
	}
	if kv.ExpireAt != NoExpiry {
		w.byte1(opExpireTimeMs)
		w.ms(kv.ExpireAt)
	}
	if kv.Idle >= 0 {
		w.byte1(opIdle)
		w.length(uint64(kv.Idle))
	}
	if kv.Freq >= 0 {
		w.byte1(opFreq)
		w.byte1(byte(kv.Freq))
	}
	w.byte1(t)
	w.str(kv.Key)
}

// writeHash writes RDB_TYPE_HASH, or RDB_TYPE_HASH_METADATA with each
// field's expiry relative to the smallest one.
func (w *Writer) writeHash(elems []written, ttl bool) {
	if !ttl {
		w.length(uint64(len(elems)))
		for i := range elems {
			w.str(elems[i].member)
			w.str(elems[i].value)
		}
		return
	}
	minExp := int64(math.MaxInt64)
	for i := range elems {
		if e := elems[i].expireAt; e != NoExpiry && e < minExp {
			minExp = e
		}
	}
	w.ms(minExp)
	w.length(uint64(len(elems)))
	for i := range elems {
		if e := elems[i].expireAt; e == NoExpiry {
			w.length(0)
		} else {
			w.length(uint64(e-minExp) + 1)
		}
		w.str(elems[i].member)
		w.str(elems[i].value)
	}
}

// writeDump copies a module value from its DUMP payload.
func (w *Writer) writeDump(kv *KeyValue) error {
	if kv.Dump == nil {
		return fmt.Errorf("key %q: a module value needs its DUMP payload", kv.Key)
	}
	var p payloadBuf
	if err := kv.Dump(&p); err != nil {
		return fmt.Errorf("key %q: %w", kv.Key, err)
	}
	b := p.b
	if len(b) < 11 {
		return fmt.Errorf("key %q: DUMP payload of %d bytes is too short", kv.Key, len(b))
	}
	if v := int(binary.LittleEndian.Uint16(b[len(b)-10:])); v > w.version {
		return &VersionError{Key: kv.Key, What: "module values of RDB " + strconv.Itoa(v), Need: v, Have: w.version}
	}
	w.keyHeader(kv, b[0])
	w.raw(b[1 : len(b)-10])
	return w.err
}

type payloadBuf struct{ b []byte }

func (p *payloadBuf) Write(b []byte) (int, error) { p.b = append(p.b, b...); return len(b), nil }

// Close writes the EOF opcode and the CRC64 trailer and flushes.
func (w *Writer) Close() error {
	w.byte1(opEOF)
	if w.err != nil {
		return w.err
	}
	sum := w.crc
	if _, err := w.w.Write(binary.LittleEndian.AppendUint64(nil, sum)); err != nil {
		return err
	}
	return w.w.Flush()
}

// Streams are written as listpack nodes the way Redis builds them: at
// most streamNodeEntries entries per node, the first entry's fields as
// the node's master fields, entries with the same fields flagged so.
const streamNodeEntries = 100

var errStreamOrder = errors.New("stream entries out of ID order")

func (w *Writer) writeStream(elems []written, info *StreamInfo, t byte) error {
	nodes := (len(elems) + streamNodeEntries - 1) / streamNodeEntries
	w.length(uint64(nodes))
	var lp lpBuilder
	for n := 0; n < nodes; n++ {
		chunk := elems[n*streamNodeEntries : min(len(elems), (n+1)*streamNodeEntries)]
		if n > 0 && !idLess(elems[n*streamNodeEntries-1].id, chunk[0].id) {
			return errStreamOrder
		}
		key, b, err := encodeStreamNode(&lp, chunk)
		if err != nil {
			return err
		}
		w.str(key[:])
		w.str(b)
	}
	if info == nil {
		info = &StreamInfo{Length: uint64(len(elems)), EntriesAdded: uint64(len(elems))}
		if len(elems) > 0 {
			info.LastID, info.FirstID = elems[len(elems)-1].id, elems[0].id
		}
	}
	w.streamMeta(info, t)
	return w.err
}

// encodeStreamNode encodes entries (at most streamNodeEntries, in ID
// order) as one listpack node: its key (the master ID, big endian) and
// its listpack, built in lp and valid until lp's next use.
func encodeStreamNode(lp *lpBuilder, chunk []written) ([16]byte, []byte, error) {
	var key [16]byte
	master := chunk[0]
	lp.reset()
	lp.int(int64(len(chunk))) // live entries
	lp.int(0)                 // deleted entries
	nf := len(master.fields) / 2
	lp.int(int64(nf))
	for i := 0; i < nf; i++ {
		lp.str(master.fields[2*i])
	}
	lp.int(0) // master terminator
	prev := StreamID{}
	for i := range chunk {
		e := &chunk[i]
		if i > 0 && !idLess(prev, e.id) {
			return key, nil, errStreamOrder
		}
		prev = e.id
		if len(e.fields)%2 != 0 {
			return key, nil, fmt.Errorf("stream entry %v has an odd number of fields", e.id)
		}
		same := sameFields(master.fields, e.fields)
		flags := int64(0)
		if same {
			flags = streamFlagSameFields
		}
		lp.int(flags)
		lp.int(int64(e.id.Ms - master.id.Ms))
		lp.int(int64(e.id.Seq - master.id.Seq))
		k := len(e.fields) / 2
		if same {
			for j := 0; j < k; j++ {
				lp.str(e.fields[2*j+1])
			}
			lp.int(int64(k + 3))
		} else {
			lp.int(int64(k))
			for _, f := range e.fields {
				lp.str(f)
			}
			lp.int(int64(2*k + 4))
		}
	}
	binary.BigEndian.PutUint64(key[:], master.id.Ms)
	binary.BigEndian.PutUint64(key[8:], master.id.Seq)
	return key, lp.finish(), nil
}

// streamMeta writes a stream's metadata after its nodes: length, IDs,
// entries added and consumer groups with their pending entries and
// consumers.
func (w *Writer) streamMeta(info *StreamInfo, t byte) {
	w.length(info.Length)
	w.length(info.LastID.Ms)
	w.length(info.LastID.Seq)
	w.length(info.FirstID.Ms)
	w.length(info.FirstID.Seq)
	w.length(info.MaxDeletedID.Ms)
	w.length(info.MaxDeletedID.Seq)
	w.length(info.EntriesAdded)
	w.length(uint64(len(info.Groups)))
	for _, g := range info.Groups {
		w.str([]byte(g.Name))
		w.length(g.LastID.Ms)
		w.length(g.LastID.Seq)
		w.length(uint64(g.EntriesRead)) // -1 (unknown) is written as 2^64-1, as Redis does
		w.length(uint64(len(g.Pending)))
		for _, p := range g.Pending {
			var id [16]byte
			binary.BigEndian.PutUint64(id[:], p.ID.Ms)
			binary.BigEndian.PutUint64(id[8:], p.ID.Seq)
			w.raw(id[:])
			w.ms(p.DeliveryTime)
			w.length(p.DeliveryCount)
		}
		owners := make(map[string][]StreamID, len(g.Consumers))
		for _, p := range g.Pending {
			owners[p.Consumer] = append(owners[p.Consumer], p.ID)
		}
		w.length(uint64(len(g.Consumers)))
		for _, c := range g.Consumers {
			w.str([]byte(c.Name))
			w.ms(c.SeenTime)
			if t >= typeStreamListpacks3 {
				w.ms(c.ActiveTime)
			}
			owned := owners[c.Name]
			w.length(uint64(len(owned)))
			for _, o := range owned {
				var id [16]byte
				binary.BigEndian.PutUint64(id[:], o.Ms)
				binary.BigEndian.PutUint64(id[8:], o.Seq)
				w.raw(id[:])
			}
		}
		if t >= typeStreamListpacks5 {
			w.length(uint64(len(g.Nacked)))
			for _, id := range g.Nacked {
				w.streamID(id)
			}
		}
	}
	if t >= typeStreamListpacks4 {
		w.streamIDMP(info.IDMP)
	}
}

func (w *Writer) streamID(id StreamID) {
	w.scratch = binary.BigEndian.AppendUint64(w.scratch[:0], id.Ms)
	w.scratch = binary.BigEndian.AppendUint64(w.scratch, id.Seq)
	w.raw(w.scratch)
}

// streamIDMP writes the IDMP tail of types 26 and 27; without IDMP state
// it writes Redis's default settings and no producers.
func (w *Writer) streamIDMP(m *StreamIDMP) {
	if m == nil {
		m = &StreamIDMP{Duration: defaultIDMPDuration, MaxEntries: defaultIDMPMaxEntries}
	}
	w.length(m.Duration)
	w.length(m.MaxEntries)
	w.length(uint64(len(m.Producers)))
	for _, p := range m.Producers {
		w.str([]byte(p.PID))
		w.length(uint64(len(p.Entries)))
		for _, e := range p.Entries {
			w.str([]byte(e.IID))
			w.length(e.ID.Ms)
			w.length(e.ID.Seq)
		}
	}
	w.length(m.IIDsAdded)
	w.length(m.IIDsDuplicates)
}

func idLess(a, b StreamID) bool { return a.Ms < b.Ms || a.Ms == b.Ms && a.Seq < b.Seq }

func sameFields(master, fields [][]byte) bool {
	if len(master) != len(fields) {
		return false
	}
	for i := 0; i < len(master); i += 2 {
		if string(master[i]) != string(fields[i]) {
			return false
		}
	}
	return true
}

// lpBuilder writes a listpack, integer-encoding strings that are
// canonical integers as lpAppend does.
type lpBuilder struct {
	b []byte
	n int
}

func (l *lpBuilder) reset() {
	l.b = append(l.b[:0], 0, 0, 0, 0, 0, 0)
	l.n = 0
}

func (l *lpBuilder) int(v int64) {
	start := len(l.b)
	switch {
	case v >= 0 && v <= 127:
		l.b = append(l.b, byte(v))
	case v >= -4096 && v <= 4095:
		u := uint64(v) & 0x1fff
		l.b = append(l.b, 0xc0|byte(u>>8), byte(u))
	case v >= math.MinInt16 && v <= math.MaxInt16:
		l.b = append(l.b, 0xf1)
		l.b = binary.LittleEndian.AppendUint16(l.b, uint16(v))
	case v >= -1<<23 && v < 1<<23:
		u := uint32(v)
		l.b = append(l.b, 0xf2, byte(u), byte(u>>8), byte(u>>16))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		l.b = append(l.b, 0xf3)
		l.b = binary.LittleEndian.AppendUint32(l.b, uint32(v))
	default:
		l.b = append(l.b, 0xf4)
		l.b = binary.LittleEndian.AppendUint64(l.b, uint64(v))
	}
	l.backlen(len(l.b) - start)
}

func (l *lpBuilder) str(s []byte) {
	if v, ok := parseCanonicalInt(s); ok {
		l.int(v)
		return
	}
	start := len(l.b)
	n := len(s)
	switch {
	case n < 64:
		l.b = append(l.b, 0x80|byte(n))
	case n < 4096:
		l.b = append(l.b, 0xe0|byte(n>>8), byte(n))
	default:
		l.b = append(l.b, 0xf0)
		l.b = binary.LittleEndian.AppendUint32(l.b, uint32(n))
	}
	l.b = append(l.b, s...)
	l.backlen(len(l.b) - start)
}

// backlen appends the entry length, readable from right to left: seven
// bits per byte, the most significant group first, every byte but the
// first written with the high bit set.
func (l *lpBuilder) backlen(n int) {
	l.n++
	switch size := lpBacklenSize(n); size {
	case 1:
		l.b = append(l.b, byte(n))
	default:
		tmp := make([]byte, size)
		for i := size - 1; i >= 0; i-- {
			tmp[i] = byte(n & 127)
			n >>= 7
		}
		for i := 1; i < size; i++ {
			tmp[i] |= 128
		}
		l.b = append(l.b, tmp...)
	}
}

func (l *lpBuilder) finish() []byte {
	l.b = append(l.b, 0xff)
	binary.LittleEndian.PutUint32(l.b, uint32(len(l.b)))
	n := l.n
	if n > 65535 {
		n = 65535
	}
	binary.LittleEndian.PutUint16(l.b[4:], uint16(n))
	return l.b
}
