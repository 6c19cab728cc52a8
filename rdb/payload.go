package rdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// checkPayload checks a DUMP or FUNCTION DUMP payload as Redis's
// verifyDumpPayload does (its length, the CRC64 over all but the last 8
// bytes) and that its RDB version is one this writer may write: not
// above the writer's, and not a Valkey version in a REDIS file. It
// returns the body between the type byte (included) and the trailer.
// A nil key means a FUNCTION DUMP payload.
func (w *Writer) checkPayload(key, p []byte) ([]byte, error) {
	var v int
	var err error
	if key == nil && len(p) == 10 {
		// FUNCTION DUMP of a server with no library: the trailer alone,
		// which FUNCTION RESTORE takes (verifyDumpPayload needs 10
		// bytes); a key's payload needs its type byte too.
		v = int(binary.LittleEndian.Uint16(p))
		if binary.LittleEndian.Uint64(p[2:]) != CRC64(p[:2]) {
			err = fmt.Errorf("%w: DUMP payload", ErrChecksum)
		}
	} else {
		v, err = DumpVersion(p)
	}
	if err != nil {
		if key == nil {
			return nil, fmt.Errorf("FUNCTION DUMP payload: %w", err)
		}
		return nil, fmt.Errorf("key %q: %w", key, err)
	}
	if v > w.version {
		if key == nil {
			return nil, fmt.Errorf("%w: FUNCTION DUMP payload of RDB %d in an RDB %d file", ErrUnsupportedVersion, v, w.version)
		}
		return nil, &VersionError{Key: key, What: "DUMP payloads of RDB " + strconv.Itoa(v), Need: v, Have: w.version}
	}
	return p[:len(p)-10], nil
}

// WritePayload writes one key from a DUMP payload, copying the value as
// the server encoded it: the payload's type byte and body, selecting db
// first when it changes and writing the absolute expiry (Unix ms) unless
// expireAtMs is -1. The payload is checked first (its length, its CRC64 as
// RESTORE checks it, its RDB version not above the writer's); a bad one
// is an error and nothing is written.
func (w *Writer) WritePayload(db int, key []byte, expireAtMs int64, payload []byte) error {
	if w.err != nil {
		return w.err
	}
	if db < 0 || db > MaxDB {
		return fmt.Errorf("key %q: database %d: no server holds it (0 to %d)", key, db, MaxDB)
	}
	if expireAtMs < 0 && expireAtMs != NoExpiry {
		return fmt.Errorf("key %q: expiry %d is not a time", key, expireAtMs)
	}
	if key == nil {
		key = []byte{}
	}
	body, err := w.checkPayload(key, payload)
	if err != nil {
		return err
	}
	w.keyHeader(&KeyValue{DB: db, Key: key, ExpireAt: expireAtMs, Idle: -1, Freq: -1}, body[0])
	w.raw(body[1:])
	return w.err
}

// WriteFunctionsPayload writes the function libraries of a FUNCTION DUMP
// payload: its records (RDB_OPCODE_FUNCTION2 and the library's code, as
// the server wrote them) are checked to be function libraries and
// nothing else, then copied. An empty payload (no libraries) writes
// nothing.
func (w *Writer) WriteFunctionsPayload(payload []byte) (libraries int, err error) {
	if w.err != nil {
		return 0, w.err
	}
	body, err := w.checkPayload(nil, payload)
	if err != nil {
		return 0, err
	}
	head := fmt.Appendf(nil, "REDIS%04d", w.version)
	rd := NewReader(io.MultiReader(bytes.NewReader(head), bytes.NewReader(body), bytes.NewReader([]byte{opEOF, 0, 0, 0, 0, 0, 0, 0, 0})))
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("FUNCTION DUMP payload: %w", err)
		}
		if rec.Kind != KindFunction {
			return 0, fmt.Errorf("%w: FUNCTION DUMP payload holds a %v record", ErrCorrupt, rec.Kind)
		}
		libraries++
	}
	w.raw(body)
	return libraries, w.err
}
