package rdb

import (
	"encoding/binary"
	"io"
)

// KeyValue is one key with a way to walk its value, whatever it was read
// from: a dump (Reader.KeyValue) or a JSON document. Converters take
// KeyValues, so every input reaches every output the same way.
type KeyValue struct {
	DB       int
	Key      []byte
	Type     Type
	ExpireAt int64 // absolute Unix ms, or NoExpiry
	Idle     int64 // LRU idle seconds, or -1
	Freq     int   // LFU counter, or -1

	// Elements walks the value once, as Reader.Elements does: list items,
	// set members, zset members with scores, hash fields with values and
	// field expiries, stream entries, or the string itself. Module values
	// have no elements: use Dump.
	Elements func(fn func(*Element) error) error
	// Stream returns a stream's metadata once Elements has walked it.
	Stream func() *StreamInfo
	// Array returns an array's metadata once Elements has walked it. It
	// may be nil, as may what it returns: then the array has no insert
	// index.
	Array func() *ArrayInfo
	// Dump, when not nil, writes the value as a DUMP payload (type byte,
	// serialized value, RDB version, CRC64), as RESTORE takes it. It
	// replaces Elements: call one or the other.
	Dump func(w io.Writer) error
}

// KeyValue returns the current key as a KeyValue. It is owned by the
// Reader and, like its functions, valid until the next call to Next.
func (r *Reader) KeyValue() *KeyValue {
	if r.kv.Elements == nil {
		r.kv.Elements, r.kv.Stream, r.kv.Array, r.kv.Dump = r.Elements, r.Stream, r.Array, r.WriteDump
	}
	rec := &r.rec
	kv := &r.kv
	kv.DB, kv.Key, kv.Type, kv.ExpireAt, kv.Idle, kv.Freq = rec.DB, rec.Key, rec.Type, rec.ExpireAt, rec.Idle, rec.Freq
	return kv
}

// WriteDump writes the current key's value as a DUMP payload: the type
// byte, the value exactly as serialized in the file, the file's RDB
// version (2 bytes, little endian) and the CRC64 of all that (8 bytes,
// little endian). RESTORE accepts it on servers of the same or a newer
// RDB version.
func (r *Reader) WriteDump(w io.Writer) error {
	// Reused: one DUMP per key must not cost allocations.
	cw := &r.dumpCRC
	*cw = crcWriter{w: w}
	b := r.dumpScratch[:0]
	if _, err := cw.Write(append(b, r.rec.RDBType)); err != nil {
		return err
	}
	if _, err := r.WriteValue(cw); err != nil {
		return err
	}
	if _, err := cw.Write(append(b, byte(r.version), byte(r.version>>8))); err != nil {
		return err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint64(b, cw.crc))
	cw.w = nil
	return err
}

// crcWriter passes bytes on, keeping their Redis CRC64.
type crcWriter struct {
	w   io.Writer
	crc uint64
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crcUpdate(c.crc, p[:n])
	return n, err
}
