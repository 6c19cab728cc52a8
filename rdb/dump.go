package rdb

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrEmptyValue means a collection has no elements: Redis keeps no such
// key, and RESTORE refuses its payload.
var ErrEmptyValue = errors.New("empty collection")

// EncodeDump writes kv's value as a DUMP payload of RDB version version
// (10 or later): the type byte, the value in the plain encodings the
// Writer uses, the version and the CRC64, as RESTORE takes it. It walks
// kv.Elements, gathering the elements first like WriteKey. Module values
// must come with their own payload (kv.Dump) of the same or an older
// version; such a payload is copied as it is.
func EncodeDump(dst io.Writer, kv *KeyValue, version int) error {
	if version < 10 || version > MaxRedisVersion {
		return fmt.Errorf("%w: cannot encode RDB %d (10 to %d)", ErrUnsupportedVersion, version, MaxRedisVersion)
	}
	if kv.Type == TypeModule {
		if kv.Dump == nil {
			return fmt.Errorf("key %q: a module value needs its DUMP payload", kv.Key)
		}
		var p payloadBuf
		if err := kv.Dump(&p); err != nil {
			return fmt.Errorf("key %q: %w", kv.Key, err)
		}
		if len(p.b) < 11 {
			return fmt.Errorf("key %q: DUMP payload of %d bytes is too short", kv.Key, len(p.b))
		}
		if v := int(binary.LittleEndian.Uint16(p.b[len(p.b)-10:])); v > version {
			return &VersionError{Key: kv.Key, What: fmt.Sprintf("module values of RDB %d", v), Need: v, Have: version}
		}
		_, err := dst.Write(p.b)
		return err
	}
	cw := &countWriter{w: dst}
	w := &Writer{w: bufio.NewWriterSize(cw, 32<<10), version: version, db: kv.DB, dump: true}
	if err := w.WriteKey(kv); err != nil {
		return err
	}
	if err := w.w.Flush(); err != nil {
		return err
	}
	if cw.n == 0 {
		return fmt.Errorf("key %q: %w", kv.Key, ErrEmptyValue)
	}
	w.raw([]byte{byte(version), byte(version >> 8)})
	if w.err != nil {
		return w.err
	}
	if _, err := w.w.Write(binary.LittleEndian.AppendUint64(nil, w.crc)); err != nil {
		return err
	}
	return w.w.Flush()
}

// DumpVersion returns the RDB version of a DUMP payload and checks its
// CRC64.
func DumpVersion(payload []byte) (int, error) {
	if len(payload) < 11 {
		return 0, fmt.Errorf("%w: DUMP payload of %d bytes is too short", ErrCorrupt, len(payload))
	}
	n := len(payload) - 8
	if got, want := crcUpdate(0, payload[:n]), binary.LittleEndian.Uint64(payload[n:]); got != want {
		return 0, fmt.Errorf("%w: DUMP payload", ErrChecksum)
	}
	return int(binary.LittleEndian.Uint16(payload[n-2:])), nil
}

// DecodeDump reads a DUMP payload of key (checking its CRC64) and calls
// fn with it as a KeyValue, valid during the call, with no expiry and
// database 0: set them as needed. Its elements are streamed from the
// payload. Payloads of Valkey 9 (RDB 80 and 81 in their trailer) are read
// with Valkey's meanings of the type bytes, as the VALKEY files they come
// from.
func DecodeDump(key, payload []byte, fn func(*KeyValue) error) error {
	v, err := DumpVersion(payload)
	if err != nil {
		return err
	}
	head := make([]byte, 0, 32+len(key))
	switch {
	case v >= 1 && v <= MaxRedisVersion:
		head = fmt.Appendf(head, "REDIS%04d", v)
	case v >= minValkeyVersion && v <= MaxValkeyVersion:
		head = fmt.Appendf(head, "VALKEY%03d", v)
	default:
		return fmt.Errorf("%w: DUMP payload of RDB %d", ErrUnsupportedVersion, v)
	}
	head = append(head, payload[0])
	head = appendLength(head, uint64(len(key)))
	head = append(head, key...)
	// The value, then EOF and a zero checksum (not checked).
	tail := []byte{opEOF, 0, 0, 0, 0, 0, 0, 0, 0}
	if v < 5 {
		tail = tail[:1]
	}
	body := payload[1 : len(payload)-10]
	var rd *Reader
	if n := len(head) + len(body) + len(tail); n <= defaultBufSize {
		// Small: one buffer of just the input, read in place. A Reader's
		// own 256 KiB buffer, allocated and cleared for each key, made
		// decoding many small payloads (restore --mode commands) cost
		// milliseconds a key.
		data := make([]byte, 0, n)
		rd = newReaderOn(newInputBytes(append(append(append(data, head...), body...), tail...)))
	} else {
		// Big: streamed through the read buffer, never copied whole.
		rd = NewReader(io.MultiReader(bytes.NewReader(head), bytes.NewReader(body), bytes.NewReader(tail)))
	}
	seen := false
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("DUMP payload of key %q: %w", key, err)
		}
		if rec.Kind != KindKey || seen {
			return fmt.Errorf("%w: DUMP payload of key %q is not one value", ErrCorrupt, key)
		}
		seen = true
		if err := fn(rd.KeyValue()); err != nil {
			return err
		}
	}
	if !seen {
		return fmt.Errorf("%w: DUMP payload of key %q holds no value", ErrCorrupt, key)
	}
	return nil
}

func appendLength(b []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(b, byte(n))
	case n < 1<<14:
		return append(b, byte(n>>8)|0x40, byte(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, 0x80), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0x81), n)
}

// FunctionsDump returns the payload FUNCTION RESTORE takes for these
// libraries (their source code), as FUNCTION DUMP makes it: each as
// RDB_OPCODE_FUNCTION2 and a string, then RDB version 10 and the CRC64.
func FunctionsDump(libs [][]byte) []byte {
	var b []byte
	for _, code := range libs {
		b = append(b, opFunction2)
		b = appendLength(b, uint64(len(code)))
		b = append(b, code...)
	}
	b = append(b, 10, 0)
	return binary.LittleEndian.AppendUint64(b, crcUpdate(0, b))
}

// CRC64 is the checksum of RDB files and DUMP payloads (CRC-64/Jones,
// reflected, as Redis's crc64.c).
func CRC64(p []byte) uint64 { return crcUpdate(0, p) }
