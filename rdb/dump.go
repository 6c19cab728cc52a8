package rdb

import (
	"bufio"
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
