package rdb

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// BenchmarkDecodeDump decodes the DUMP payload of a 100-byte string, as
// restore --mode commands and AOF replays of RESTORE do for every key.
func BenchmarkDecodeDump(b *testing.B) {
	val := bytes.Repeat([]byte("v"), 100)
	p := append([]byte{typeString}, appendLength(nil, uint64(len(val)))...)
	p = append(p, val...)
	p = append(p, 10, 0) // RDB 10
	p = binary.LittleEndian.AppendUint64(p, crcUpdate(0, p))
	key := []byte("bench:key")
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodeDump(key, p, func(*KeyValue) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
