package rdb

// JSON codec for keys.
//
// # Format
//
// A JSON dump is either JSON Lines (one object per line) or one JSON array
// of the same objects ("[", objects separated by ",\n", "]"). JSONReader
// accepts both, with any JSON whitespace between tokens. Field names
// follow github.com/hdt3213/rdb's `rdb -c json` where it has one for the
// thing (db, key, type, expiration, lru, lfu, value, values, members,
// entries, len, lastId, firstId, maxDeletedId, addedEntriesCount, groups,
// functionsLua), so its string, list, set and sorted set objects read as
// ours; what it lacks for a lossless copy has names of its own.
//
// Byte strings. Every key, member, value, field, group and consumer name,
// function code and AUX value is a "byte string": a JSON string when its
// bytes are valid UTF-8, otherwise an object {"base64": "<standard base64
// with padding>"}. Strings are escaped as JSON requires (", \, control
// characters) and nothing else; non-ASCII text is written as UTF-8. The
// reader takes unescaped bytes of a JSON string as they are (valid UTF-8
// or not) and turns \u escapes of lone surrogates into U+FFFD.
//
// Key objects, in the order the writer puts their fields (the reader
// takes them in any order and skips fields it does not know, such as
// hdt3213's "size", "encoding" and "version"):
//
//	"db"            database number
//	"key"           byte string
//	"type"          "string", "list", "set", "zset", "hash", "stream", "array" or "module"
//	"expire_at_ms"  absolute expiry in Unix milliseconds; absent: no expiry
//	"expiration"    the same instant as RFC 3339 UTC with milliseconds, for
//	                people and hdt3213 compatibility; the reader uses it only
//	                when expire_at_ms is absent
//	"lru"           LRU idle time in seconds (absent: none in the dump)
//	"lfu"           LFU frequency counter (absent: none in the dump)
//
// then the value, by type:
//
//	string  "value": byte string
//	list    "values": [byte string, ...] in list order
//	set     "members": [byte string, ...]
//	zset    "entries": [{"member": byte string, "score": S}, ...] where S is
//	        a JSON number for finite scores, written by
//	        strconv.FormatFloat(f, 'g', -1, 64) so it reads back bit-exact
//	        (including -0), and the strings "inf", "-inf" or "nan" otherwise
//	        (the reader also takes a score string holding a number; a
//	        NaN's payload bits are not kept)
//	hash    "fields": [{"field": byte string, "value": byte string,
//	        "expire_at_ms": N}, ...]; expire_at_ms is the field's absolute
//	        expiry in Unix ms, absent when the field has none. (hdt3213's
//	        "hash" is a JSON object: it cannot be written before all fields
//	        are known to be UTF-8, so it is not used.)
//	stream  "entries": [{"id": "ms-seq", "fields": [[field, value], ...]}, ...]
//	        live entries in ID order, fields as pairs of byte strings in
//	        entry order (duplicate field names are kept); then the metadata:
//	        "len" (entries in the stream), "lastId", "firstId",
//	        "maxDeletedId" (IDs as "ms-seq" strings), "addedEntriesCount",
//	        "groups": [{"name": byte string, "lastId": ID, "entriesRead": N
//	        (absent when unknown), "pending": [{"id": ID, "deliveryTime": ms,
//	        "deliveryCount": N, "consumer": byte string}, ...], "consumers":
//	        [{"name": byte string, "seenTime": ms, "activeTime": ms}, ...],
//	        "nacked": [ID, ...]}, ...]; "nacked" (Redis 8.8, present when not
//	        empty) lists the group's NACK zone in its order: pending entries
//	        released with XNACK, which have no consumer ("consumer": "").
//	        Streams of Redis 8.6 and later also have "idmp": {"duration": N,
//	        "maxEntries": N, "producers": [{"pid": byte string, "entries":
//	        [{"iid": byte string, "id": ID}, ...]}, ...], "iidsAdded": N,
//	        "iidsDuplicates": N}, their idempotent-producer state
//	array   (Redis 8.8) "elements": [{"index": N, "value": byte string,
//	        "kind": "int" | "float"}, ...] in ascending index order, N from 0
//	        to 2^64-2 as a JSON number; "kind" is absent for strings, and
//	        "int" or "float" for values Redis holds as numbers (their value
//	        is then the number as text: a decimal int64, or a float as
//	        strconv.FormatFloat(f, 'g', -1, 64) writes it, or inf, -inf,
//	        nan), so that the array is written back as it was; then
//	        "insertIndex": N, ARINSERT's cursor, absent when there is none
//	module  "module": the module type name (such as "ReJSON-RL"), for
//	        people; "dump": the value's DUMP payload in standard base64 (type
//	        byte, serialized value, RDB version, CRC64), as RESTORE takes it
//
// Other objects:
//
//	{"type": "functions", "functionsLua": byte string}  a function library
//	{"type": "aux", "key": byte string, "value": byte string}  an AUX field
//	{"type": "module-aux", "module": name, "version": N, "when": W,
//	 "payload": "<standard base64>"}  a module's auxiliary data
//	(MODULE_AUX): the module type name (9 characters) and encoding
//	version (0 to 1023) that make its 64-bit id, when it was saved (1
//	before the keys, 2 after them), and the module-serialized payload as
//	the RDB file holds it, through its EOF opcode. Lossless: written back
//	to RDB it is the same record; the reader checks that the payload is a
//	well-formed run of module opcodes.
//
// # Memory
//
// JSONWriter streams: each element is encoded as Elements delivers it and
// the output is flushed every 64 KiB, so a key of any size costs bounded
// memory beyond its largest element (stream metadata, which StreamInfo
// holds, excepted). JSONReader holds one key's decoded elements in memory
// at a time.

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// JSONOptions configures a JSONWriter. The zero value writes JSON Lines.
type JSONOptions struct {
	// Array writes one JSON array ("[", objects separated by ",\n", "]\n")
	// instead of JSON Lines. Default false: one object per line.
	Array bool
}

// JSONWriter writes keys, function libraries and AUX fields as JSON (see
// the format above). Errors are sticky: after one, every call returns it.
// Call Close to flush the output (and end the array).
type JSONWriter struct {
	w    io.Writer
	opts JSONOptions
	buf  []byte
	n    int // objects written
	err  error

	// State of the key being written.
	typ    Type
	elems  int
	elemFn func(*Element) error
	b64    jsonB64Writer
}

// jsonFlushSize is the buffered size past which the writer flushes.
const jsonFlushSize = 64 << 10

// NewJSONWriter returns a JSONWriter writing to w. It buffers itself.
func NewJSONWriter(w io.Writer, opts JSONOptions) *JSONWriter {
	jw := &JSONWriter{w: w, opts: opts, buf: make([]byte, 0, 2*jsonFlushSize)}
	jw.elemFn = jw.element
	jw.b64.w = jw
	return jw
}

func (w *JSONWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) > 0 {
		if _, err := w.w.Write(w.buf); err != nil {
			w.err = fmt.Errorf("write json: %w", err)
			return w.err
		}
		w.buf = w.buf[:0]
	}
	return nil
}

func (w *JSONWriter) maybeFlush() error {
	if len(w.buf) >= jsonFlushSize {
		return w.flush()
	}
	return nil
}

// begin starts an object: the array's opening bracket or separator.
func (w *JSONWriter) begin() {
	if w.opts.Array {
		if w.n == 0 {
			w.buf = append(w.buf, '[')
		} else {
			w.buf = append(w.buf, ",\n"...)
		}
	}
	w.n++
	w.buf = append(w.buf, '{')
}

// end closes an object.
func (w *JSONWriter) end() error {
	w.buf = append(w.buf, '}')
	if !w.opts.Array {
		w.buf = append(w.buf, '\n')
	}
	return w.maybeFlush()
}

// WriteKey writes one key, walking its elements (or its DUMP payload for
// module values) as it goes.
func (w *JSONWriter) WriteKey(kv *KeyValue) error {
	if w.err != nil {
		return w.err
	}
	if err := w.writeKey(kv); err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("write json of key %q: %w", kv.Key, err)
		}
		return w.err
	}
	return nil
}

func (w *JSONWriter) writeKey(kv *KeyValue) error {
	switch kv.Type {
	case TypeString, TypeList, TypeSet, TypeZSet, TypeHash, TypeStream, TypeArray:
		if kv.Elements == nil {
			return errors.New("no Elements function")
		}
	case TypeModule:
		if kv.Dump == nil {
			return errors.New("module value without a Dump function")
		}
	default:
		return fmt.Errorf("%w: %v", ErrUnsupportedType, kv.Type)
	}
	w.begin()
	w.buf = append(w.buf, `"db":`...)
	w.buf = strconv.AppendInt(w.buf, int64(kv.DB), 10)
	w.buf = append(w.buf, `,"key":`...)
	if err := w.bytes(kv.Key); err != nil {
		return err
	}
	w.buf = append(w.buf, `,"type":"`...)
	w.buf = append(w.buf, kv.Type.String()...)
	w.buf = append(w.buf, '"')
	if kv.ExpireAt != NoExpiry {
		w.buf = append(w.buf, `,"expire_at_ms":`...)
		w.buf = strconv.AppendInt(w.buf, kv.ExpireAt, 10)
		w.buf = append(w.buf, `,"expiration":"`...)
		w.buf = time.UnixMilli(kv.ExpireAt).UTC().AppendFormat(w.buf, "2006-01-02T15:04:05.000Z07:00")
		w.buf = append(w.buf, '"')
	}
	if kv.Idle != -1 {
		w.buf = append(w.buf, `,"lru":`...)
		w.buf = strconv.AppendInt(w.buf, kv.Idle, 10)
	}
	if kv.Freq != -1 {
		w.buf = append(w.buf, `,"lfu":`...)
		w.buf = strconv.AppendInt(w.buf, int64(kv.Freq), 10)
	}
	w.typ, w.elems = kv.Type, 0
	switch kv.Type {
	case TypeModule:
		return w.writeModule(kv)
	case TypeString:
		w.buf = append(w.buf, `,"value":`...)
	case TypeList:
		w.buf = append(w.buf, `,"values":[`...)
	case TypeSet:
		w.buf = append(w.buf, `,"members":[`...)
	case TypeZSet, TypeStream:
		w.buf = append(w.buf, `,"entries":[`...)
	case TypeHash:
		w.buf = append(w.buf, `,"fields":[`...)
	case TypeArray:
		w.buf = append(w.buf, `,"elements":[`...)
	}
	if err := kv.Elements(w.elemFn); err != nil {
		return err
	}
	if w.err != nil {
		return w.err
	}
	switch kv.Type {
	case TypeString:
		if w.elems != 1 {
			return fmt.Errorf("string value with %d elements", w.elems)
		}
	case TypeStream:
		w.buf = append(w.buf, ']')
		if kv.Stream != nil {
			if si := kv.Stream(); si != nil {
				if err := w.streamInfo(si); err != nil {
					return err
				}
			}
		}
	case TypeArray:
		w.buf = append(w.buf, ']')
		if kv.Array != nil {
			if ai := kv.Array(); ai != nil && ai.InsertIndex != NoInsertIndex {
				w.buf = append(w.buf, `,"insertIndex":`...)
				w.buf = strconv.AppendUint(w.buf, ai.InsertIndex, 10)
			}
		}
	default:
		w.buf = append(w.buf, ']')
	}
	return w.end()
}

// element writes one element of the current key.
func (w *JSONWriter) element(e *Element) error {
	if w.err != nil {
		return w.err
	}
	if w.elems > 0 {
		if w.typ == TypeString {
			return errors.New("string value with more than one element")
		}
		w.buf = append(w.buf, ',')
	}
	w.elems++
	var err error
	switch w.typ {
	case TypeString, TypeList, TypeSet:
		err = w.bytes(e.Member)
	case TypeZSet:
		w.buf = append(w.buf, `{"member":`...)
		if err = w.bytes(e.Member); err != nil {
			return err
		}
		w.buf = append(w.buf, `,"score":`...)
		w.buf = appendJSONScore(w.buf, e.Score)
		w.buf = append(w.buf, '}')
	case TypeHash:
		w.buf = append(w.buf, `{"field":`...)
		if err = w.bytes(e.Member); err != nil {
			return err
		}
		w.buf = append(w.buf, `,"value":`...)
		if err = w.bytes(e.Value); err != nil {
			return err
		}
		if e.ExpireAt != NoExpiry {
			w.buf = append(w.buf, `,"expire_at_ms":`...)
			w.buf = strconv.AppendInt(w.buf, e.ExpireAt, 10)
		}
		w.buf = append(w.buf, '}')
	case TypeStream:
		if len(e.Fields)%2 != 0 {
			return fmt.Errorf("stream entry %v has %d field strings, want pairs", e.ID, len(e.Fields))
		}
		w.buf = append(w.buf, `{"id":`...)
		w.buf = appendJSONStreamID(w.buf, e.ID)
		w.buf = append(w.buf, `,"fields":[`...)
		for i := 0; i < len(e.Fields); i += 2 {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = append(w.buf, '[')
			if err = w.bytes(e.Fields[i]); err != nil {
				return err
			}
			w.buf = append(w.buf, ',')
			if err = w.bytes(e.Fields[i+1]); err != nil {
				return err
			}
			w.buf = append(w.buf, ']')
		}
		w.buf = append(w.buf, "]}"...)
	case TypeArray:
		w.buf = append(w.buf, `{"index":`...)
		w.buf = strconv.AppendUint(w.buf, e.Index, 10)
		w.buf = append(w.buf, `,"value":`...)
		if err = w.bytes(e.Member); err != nil {
			return err
		}
		if e.Kind != ArrayString {
			w.buf = append(w.buf, `,"kind":"`...)
			w.buf = append(w.buf, e.Kind.String()...)
			w.buf = append(w.buf, '"')
		}
		w.buf = append(w.buf, '}')
	}
	if err != nil {
		return err
	}
	return w.maybeFlush()
}

func appendJSONScore(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, `"inf"`...)
	case math.IsInf(f, -1):
		return append(b, `"-inf"`...)
	case math.IsNaN(f):
		return append(b, `"nan"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

func appendJSONStreamID(b []byte, id StreamID) []byte {
	b = append(b, '"')
	b = strconv.AppendUint(b, id.Ms, 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, id.Seq, 10)
	return append(b, '"')
}

func (w *JSONWriter) streamInfo(si *StreamInfo) error {
	w.buf = append(w.buf, `,"len":`...)
	w.buf = strconv.AppendUint(w.buf, si.Length, 10)
	w.buf = append(w.buf, `,"lastId":`...)
	w.buf = appendJSONStreamID(w.buf, si.LastID)
	w.buf = append(w.buf, `,"firstId":`...)
	w.buf = appendJSONStreamID(w.buf, si.FirstID)
	w.buf = append(w.buf, `,"maxDeletedId":`...)
	w.buf = appendJSONStreamID(w.buf, si.MaxDeletedID)
	w.buf = append(w.buf, `,"addedEntriesCount":`...)
	w.buf = strconv.AppendUint(w.buf, si.EntriesAdded, 10)
	w.buf = append(w.buf, `,"groups":[`...)
	for i := range si.Groups {
		g := &si.Groups[i]
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = append(w.buf, `{"name":`...)
		if err := w.str(g.Name); err != nil {
			return err
		}
		w.buf = append(w.buf, `,"lastId":`...)
		w.buf = appendJSONStreamID(w.buf, g.LastID)
		if g.EntriesRead != -1 {
			w.buf = append(w.buf, `,"entriesRead":`...)
			w.buf = strconv.AppendInt(w.buf, g.EntriesRead, 10)
		}
		w.buf = append(w.buf, `,"pending":[`...)
		for j := range g.Pending {
			p := &g.Pending[j]
			if j > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = append(w.buf, `{"id":`...)
			w.buf = appendJSONStreamID(w.buf, p.ID)
			w.buf = append(w.buf, `,"deliveryTime":`...)
			w.buf = strconv.AppendInt(w.buf, p.DeliveryTime, 10)
			w.buf = append(w.buf, `,"deliveryCount":`...)
			w.buf = strconv.AppendUint(w.buf, p.DeliveryCount, 10)
			w.buf = append(w.buf, `,"consumer":`...)
			if err := w.str(p.Consumer); err != nil {
				return err
			}
			w.buf = append(w.buf, '}')
			if err := w.maybeFlush(); err != nil {
				return err
			}
		}
		w.buf = append(w.buf, `],"consumers":[`...)
		for j := range g.Consumers {
			c := &g.Consumers[j]
			if j > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = append(w.buf, `{"name":`...)
			if err := w.str(c.Name); err != nil {
				return err
			}
			w.buf = append(w.buf, `,"seenTime":`...)
			w.buf = strconv.AppendInt(w.buf, c.SeenTime, 10)
			w.buf = append(w.buf, `,"activeTime":`...)
			w.buf = strconv.AppendInt(w.buf, c.ActiveTime, 10)
			w.buf = append(w.buf, '}')
		}
		w.buf = append(w.buf, ']')
		if len(g.Nacked) > 0 {
			w.buf = append(w.buf, `,"nacked":[`...)
			for j, id := range g.Nacked {
				if j > 0 {
					w.buf = append(w.buf, ',')
				}
				w.buf = appendJSONStreamID(w.buf, id)
			}
			w.buf = append(w.buf, ']')
		}
		w.buf = append(w.buf, '}')
	}
	w.buf = append(w.buf, ']')
	if si.IDMP != nil {
		return w.streamIDMP(si.IDMP)
	}
	return nil
}

func (w *JSONWriter) streamIDMP(m *StreamIDMP) error {
	w.buf = append(w.buf, `,"idmp":{"duration":`...)
	w.buf = strconv.AppendUint(w.buf, m.Duration, 10)
	w.buf = append(w.buf, `,"maxEntries":`...)
	w.buf = strconv.AppendUint(w.buf, m.MaxEntries, 10)
	w.buf = append(w.buf, `,"producers":[`...)
	for i := range m.Producers {
		p := &m.Producers[i]
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = append(w.buf, `{"pid":`...)
		if err := w.str(p.PID); err != nil {
			return err
		}
		w.buf = append(w.buf, `,"entries":[`...)
		for j := range p.Entries {
			if j > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = append(w.buf, `{"iid":`...)
			if err := w.str(p.Entries[j].IID); err != nil {
				return err
			}
			w.buf = append(w.buf, `,"id":`...)
			w.buf = appendJSONStreamID(w.buf, p.Entries[j].ID)
			w.buf = append(w.buf, '}')
			if err := w.maybeFlush(); err != nil {
				return err
			}
		}
		w.buf = append(w.buf, "]}"...)
	}
	w.buf = append(w.buf, `],"iidsAdded":`...)
	w.buf = strconv.AppendUint(w.buf, m.IIDsAdded, 10)
	w.buf = append(w.buf, `,"iidsDuplicates":`...)
	w.buf = strconv.AppendUint(w.buf, m.IIDsDuplicates, 10)
	w.buf = append(w.buf, '}')
	return nil
}

// writeModule streams the DUMP payload as base64, then names the module
// from the payload's first bytes.
func (w *JSONWriter) writeModule(kv *KeyValue) error {
	w.buf = append(w.buf, `,"dump":"`...)
	w.b64.reset()
	if err := kv.Dump(&w.b64); err != nil {
		return err
	}
	if err := w.b64.finish(); err != nil {
		return err
	}
	w.buf = append(w.buf, '"')
	if name, ok := moduleNameFromDump(w.b64.head[:w.b64.nhead]); ok {
		w.buf = append(w.buf, `,"module":`...)
		w.buf = appendJSONString(w.buf, []byte(name))
	}
	return w.end()
}

// moduleNameFromDump decodes the module id at the start of a DUMP payload
// of RDB_TYPE_MODULE_2: the type byte, then the id as an RDB length.
func moduleNameFromDump(p []byte) (string, bool) {
	if len(p) < 2 || p[0] != typeModule2 {
		return "", false
	}
	var id uint64
	switch b := p[1]; {
	case b>>6 == 0:
		id = uint64(b & 63)
	case b>>6 == 1:
		if len(p) < 3 {
			return "", false
		}
		id = uint64(b&63)<<8 | uint64(p[2])
	case b == 0x80:
		if len(p) < 6 {
			return "", false
		}
		id = uint64(p[2])<<24 | uint64(p[3])<<16 | uint64(p[4])<<8 | uint64(p[5])
	case b == 0x81:
		if len(p) < 10 {
			return "", false
		}
		for _, c := range p[2:10] {
			id = id<<8 | uint64(c)
		}
	default:
		return "", false
	}
	return ModuleID(id).Name(), true
}

// WriteFunction writes a function library's code.
func (w *JSONWriter) WriteFunction(code []byte) error {
	if w.err != nil {
		return w.err
	}
	w.begin()
	w.buf = append(w.buf, `"type":"functions","functionsLua":`...)
	if err := w.bytes(code); err != nil {
		return err
	}
	return w.end()
}

// WriteAux writes an AUX field (redis-ver, ctime, ...).
func (w *JSONWriter) WriteAux(name, value []byte) error {
	if w.err != nil {
		return w.err
	}
	w.begin()
	w.buf = append(w.buf, `"type":"aux","key":`...)
	if err := w.bytes(name); err != nil {
		return err
	}
	w.buf = append(w.buf, `,"value":`...)
	if err := w.bytes(value); err != nil {
		return err
	}
	return w.end()
}

// WriteModuleAux writes a module's auxiliary data as a KindModuleAux
// record holds it.
func (w *JSONWriter) WriteModuleAux(id ModuleID, when uint64, data []byte) error {
	if w.err != nil {
		return w.err
	}
	w.begin()
	w.buf = append(w.buf, `"type":"module-aux","module":`...)
	if err := w.str(id.Name()); err != nil {
		return err
	}
	w.buf = append(w.buf, `,"version":`...)
	w.buf = strconv.AppendInt(w.buf, int64(id.Version()), 10)
	w.buf = append(w.buf, `,"when":`...)
	w.buf = strconv.AppendUint(w.buf, when, 10)
	w.buf = append(w.buf, `,"payload":"`...)
	w.buf = base64.StdEncoding.AppendEncode(w.buf, data)
	w.buf = append(w.buf, '"')
	return w.end()
}

// Close ends the array (in Array mode, writing "[]" when nothing was
// written) and flushes. It does not close the underlying writer.
func (w *JSONWriter) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.opts.Array {
		if w.n == 0 {
			w.buf = append(w.buf, "[]\n"...)
		} else {
			w.buf = append(w.buf, "\n]\n"...)
		}
	}
	err := w.flush()
	if err == nil {
		w.err = errors.New("json writer closed")
	}
	return err
}

func (w *JSONWriter) str(s string) error { return w.bytes([]byte(s)) }

// jsonBigString is the length past which a byte string is encoded in
// chunks, flushing between them, instead of in one append.
const jsonBigString = 48 << 10 // a multiple of 3 for base64

// bytes writes a byte string: a JSON string when s is valid UTF-8,
// {"base64": ...} otherwise.
func (w *JSONWriter) bytes(s []byte) error {
	i := jsonPlainPrefix(s)
	if i == len(s) && len(s) <= jsonBigString {
		w.buf = append(w.buf, '"')
		w.buf = append(w.buf, s...)
		w.buf = append(w.buf, '"')
		return nil
	}
	valid := utf8.Valid(s[i:])
	if len(s) <= jsonBigString {
		if valid {
			w.buf = append(w.buf, '"')
			w.buf = append(w.buf, s[:i]...)
			w.buf = appendJSONEscaped(w.buf, s[i:])
			w.buf = append(w.buf, '"')
		} else {
			w.buf = append(w.buf, `{"base64":"`...)
			w.buf = base64.StdEncoding.AppendEncode(w.buf, s)
			w.buf = append(w.buf, `"}`...)
		}
		return nil
	}
	// A big string: encode chunk by chunk, flushing as the buffer fills.
	if valid {
		w.buf = append(w.buf, '"')
	} else {
		w.buf = append(w.buf, `{"base64":"`...)
	}
	for len(s) > 0 {
		c := s[:min(len(s), jsonBigString)]
		s = s[len(c):]
		if valid {
			w.buf = appendJSONEscaped(w.buf, c)
		} else {
			w.buf = base64.StdEncoding.AppendEncode(w.buf, c)
		}
		if err := w.maybeFlush(); err != nil {
			return err
		}
	}
	if valid {
		w.buf = append(w.buf, '"')
	} else {
		w.buf = append(w.buf, `"}`...)
	}
	return nil
}

// jsonPlainPrefix returns the length of the longest prefix of s made of
// bytes that need no escaping (see jsonPlain), eight bytes at a time.
func jsonPlainPrefix(s []byte) int {
	const ones = 0x0101010101010101
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		// A byte's high bit is set in the mask when the byte is below 0x20,
		// is '"' or '\\', or is not ASCII; bytes after such a byte may be
		// flagged too, which only sends them to the byte loop below.
		ctl := x - 0x20*ones
		quote := (x ^ '"'*ones) - ones
		bslash := (x ^ '\\'*ones) - ones
		if (ctl|quote|bslash|x)&(0x80*ones) != 0 {
			break
		}
	}
	for i < len(s) && jsonPlain[s[i]] {
		i++
	}
	return i
}

// jsonPlain marks the bytes copied into a JSON string as they are on the
// fast path: printable ASCII other than '"' and '\\'.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string; s must be valid UTF-8.
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	b = appendJSONEscaped(b, s)
	return append(b, '"')
}

// appendJSONEscaped appends the bytes of s, which is valid UTF-8, escaping
// '"', '\\' and control characters.
func appendJSONEscaped(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		}
		start = i + 1
	}
	return append(b, s[start:]...)
}

// jsonB64Writer base64-encodes what is written to it into the JSONWriter's
// buffer, keeping the first bytes (the module id of a DUMP payload).
type jsonB64Writer struct {
	w      *JSONWriter
	head   [10]byte
	nhead  int
	carry  [3]byte
	ncarry int
}

func (b *jsonB64Writer) reset() { b.nhead, b.ncarry = 0, 0 }

func (b *jsonB64Writer) Write(p []byte) (int, error) {
	n := len(p)
	if b.nhead < len(b.head) {
		b.nhead += copy(b.head[b.nhead:], p)
	}
	for b.ncarry > 0 && len(p) > 0 {
		b.carry[b.ncarry] = p[0]
		b.ncarry++
		p = p[1:]
		if b.ncarry == 3 {
			b.w.buf = base64.StdEncoding.AppendEncode(b.w.buf, b.carry[:])
			b.ncarry = 0
		}
	}
	for len(p) >= 3 {
		c := p[:min(len(p)/3*3, jsonBigString)]
		p = p[len(c):]
		b.w.buf = base64.StdEncoding.AppendEncode(b.w.buf, c)
		if err := b.w.maybeFlush(); err != nil {
			return 0, err
		}
	}
	b.ncarry = copy(b.carry[:], p)
	return n, nil
}

func (b *jsonB64Writer) finish() error {
	if b.ncarry > 0 {
		b.w.buf = base64.StdEncoding.AppendEncode(b.w.buf, b.carry[:b.ncarry])
		b.ncarry = 0
	}
	return b.w.maybeFlush()
}

// ErrJSON is wrapped by the errors of JSONReader for input that is not a
// JSON dump as described above.
var ErrJSON = errors.New("invalid JSON dump")

// JSONError reports where in a JSON dump reading failed. Err wraps
// ErrJSON, io.ErrUnexpectedEOF for truncated input, ErrChecksum for a
// module payload whose CRC64 does not match, or the underlying reader's
// error.
type JSONError struct {
	Line   int    // 1-based line of the byte where the problem was found
	Offset int64  // its byte offset in the input
	Key    []byte // key of the object being read, if already read
	Err    error
}

func (e *JSONError) Error() string {
	if e.Key != nil {
		return fmt.Sprintf("json line %d (offset %d): key %q: %v", e.Line, e.Offset, e.Key, e.Err)
	}
	return fmt.Sprintf("json line %d (offset %d): %v", e.Line, e.Offset, e.Err)
}

func (e *JSONError) Unwrap() error { return e.Err }

// JSONRecord is one object of a JSON dump.
type JSONRecord struct {
	Kind   Kind      // KindKey, KindFunction, KindAux or KindModuleAux
	Key    *KeyValue // KindKey
	Name   []byte    // KindAux: the field's name
	Data   []byte    // KindFunction: the library's code; KindAux: the value; KindModuleAux: the payload
	Module ModuleID  // KindModuleAux
	When   uint64    // KindModuleAux
}

// JSONReader reads a JSON dump (JSON Lines or one array) written by
// JSONWriter, object by object. It holds one object, with all its
// elements, in memory at a time; what it returns is valid until the next
// call to Next or NextRecord. Errors are sticky *JSONError values.
type JSONReader struct {
	r         io.Reader
	buf       []byte
	pos, end  int
	base      int64 // input offset of buf[0]
	line      int   // newlines consumed
	eof       bool
	rerr      error // read error other than io.EOF
	state     int
	err       error
	depth     int
	name, tmp []byte

	// The object being read.
	arena     []byte // its byte strings
	elems     []jsonElem
	spans     []jsonSpan // stream entry fields
	key       jsonSpan
	hasKey    bool
	typ       []byte
	data      string // the value's field: "value", "values", "entries", ...
	value     jsonSpan
	shape     int // entries: 0 none yet, shapeZSet or shapeStream
	stream    StreamInfo
	hasStream bool
	arr       ArrayInfo
	hasArray  bool // "insertIndex" given
	dump      []byte
	expSet    bool
	expStr    []byte
	module    []byte // "module" of a module-aux object
	modVer    int64  // "version", -1 when absent
	when      int64  // "when", -1 when absent
	payload   []byte // "payload", base64 (decoded into dump)
	hasPay    bool

	kv     KeyValue
	rec    JSONRecord
	el     Element
	fields [][]byte
}

type jsonSpan struct{ s, e int }

type jsonElem struct {
	member, value jsonSpan
	score         float64
	expireAt      int64
	id            StreamID
	f0, f1        int // stream fields: spans[f0:f1]
	index         uint64
	kind          ArrayKind
}

const (
	jsonStart = iota
	jsonLines
	jsonArrayFirst
	jsonArray
	jsonDone
)

const (
	shapeZSet = iota + 1
	shapeStream
)

// jsonMaxDepth bounds the nesting of unknown values the reader skips.
const jsonMaxDepth = 64

// NewJSONReader returns a JSONReader reading from r. It buffers r itself.
func NewJSONReader(r io.Reader) *JSONReader {
	jr := &JSONReader{r: r, buf: make([]byte, 64<<10)}
	jr.kv.Elements = jr.walk
	jr.kv.Stream = jr.streamInfo
	jr.kv.Array = jr.arrayInfo
	return jr
}

// Next returns the next key, skipping function libraries and AUX fields
// (NextRecord returns those too), or io.EOF at the end of the input.
func (r *JSONReader) Next() (*KeyValue, error) {
	for {
		rec, err := r.NextRecord()
		if err != nil {
			return nil, err
		}
		if rec.Kind == KindKey {
			return rec.Key, nil
		}
	}
}

// NextRecord returns the next object: a key, a function library or an
// AUX field, or io.EOF at the end of the input. A key's KeyValue walks
// the decoded elements (any number of times), its Stream returns the
// decoded stream metadata (nil for other types, or when the object has
// none) and its Dump, set for module values only, writes the decoded DUMP
// payload.
func (r *JSONReader) NextRecord() (*JSONRecord, error) {
	if r.err != nil {
		return nil, r.err
	}
	err := r.next()
	if err != nil {
		if err != io.EOF {
			err = r.fail(err)
		}
		r.err = err
		return nil, err
	}
	return &r.rec, nil
}

func (r *JSONReader) fail(err error) error {
	var key []byte
	if r.hasKey && r.key.e <= len(r.arena) {
		key = append([]byte{}, r.arena[r.key.s:r.key.e]...)
	}
	return &JSONError{Line: r.line + 1, Offset: r.base + int64(r.pos), Key: key, Err: err}
}

func jsonSyntax(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrJSON}, args...)...)
}

func (r *JSONReader) next() error {
	r.hasKey = false
	switch r.state {
	case jsonStart:
		if !r.skipWS() {
			r.state = jsonDone
			return r.endErr(io.EOF)
		}
		if r.buf[r.pos] == '[' {
			r.pos++
			r.state = jsonArrayFirst
		} else {
			r.state = jsonLines
		}
		return r.next()
	case jsonLines:
		if !r.skipWS() {
			r.state = jsonDone
			return r.endErr(io.EOF)
		}
	case jsonArrayFirst, jsonArray:
		if !r.skipWS() {
			return r.endErr(io.ErrUnexpectedEOF)
		}
		c := r.buf[r.pos]
		if c == ']' {
			r.pos++
			r.state = jsonDone
			if r.skipWS() {
				return jsonSyntax("data after the array: %q", r.buf[r.pos])
			}
			return r.endErr(io.EOF)
		}
		if r.state == jsonArray {
			if c != ',' {
				return jsonSyntax("expected ',' or ']' between objects, found %q", c)
			}
			r.pos++
		}
		r.state = jsonArray
	case jsonDone:
		return io.EOF
	}
	return r.readObject()
}

// endErr returns the read error, if reading stopped on one, or err.
func (r *JSONReader) endErr(err error) error {
	if r.rerr != nil {
		return r.rerr
	}
	return err
}

func (r *JSONReader) fill() bool {
	if r.eof || r.rerr != nil {
		return false
	}
	if r.pos > 0 {
		r.base += int64(r.pos)
		r.end = copy(r.buf, r.buf[r.pos:r.end])
		r.pos = 0
	}
	if r.end == len(r.buf) {
		r.buf = append(r.buf, make([]byte, len(r.buf))...)
	}
	for {
		n, err := r.r.Read(r.buf[r.end:])
		r.end += n
		if err == io.EOF {
			r.eof = true
			return n > 0
		}
		if err != nil {
			r.rerr = fmt.Errorf("read json: %w", err)
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
}

// ensure buffers at least n bytes, reporting false at the input's end.
func (r *JSONReader) ensure(n int) bool {
	for r.end-r.pos < n {
		if !r.fill() {
			return false
		}
	}
	return true
}

// skipWS skips whitespace, reporting false at the input's end.
func (r *JSONReader) skipWS() bool {
	for {
		for r.pos < r.end {
			switch r.buf[r.pos] {
			case '\n':
				r.line++
				r.pos++
			case ' ', '\t', '\r':
				r.pos++
			default:
				return true
			}
		}
		if !r.fill() {
			return false
		}
	}
}

// peek skips whitespace and returns the next byte.
func (r *JSONReader) peek() (byte, error) {
	if !r.skipWS() {
		return 0, r.endErr(io.ErrUnexpectedEOF)
	}
	return r.buf[r.pos], nil
}

func (r *JSONReader) expect(c byte) error {
	got, err := r.peek()
	if err != nil {
		return err
	}
	if got != c {
		return jsonSyntax("expected %q, found %q", c, got)
	}
	r.pos++
	return nil
}

// object reads an object, calling fn for each member with the reader
// positioned at its value; fn must consume the value.
func (r *JSONReader) object(fn func(name []byte) error) error {
	if err := r.expect('{'); err != nil {
		return err
	}
	c, err := r.peek()
	if err != nil {
		return err
	}
	if c == '}' {
		r.pos++
		return nil
	}
	for {
		if c, err = r.peek(); err != nil {
			return err
		}
		if c != '"' {
			return jsonSyntax("expected a member name, found %q", c)
		}
		r.name, err = r.readString(r.name[:0])
		if err != nil {
			return err
		}
		if err := r.expect(':'); err != nil {
			return err
		}
		if err := fn(r.name); err != nil {
			return err
		}
		if c, err = r.peek(); err != nil {
			return err
		}
		r.pos++
		switch c {
		case ',':
		case '}':
			return nil
		default:
			return jsonSyntax("expected ',' or '}', found %q", c)
		}
	}
}

// array reads an array, calling fn for each element.
func (r *JSONReader) array(fn func() error) error {
	if err := r.expect('['); err != nil {
		return err
	}
	c, err := r.peek()
	if err != nil {
		return err
	}
	if c == ']' {
		r.pos++
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		if c, err = r.peek(); err != nil {
			return err
		}
		r.pos++
		switch c {
		case ',':
		case ']':
			return nil
		default:
			return jsonSyntax("expected ',' or ']', found %q", c)
		}
	}
}

// readString reads a JSON string, appending its bytes to dst. Bytes that
// are not escaped are taken as they are, valid UTF-8 or not.
func (r *JSONReader) readString(dst []byte) ([]byte, error) {
	if err := r.expect('"'); err != nil {
		return dst, err
	}
	for {
		i := r.pos
		for i < r.end {
			c := r.buf[i]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			i++
		}
		dst = append(dst, r.buf[r.pos:i]...)
		r.pos = i
		if i == r.end {
			if !r.fill() {
				return dst, r.endErr(io.ErrUnexpectedEOF)
			}
			continue
		}
		c := r.buf[r.pos]
		if c == '"' {
			r.pos++
			return dst, nil
		}
		if c < 0x20 {
			return dst, jsonSyntax("control character %#x in a string", c)
		}
		if !r.ensure(2) {
			return dst, r.endErr(io.ErrUnexpectedEOF)
		}
		e := r.buf[r.pos+1]
		r.pos += 2
		switch e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			if !r.ensure(4) {
				return dst, r.endErr(io.ErrUnexpectedEOF)
			}
			rn, ok := jsonHex4(r.buf[r.pos:])
			if !ok {
				return dst, jsonSyntax("bad \\u escape")
			}
			r.pos += 4
			if rn >= 0xd800 && rn < 0xdc00 && r.ensure(6) && r.buf[r.pos] == '\\' && r.buf[r.pos+1] == 'u' {
				if lo, ok := jsonHex4(r.buf[r.pos+2:]); ok && lo >= 0xdc00 && lo < 0xe000 {
					rn = 0x10000 + (rn-0xd800)<<10 + (lo - 0xdc00)
					r.pos += 6
				}
			}
			dst = utf8.AppendRune(dst, rn) // lone surrogates become U+FFFD
		default:
			return dst, jsonSyntax("bad escape \\%c", e)
		}
	}
}

func jsonHex4(b []byte) (rune, bool) {
	var v rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | rune(c)
	}
	return v, true
}

// readBytes reads a byte string into the arena.
func (r *JSONReader) readBytes() (jsonSpan, error) {
	c, err := r.peek()
	if err != nil {
		return jsonSpan{}, err
	}
	s := len(r.arena)
	switch c {
	case '"':
		r.arena, err = r.readString(r.arena)
		return jsonSpan{s, len(r.arena)}, err
	case '{':
		seen := false
		err := r.object(func(name []byte) error {
			if string(name) != "base64" || seen {
				return jsonSyntax("a byte string object has the one member \"base64\", found %q", name)
			}
			seen = true
			var err error
			if r.tmp, err = r.readString(r.tmp[:0]); err != nil {
				return err
			}
			if r.arena, err = base64.StdEncoding.AppendDecode(r.arena, r.tmp); err != nil {
				return jsonSyntax("base64: %v", err)
			}
			return nil
		})
		if err == nil && !seen {
			err = jsonSyntax("empty byte string object")
		}
		return jsonSpan{s, len(r.arena)}, err
	}
	return jsonSpan{}, jsonSyntax("expected a string or {\"base64\": ...}, found %q", c)
}

// readBytesString reads a byte string into a new Go string.
func (r *JSONReader) readBytesString() (string, error) {
	sp, err := r.readBytes()
	if err != nil {
		return "", err
	}
	s := string(r.arena[sp.s:sp.e])
	r.arena = r.arena[:sp.s]
	return s, nil
}

// number reads a number's text into r.tmp.
func (r *JSONReader) number() ([]byte, error) {
	if _, err := r.peek(); err != nil {
		return nil, err
	}
	r.tmp = r.tmp[:0]
	for {
		for r.pos < r.end {
			c := r.buf[r.pos]
			if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
				if len(r.tmp) == 0 {
					return nil, jsonSyntax("expected a number, found %q", c)
				}
				return r.tmp, nil
			}
			if len(r.tmp) > 64 {
				return nil, jsonSyntax("number too long")
			}
			r.tmp = append(r.tmp, c)
			r.pos++
		}
		if !r.fill() {
			if len(r.tmp) == 0 {
				return nil, r.endErr(io.ErrUnexpectedEOF)
			}
			return r.tmp, nil
		}
	}
}

func (r *JSONReader) readInt() (int64, error) {
	b, err := r.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, jsonSyntax("integer %q: %v", b, errors.Unwrap(err))
	}
	return v, nil
}

func (r *JSONReader) readUint() (uint64, error) {
	b, err := r.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, jsonSyntax("unsigned integer %q: %v", b, errors.Unwrap(err))
	}
	return v, nil
}

// readScore reads a number or a string holding one ("inf", "-inf", "nan").
func (r *JSONReader) readScore() (float64, error) {
	c, err := r.peek()
	if err != nil {
		return 0, err
	}
	var b []byte
	if c == '"' {
		if r.tmp, err = r.readString(r.tmp[:0]); err != nil {
			return 0, err
		}
		b = r.tmp
	} else if b, err = r.number(); err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, jsonSyntax("score %q: %v", b, errors.Unwrap(err))
	}
	return f, nil
}

func (r *JSONReader) readStreamID() (StreamID, error) {
	var err error
	if r.tmp, err = r.readString(r.tmp[:0]); err != nil {
		return StreamID{}, err
	}
	s := string(r.tmp)
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			ms, err1 := strconv.ParseUint(s[:i], 10, 64)
			seq, err2 := strconv.ParseUint(s[i+1:], 10, 64)
			if err1 == nil && err2 == nil {
				return StreamID{ms, seq}, nil
			}
			break
		}
	}
	return StreamID{}, jsonSyntax("stream ID %q, want ms-seq", s)
}

// skipValue skips any JSON value.
func (r *JSONReader) skipValue() error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	switch c {
	case '"':
		r.tmp, err = r.readString(r.tmp[:0])
		return err
	case '{', '[':
		if r.depth++; r.depth > jsonMaxDepth {
			return jsonSyntax("values nested deeper than %d", jsonMaxDepth)
		}
		if c == '{' {
			err = r.object(func([]byte) error { return r.skipValue() })
		} else {
			err = r.array(r.skipValue)
		}
		r.depth--
		return err
	case 't', 'f', 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if lit[0] == c {
				if !r.ensure(len(lit)) {
					return r.endErr(io.ErrUnexpectedEOF)
				}
				if string(r.buf[r.pos:r.pos+len(lit)]) != lit {
					return jsonSyntax("bad literal")
				}
				r.pos += len(lit)
				return nil
			}
		}
	}
	_, err = r.number()
	return err
}

// setData records which member holds the value.
func (r *JSONReader) setData(name string) error {
	if r.data != "" {
		return jsonSyntax("both %q and %q hold a value", r.data, name)
	}
	r.data = name
	return nil
}

// readObject reads one object of the dump into rec.
func (r *JSONReader) readObject() error {
	r.arena, r.elems, r.spans = r.arena[:0], r.elems[:0], r.spans[:0]
	r.typ, r.data, r.shape = r.typ[:0], "", 0
	r.hasStream, r.expSet, r.expStr = false, false, r.expStr[:0]
	r.stream = StreamInfo{Groups: r.stream.Groups[:0]}
	r.arr, r.hasArray = ArrayInfo{InsertIndex: NoInsertIndex}, false
	r.dump = r.dump[:0]
	r.module, r.modVer, r.when, r.payload, r.hasPay = r.module[:0], -1, -1, r.payload[:0], false
	kv := &r.kv
	kv.DB, kv.Key, kv.Type, kv.ExpireAt, kv.Idle, kv.Freq, kv.Dump = 0, nil, 0, NoExpiry, -1, -1, nil
	var hasValue, hasDump bool
	err := r.object(func(name []byte) error {
		var err error
		switch string(name) {
		case "db":
			var v int64
			v, err = r.readInt()
			if err == nil && (v < 0 || v > MaxDB) {
				err = jsonSyntax("db %d out of range", v)
			}
			kv.DB = int(v)
		case "key":
			r.key, err = r.readBytes()
			r.hasKey = err == nil
		case "type":
			r.typ, err = r.readString(r.typ[:0])
		case "expire_at_ms":
			kv.ExpireAt, err = r.readInt()
			r.expSet = true
		case "expiration":
			if c, _ := r.peek(); c == 'n' {
				return r.skipValue() // null: no expiry
			}
			r.expStr, err = r.readString(r.expStr[:0])
		case "lru":
			kv.Idle, err = r.readInt()
		case "lfu":
			var v int64
			v, err = r.readInt()
			if err == nil && (v < math.MinInt32 || v > math.MaxInt32) {
				err = jsonSyntax("lfu %d out of range", v)
			}
			kv.Freq = int(v)
		case "value":
			if err = r.setData("value"); err == nil {
				r.value, err = r.readBytes()
				hasValue = err == nil
			}
		case "values", "members":
			if err = r.setData(string(name)); err == nil {
				err = r.array(r.readMember)
			}
		case "entries":
			if err = r.setData("entries"); err == nil {
				err = r.array(r.readEntry)
			}
		case "fields":
			if err = r.setData("fields"); err == nil {
				err = r.array(r.readHashField)
			}
		case "dump":
			if err = r.setData("dump"); err == nil {
				if r.tmp, err = r.readString(r.tmp[:0]); err == nil {
					if r.dump, err = base64.StdEncoding.AppendDecode(r.dump[:0], r.tmp); err != nil {
						err = jsonSyntax("dump: base64: %v", err)
					}
					hasDump = err == nil
				}
			}
		case "functionsLua":
			if err = r.setData("functionsLua"); err == nil {
				r.value, err = r.readBytes()
				hasValue = err == nil
			}
		case "elements":
			if err = r.setData("elements"); err == nil {
				err = r.array(r.readArrayElement)
			}
		case "insertIndex":
			r.hasArray = true
			r.arr.InsertIndex, err = r.readUint()
			if err == nil && r.arr.InsertIndex == NoInsertIndex {
				err = jsonSyntax("insertIndex 2^64-1 (the highest is 2^64-2)")
			}
		case "len", "lastId", "firstId", "maxDeletedId", "addedEntriesCount", "groups", "idmp":
			r.hasStream = true
			err = r.readStreamMeta(name)
		case "module", "version", "when", "payload":
			// Fields of a module-aux object. Other objects may have
			// them with other meanings (a module key names its module,
			// hdt3213 gives streams a "version"): they are taken when
			// of the JSON type a module-aux object gives them, and
			// checked only in one.
			err = r.readModuleAuxField(string(name))
		default:
			err = r.skipValue()
		}
		return err
	})
	if err != nil {
		return err
	}
	return r.finishObject(hasValue, hasDump)
}

func (r *JSONReader) readMember() error {
	sp, err := r.readBytes()
	if err == nil {
		r.elems = append(r.elems, jsonElem{member: sp, expireAt: NoExpiry})
	}
	return err
}

// readEntry reads a sorted set entry or a stream entry.
func (r *JSONReader) readEntry() error {
	e := jsonElem{expireAt: NoExpiry}
	var hasMember, hasScore, hasID bool
	e.f0 = len(r.spans)
	err := r.object(func(name []byte) error {
		var err error
		switch string(name) {
		case "member":
			e.member, err = r.readBytes()
			hasMember = true
		case "score":
			e.score, err = r.readScore()
			hasScore = true
		case "id":
			e.id, err = r.readStreamID()
			hasID = true
		case "fields":
			err = r.array(r.readPair)
		default:
			err = r.skipValue()
		}
		return err
	})
	if err != nil {
		return err
	}
	e.f1 = len(r.spans)
	shape := shapeZSet
	switch {
	case hasMember && hasScore && !hasID && e.f1 == e.f0:
	case hasID && !hasMember && !hasScore:
		shape = shapeStream
	default:
		return jsonSyntax("an entry has either \"member\" and \"score\" (sorted sets) or \"id\" and \"fields\" (streams)")
	}
	if r.shape != 0 && r.shape != shape {
		return jsonSyntax("sorted set and stream entries mixed")
	}
	r.shape = shape
	r.elems = append(r.elems, e)
	return nil
}

// readArrayElement reads an array element.
func (r *JSONReader) readArrayElement() error {
	e := jsonElem{expireAt: NoExpiry}
	var hasIndex, hasValue bool
	err := r.object(func(name []byte) error {
		var err error
		switch string(name) {
		case "index":
			e.index, err = r.readUint()
			hasIndex = true
		case "value":
			e.member, err = r.readBytes()
			hasValue = true
		case "kind":
			if r.tmp, err = r.readString(r.tmp[:0]); err != nil {
				return err
			}
			switch string(r.tmp) {
			case "string":
				e.kind = ArrayString
			case "int":
				e.kind = ArrayInt
			case "float":
				e.kind = ArrayFloat
			default:
				err = jsonSyntax("array element kind %q: want string, int or float", r.tmp)
			}
		default:
			err = r.skipValue()
		}
		return err
	})
	if err == nil && !(hasIndex && hasValue) {
		err = jsonSyntax("an array element needs \"index\" and \"value\"")
	}
	r.elems = append(r.elems, e)
	return err
}

// readPair reads a stream entry's [field, value] pair.
func (r *JSONReader) readPair() error {
	n := 0
	err := r.array(func() error {
		if n++; n > 2 {
			return jsonSyntax("a stream field pair has more than 2 strings")
		}
		sp, err := r.readBytes()
		r.spans = append(r.spans, sp)
		return err
	})
	if err == nil && n != 2 {
		err = jsonSyntax("a stream field pair has %d strings, want 2", n)
	}
	return err
}

func (r *JSONReader) readHashField() error {
	e := jsonElem{expireAt: NoExpiry}
	var hasField, hasValue bool
	err := r.object(func(name []byte) error {
		var err error
		switch string(name) {
		case "field":
			e.member, err = r.readBytes()
			hasField = true
		case "value":
			e.value, err = r.readBytes()
			hasValue = true
		case "expire_at_ms":
			e.expireAt, err = r.readInt()
		default:
			err = r.skipValue()
		}
		return err
	})
	if err == nil && !(hasField && hasValue) {
		err = jsonSyntax("a hash field needs \"field\" and \"value\"")
	}
	r.elems = append(r.elems, e)
	return err
}

func (r *JSONReader) readStreamMeta(name []byte) error {
	si := &r.stream
	var err error
	switch string(name) {
	case "len":
		si.Length, err = r.readUint()
	case "lastId":
		si.LastID, err = r.readStreamID()
	case "firstId":
		si.FirstID, err = r.readStreamID()
	case "maxDeletedId":
		si.MaxDeletedID, err = r.readStreamID()
	case "addedEntriesCount":
		si.EntriesAdded, err = r.readUint()
	case "groups":
		err = r.array(r.readGroup)
	case "idmp":
		si.IDMP = &StreamIDMP{}
		err = r.readIDMP(si.IDMP)
	}
	return err
}

func (r *JSONReader) readIDMP(m *StreamIDMP) error {
	return r.object(func(name []byte) error {
		var err error
		switch string(name) {
		case "duration":
			m.Duration, err = r.readUint()
		case "maxEntries":
			m.MaxEntries, err = r.readUint()
		case "iidsAdded":
			m.IIDsAdded, err = r.readUint()
		case "iidsDuplicates":
			m.IIDsDuplicates, err = r.readUint()
		case "producers":
			err = r.array(func() error {
				var p IDMPProducer
				err := r.object(func(name []byte) error {
					var err error
					switch string(name) {
					case "pid":
						p.PID, err = r.readBytesString()
					case "entries":
						err = r.array(func() error {
							var e IDMPEntry
							err := r.object(func(name []byte) error {
								var err error
								switch string(name) {
								case "iid":
									e.IID, err = r.readBytesString()
								case "id":
									e.ID, err = r.readStreamID()
								default:
									err = r.skipValue()
								}
								return err
							})
							p.Entries = append(p.Entries, e)
							return err
						})
					default:
						err = r.skipValue()
					}
					return err
				})
				m.Producers = append(m.Producers, p)
				return err
			})
		default:
			err = r.skipValue()
		}
		return err
	})
}

func (r *JSONReader) readGroup() error {
	g := StreamGroup{EntriesRead: -1}
	err := r.object(func(name []byte) error {
		var err error
		switch string(name) {
		case "name":
			g.Name, err = r.readBytesString()
		case "lastId":
			g.LastID, err = r.readStreamID()
		case "entriesRead":
			g.EntriesRead, err = r.readInt()
		case "pending":
			err = r.array(func() error {
				var p PendingEntry
				err := r.object(func(name []byte) error {
					var err error
					switch string(name) {
					case "id":
						p.ID, err = r.readStreamID()
					case "deliveryTime":
						p.DeliveryTime, err = r.readInt()
					case "deliveryCount":
						p.DeliveryCount, err = r.readUint()
					case "consumer":
						p.Consumer, err = r.readBytesString()
					default:
						err = r.skipValue()
					}
					return err
				})
				g.Pending = append(g.Pending, p)
				return err
			})
		case "consumers":
			err = r.array(func() error {
				var c StreamConsumer
				err := r.object(func(name []byte) error {
					var err error
					switch string(name) {
					case "name":
						c.Name, err = r.readBytesString()
					case "seenTime":
						c.SeenTime, err = r.readInt()
					case "activeTime":
						c.ActiveTime, err = r.readInt()
					default:
						err = r.skipValue()
					}
					return err
				})
				g.Consumers = append(g.Consumers, c)
				return err
			})
		case "nacked":
			err = r.array(func() error {
				id, err := r.readStreamID()
				g.Nacked = append(g.Nacked, id)
				return err
			})
		default:
			err = r.skipValue()
		}
		return err
	})
	r.stream.Groups = append(r.stream.Groups, g)
	return err
}

// readModuleAuxField reads a field of a module-aux object, or skips a
// value of another JSON type.
func (r *JSONReader) readModuleAuxField(name string) error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	switch {
	case name == "module" && c == '"':
		r.module, err = r.readString(r.module[:0])
	case name == "payload" && c == '"':
		r.payload, err = r.readString(r.payload[:0])
		r.hasPay = err == nil
	case name == "version" && c >= '0' && c <= '9':
		r.modVer, err = r.readInt()
	case name == "when" && c >= '0' && c <= '9':
		r.when, err = r.readInt()
	default:
		err = r.skipValue()
	}
	return err
}

// finishModuleAux checks a module-aux object and sets rec.
func (r *JSONReader) finishModuleAux() error {
	if len(r.module) == 0 || r.modVer < 0 || r.when < 0 || !r.hasPay {
		return jsonSyntax("a module-aux object needs \"module\", \"version\", \"when\" and \"payload\"")
	}
	var err error
	if r.dump, err = base64.StdEncoding.AppendDecode(r.dump[:0], r.payload); err != nil {
		return jsonSyntax("module-aux payload: base64: %v", err)
	}
	id, ok := ModuleIDOf(string(r.module), int(r.modVer))
	if !ok {
		return jsonSyntax("module-aux: module %q version %d: want 9 characters of A-Z a-z 0-9 - _ and a version of 0 to 1023", r.module, r.modVer)
	}
	if err := checkModulePayload(r.dump); err != nil {
		return fmt.Errorf("%w: module-aux payload of %v: %v", ErrJSON, id, err)
	}
	r.rec = JSONRecord{Kind: KindModuleAux, Module: id, When: uint64(r.when), Data: r.dump}
	return nil
}

// finishObject checks the object read and sets rec.
func (r *JSONReader) finishObject(hasValue, hasDump bool) error {
	kv := &r.kv
	r.rec = JSONRecord{}
	typ := string(r.typ)
	switch typ {
	case "aux":
		if !r.hasKey || !hasValue || r.data != "value" {
			return jsonSyntax("an aux object needs \"key\" and \"value\"")
		}
		r.rec = JSONRecord{Kind: KindAux, Name: r.span(r.key), Data: r.span(r.value)}
		return nil
	case "functions":
		if !hasValue || r.data != "functionsLua" {
			return jsonSyntax("a functions object needs \"functionsLua\"")
		}
		r.rec = JSONRecord{Kind: KindFunction, Data: r.span(r.value)}
		return nil
	case "module-aux":
		return r.finishModuleAux()
	case "":
		return jsonSyntax("object without a \"type\"")
	}
	t, ok := ParseType(typ)
	if !ok {
		return jsonSyntax("unknown type %q", typ)
	}
	if !r.hasKey {
		return jsonSyntax("%s object without a \"key\"", typ)
	}
	want := jsonValueField(t)
	if r.data != want && (r.data != "" || t == TypeString || t == TypeModule) {
		if r.data == "" {
			return jsonSyntax("%s key without %q", typ, want)
		}
		return jsonSyntax("%s key with %q, want %q", typ, r.data, want)
	}
	switch {
	case t == TypeZSet && r.shape == shapeStream:
		return jsonSyntax("zset key with stream entries")
	case t == TypeStream && r.shape == shapeZSet:
		return jsonSyntax("stream key with sorted set entries")
	case t != TypeStream && r.hasStream:
		return jsonSyntax("stream metadata in a %s key", typ)
	case t != TypeArray && r.hasArray:
		return jsonSyntax("array metadata in a %s key", typ)
	}
	if t == TypeString && hasValue {
		r.elems = append(r.elems, jsonElem{member: r.value, expireAt: NoExpiry})
	}
	if t == TypeModule {
		if !hasDump {
			return jsonSyntax("module key without \"dump\"")
		}
		if err := checkDump(r.dump); err != nil {
			return err
		}
		kv.Dump = r.writeDump
	}
	if !r.expSet && len(r.expStr) > 0 {
		tm, err := time.Parse(time.RFC3339Nano, string(r.expStr))
		if err != nil {
			return jsonSyntax("expiration %q: %v", r.expStr, err)
		}
		kv.ExpireAt = tm.UnixMilli()
	}
	kv.Key = r.span(r.key)
	kv.Type = t
	r.rec = JSONRecord{Kind: KindKey, Key: kv}
	return nil
}

// jsonValueField names the member holding a value of type t.
func jsonValueField(t Type) string {
	switch t {
	case TypeString:
		return "value"
	case TypeList:
		return "values"
	case TypeSet:
		return "members"
	case TypeZSet, TypeStream:
		return "entries"
	case TypeHash:
		return "fields"
	case TypeArray:
		return "elements"
	}
	return "dump"
}

// checkDump verifies a DUMP payload's CRC64 trailer.
func checkDump(p []byte) error {
	if len(p) < 1+2+8 {
		return jsonSyntax("dump payload of %d bytes is too short", len(p))
	}
	n := len(p) - 8
	var stored uint64
	for i := 7; i >= 0; i-- {
		stored = stored<<8 | uint64(p[n+i])
	}
	if got := crcUpdate(0, p[:n]); got != stored {
		return fmt.Errorf("%w: dump payload has CRC64 %#x, computed %#x", ErrChecksum, stored, got)
	}
	return nil
}

func (r *JSONReader) span(sp jsonSpan) []byte { return r.arena[sp.s:sp.e:sp.e] }

// walk is the current key's Elements.
func (r *JSONReader) walk(fn func(*Element) error) error {
	stream := r.kv.Type == TypeStream
	hash := r.kv.Type == TypeHash
	for i := range r.elems {
		e := &r.elems[i]
		r.el = Element{Score: e.score, ExpireAt: e.expireAt, ID: e.id, Index: e.index, Kind: e.kind}
		if stream {
			r.fields = r.fields[:0]
			for _, sp := range r.spans[e.f0:e.f1] {
				r.fields = append(r.fields, r.span(sp))
			}
			r.el.Fields = r.fields
		} else {
			r.el.Member = r.span(e.member)
		}
		if hash {
			r.el.Value = r.span(e.value)
		}
		if err := fn(&r.el); err != nil {
			return err
		}
	}
	return nil
}

func (r *JSONReader) streamInfo() *StreamInfo {
	if r.kv.Type != TypeStream || !r.hasStream {
		return nil
	}
	return &r.stream
}

func (r *JSONReader) arrayInfo() *ArrayInfo {
	if r.kv.Type != TypeArray {
		return nil
	}
	r.arr.Count = uint64(len(r.elems))
	return &r.arr
}

func (r *JSONReader) writeDump(w io.Writer) error {
	_, err := w.Write(r.dump)
	return err
}
