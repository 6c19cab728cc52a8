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
