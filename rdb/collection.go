package rdb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Collection encodes one key's value element by element, for values
// too big to hold: the RDB puts a collection's element count before its
// elements, so the elements are encoded as they come into a spool (any
// io.Writer: a temporary file, a buffer) and Writer.WriteCollection
// writes the key's header and count and copies the spool after them.
// Memory stays bounded by one element (one listpack node of 100 entries
// for a stream), whatever the value's size. A string is written the same
// way, from its pieces in order.
//
// The encodings are the plain ones that Redis 7.0 and later and Valkey
// load, as Writer.WriteKey writes them: RDB_TYPE_LIST, RDB_TYPE_SET,
// RDB_TYPE_ZSET_2, RDB_TYPE_HASH, and streams as listpack nodes
// (RDB_TYPE_STREAM_LISTPACKS_2 in RDB 10, _3 from RDB 11). A loading
// server refuses a set, sorted set or hash holding a member twice:
// Collection does not check it, the caller must not add one twice.
type Collection struct {
	t       Type
	bw      *bufio.Writer
	n       uint64 // elements added
	nodes   uint64 // stream listpack nodes written to the spool
	size    int64  // bytes written to the spool
	entries []written
	first   StreamID
	last    StreamID
	lp      lpBuilder
	scratch []byte
	err     error
}

// NewCollection returns a Collection of type t (TypeList, TypeSet,
// TypeZSet, TypeHash, TypeStream, or TypeString for a string in pieces)
// encoding into spool.
func NewCollection(t Type, spool io.Writer) (*Collection, error) {
	switch t {
	case TypeString, TypeList, TypeSet, TypeZSet, TypeHash, TypeStream:
	default:
		return nil, fmt.Errorf("%w: a collection of type %v", ErrUnsupportedType, t)
	}
	c := &Collection{t: t}
	c.bw = bufio.NewWriterSize(spoolWriter{spool, &c.size}, 32<<10)
	return c, nil
}

// spoolWriter counts the bytes written to a spool.
type spoolWriter struct {
	w io.Writer
	n *int64
}

func (c spoolWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

// Type is the collection's type.
func (c *Collection) Type() Type { return c.t }

// Len is the number of elements (string pieces) added.
func (c *Collection) Len() uint64 { return c.n }

// Add encodes one element: a list item or set member (Member), a sorted
// set member (Member, Score), a hash field (Member, Value; ExpireAt must
// be NoExpiry: field expiries are not written element by element) or a
// stream entry (ID, Fields), stream entries in increasing ID order, or
// the next piece of a string (Member). The element is copied or encoded
// before Add returns.
func (c *Collection) Add(e *Element) error {
	if c.err != nil {
		return c.err
	}
	switch c.t {
	case TypeString:
		c.raw(e.Member)
	case TypeList, TypeSet:
		c.str(e.Member)
	case TypeZSet:
		if math.IsNaN(e.Score) {
			return fmt.Errorf("sorted set member %q: a NaN score", e.Member)
		}
		c.str(e.Member)
		c.scratch = binary.LittleEndian.AppendUint64(c.scratch[:0], math.Float64bits(e.Score))
		c.raw(c.scratch)
	case TypeHash:
		if e.ExpireAt != NoExpiry {
			return fmt.Errorf("hash field %q: field expiries cannot be written element by element", e.Member)
		}
		c.str(e.Member)
		c.str(e.Value)
	case TypeStream:
		if len(e.Fields)%2 != 0 {
			return fmt.Errorf("stream entry %v has an odd number of fields", e.ID)
		}
		if c.n > 0 && !idLess(c.last, e.ID) {
			return fmt.Errorf("stream entry %v after %v: %w", e.ID, c.last, errStreamOrder)
		}
		if c.n == 0 {
			c.first = e.ID
		}
		c.last = e.ID
		el := written{id: e.ID, fields: make([][]byte, len(e.Fields))}
		for i, f := range e.Fields {
			el.fields[i] = clone(f)
		}
		c.entries = append(c.entries, el)
		if len(c.entries) == streamNodeEntries {
			c.node()
		}
	}
	c.n++
	return c.err
}

func (c *Collection) raw(p []byte) {
	if c.err == nil {
		_, c.err = c.bw.Write(p)
	}
}

func (c *Collection) str(s []byte) {
	c.scratch = appendLength(c.scratch[:0], uint64(len(s)))
	c.raw(c.scratch)
	c.raw(s)
}

// node encodes the stream entries gathered as one listpack node.
func (c *Collection) node() {
	if len(c.entries) == 0 {
		return
	}
	key, lp, err := encodeStreamNode(&c.lp, c.entries)
	if err != nil && c.err == nil {
		c.err = err
	}
	c.str(key[:])
	c.str(lp)
	c.nodes++
	c.entries = c.entries[:0]
}

// Flush writes what is buffered (a stream's last node) to the spool.
// Call it before reading the spool back; Add may still follow.
func (c *Collection) Flush() error {
	if c.t == TypeStream {
		c.node()
	}
	if c.err == nil {
		c.err = c.bw.Flush()
	}
	return c.err
}

// Size is the number of bytes written to the spool so far.
func (c *Collection) Size() int64 { return c.size }

// StreamIDs are the first and last entry IDs added to a stream.
func (c *Collection) StreamIDs() (first, last StreamID) { return c.first, c.last }

// ErrSpoolSize means the spool given to WriteCollection did not hold the
// bytes the Collection wrote to it.
var ErrSpoolSize = errors.New("spool does not hold the collection")

// WriteCollection writes a key whose value c encoded: the database
// selection when it changes, the absolute expiry (Unix ms, or NoExpiry),
// the type and key, the element count, then exactly c.Size() bytes read
// from spool, which must give back what c wrote (c flushed). A stream is
// followed by its metadata, info: when nil, the entries' own (length,
// first and last IDs, entries added) and no consumer groups. A
// collection with no element writes nothing, as Redis keeps no empty
// collection (a stream is written even when empty; a string even when
// its pieces are empty).
func (w *Writer) WriteCollection(db int, key []byte, expireAt int64, c *Collection, spool io.Reader, info *StreamInfo) error {
	if w.err != nil {
		return w.err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("key %q: %w", key, err)
	}
	if db < 0 || db > MaxDB {
		return fmt.Errorf("key %q: database %d: no server holds it (0 to %d)", key, db, MaxDB)
	}
	if expireAt < 0 && expireAt != NoExpiry {
		return fmt.Errorf("key %q: expiry %d is not a time", key, expireAt)
	}
	if c.n == 0 && c.t != TypeStream && c.t != TypeString {
		if o, ok := spool.(*omitReader); ok {
			if err := o.finish(); err != nil {
				return fmt.Errorf("key %q: %w: %v", key, ErrSpoolSize, err)
			}
		}
		return nil
	}
	if key == nil {
		key = []byte{}
	}
	var t byte
	count := c.n
	switch c.t {
	case TypeString:
		t, count = typeString, uint64(c.size)
	case TypeList:
		t = typeList
	case TypeSet:
		t = typeSet
	case TypeZSet:
		t = typeZSet2
	case TypeHash:
		t = typeHash
	case TypeStream:
		t = typeStreamListpacks2
		if w.version >= 11 {
			t = typeStreamListpacks3
		}
		count = c.nodes
	}
	w.keyHeader(&KeyValue{DB: db, Key: key, ExpireAt: expireAt, Idle: -1, Freq: -1}, t)
	w.length(count)
	if w.err != nil {
		return w.err
	}
	if _, err := io.CopyN(rawWriter{w}, spool, c.size); err != nil {
		if w.err != nil {
			return w.err
		}
		// The file is now broken: nothing more may be written to it.
		w.err = fmt.Errorf("key %q: %w: %v", key, ErrSpoolSize, err)
		return w.err
	}
	if o, ok := spool.(*omitReader); ok {
		if err := o.finish(); err != nil {
			w.err = fmt.Errorf("key %q: %w: %v", key, ErrSpoolSize, err)
			return w.err
		}
	}
	if c.t == TypeStream {
		if info == nil {
			info = &StreamInfo{Length: c.n, EntriesAdded: c.n, FirstID: c.first, LastID: c.last}
		}
		w.streamMeta(info, t)
	}
	return w.err
}

// rawWriter writes to a Writer's file, keeping its checksum.
type rawWriter struct{ w *Writer }

func (r rawWriter) Write(p []byte) (int, error) {
	r.w.raw(p)
	if r.w.err != nil {
		return 0, r.w.err
	}
	return len(p), nil
}

// Offset is the number of bytes encoded so far, buffered or written to
// the spool: an element of a list, set, sorted set or hash (or a string
// piece) spans the spool from the Offset before its Add to the Offset
// after it. A stream's entries are encoded by nodes: Offset does not
// bound them.
func (c *Collection) Offset() int64 { return c.size + int64(c.bw.Buffered()) }

// Span is a byte range of a spool: one element, from the Offset before
// its Add to the Offset after it.
type Span struct {
	Off int64
	Len int64
}

// ElementMember returns the member that begins an element as a
// Collection encodes it (a list item, set member, sorted set member or
// hash field): elem is the element's bytes, a Span of the spool. The
// member shares elem's memory.
func ElementMember(elem []byte) ([]byte, error) {
	if len(elem) == 0 {
		return nil, fmt.Errorf("%w: an empty element", ErrCorrupt)
	}
	var n uint64
	var head int
	switch elem[0] >> 6 {
	case 0:
		n, head = uint64(elem[0]&0x3f), 1
	case 1:
		if len(elem) < 2 {
			return nil, fmt.Errorf("%w: an element's length is cut", ErrCorrupt)
		}
		n, head = uint64(elem[0]&0x3f)<<8|uint64(elem[1]), 2
	default:
		switch {
		case elem[0] == 0x80 && len(elem) >= 5:
			n, head = uint64(binary.BigEndian.Uint32(elem[1:5])), 5
		case elem[0] == 0x81 && len(elem) >= 9:
			n, head = binary.BigEndian.Uint64(elem[1:9]), 9
		default:
			return nil, fmt.Errorf("%w: an element's length is cut or not a length (0x%02x)", ErrCorrupt, elem[0])
		}
	}
	if n > uint64(len(elem)-head) {
		return nil, fmt.Errorf("%w: an element's member of %d bytes is cut at %d", ErrCorrupt, n, len(elem)-head)
	}
	return elem[head : head+int(n)], nil
}

// Omit takes the elements the spans cover out of c, after Flush and
// before WriteCollection: it returns a reader giving spool's bytes (all
// c wrote, from its start) less the spans, and lowers c's element count
// and size by them, so that WriteCollection given that reader writes the
// collection without those elements. The spans must be whole elements
// of a list, set, sorted set or hash, in increasing offset order and not
// overlapping. A caller drops repeated members of a set this way once
// it knows them, after they were spooled.
func (c *Collection) Omit(spool io.Reader, spans []Span) (io.Reader, error) {
	var end, total int64
	for _, s := range spans {
		if s.Off < end || s.Len <= 0 || s.Off+s.Len > c.size+int64(c.bw.Buffered()) {
			return nil, fmt.Errorf("span %d+%d: not in increasing order or not in the spool of %d bytes", s.Off, s.Len, c.Offset())
		}
		end = s.Off + s.Len
		total += s.Len
	}
	return c.OmitSpans(spool, &sliceSpans{spans}, uint64(len(spans)), total)
}

// SpanReader gives spans one by one, then io.EOF.
type SpanReader interface {
	Next() (Span, error)
}

type sliceSpans struct{ s []Span }

func (s *sliceSpans) Next() (Span, error) {
	if len(s.s) == 0 {
		return Span{}, io.EOF
	}
	x := s.s[0]
	s.s = s.s[1:]
	return x, nil
}

// OmitSpans is Omit with spans too many to hold: read one by one as the
// returned reader is, count of them covering size bytes in all. A span
// out of order or out of the spool, or spans not as many or as big as
// told, fail the reader (and so WriteCollection, ErrSpoolSize).
func (c *Collection) OmitSpans(spool io.Reader, spans SpanReader, count uint64, size int64) (io.Reader, error) {
	switch c.t {
	case TypeList, TypeSet, TypeZSet, TypeHash:
	default:
		return nil, fmt.Errorf("%w: elements cannot be omitted from a collection of type %v", ErrUnsupportedType, c.t)
	}
	if err := c.Flush(); err != nil {
		return nil, err
	}
	if count > c.n || size < 0 || size > c.size || (count == 0) != (size == 0) {
		return nil, fmt.Errorf("%d spans of %d bytes omitted from %d elements of %d bytes", count, size, c.n, c.size)
	}
	r := &omitReader{r: spool, spans: spans, size: c.size, count: count, bytes: size}
	if err := r.advance(); err != nil {
		return nil, err
	}
	c.n -= count
	c.size -= size
	return r, nil
}

// omitReader reads a spool skipping spans.
type omitReader struct {
	r     io.Reader
	spans SpanReader
	next  Span // the next span to skip; Len 0 when none is left
	pos   int64
	size  int64  // of the spool
	count uint64 // spans left to skip
	bytes int64  // bytes they cover
	err   error
}

// advance reads the next span and checks it.
func (o *omitReader) advance() error {
	s, err := o.spans.Next()
	if errors.Is(err, io.EOF) {
		if o.count != 0 || o.bytes != 0 {
			return fmt.Errorf("spans end %d short of the %d bytes to omit", o.count, o.bytes)
		}
		o.next = Span{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("spans to omit: %w", err)
	}
	if s.Off < o.pos || s.Off < o.next.Off+o.next.Len || s.Len <= 0 || s.Off+s.Len > o.size || o.count == 0 || s.Len > o.bytes {
		return fmt.Errorf("span %d+%d: not in increasing order, not in the spool of %d bytes, or more than told", s.Off, s.Len, o.size)
	}
	o.count--
	o.bytes -= s.Len
	o.next = s
	return nil
}

func (o *omitReader) Read(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	for o.next.Len > 0 && o.pos >= o.next.Off {
		// At a span: skip it.
		s := o.next
		if _, err := io.CopyN(io.Discard, o.r, s.Off+s.Len-o.pos); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			o.err = err
			return 0, err
		}
		o.pos = s.Off + s.Len
		if o.err = o.advance(); o.err != nil {
			return 0, o.err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	limit := o.size
	if o.next.Len > 0 {
		limit = o.next.Off
	}
	if o.pos >= limit {
		return 0, io.EOF
	}
	if int64(len(p)) > limit-o.pos {
		p = p[:limit-o.pos]
	}
	n, err := o.r.Read(p)
	o.pos += int64(n)
	if err == io.EOF && (o.pos < limit) {
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF && o.next.Len > 0 {
		err = nil
	}
	return n, err
}

// finish reads what is left, which must be spans only, to the end of
// the spool: the spans told were all there.
func (o *omitReader) finish() error {
	n, err := io.Copy(io.Discard, o)
	if err != nil {
		return err
	}
	if n != 0 || o.pos != o.size || o.count != 0 || o.bytes != 0 {
		return fmt.Errorf("%d bytes past the collection, %d spans of %d bytes not met", n, o.count, o.bytes)
	}
	return nil
}
