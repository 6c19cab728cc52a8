package rdb_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/redkit/redkit/rdb"
)

// FuzzDecodeDump decodes DUMP payloads (with their CRC64 fixed up, so
// the fuzzer reaches the value decoder) and encodes what it read again:
// nothing may panic or hang.
func FuzzDecodeDump(f *testing.F) {
	for _, v := range []string{"\x00\x01a", "\x0e\x01\x0b\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "\x02\x02\x01a\x01b", "\x04\x01\x01a\x01b"} {
		f.Add([]byte(v), uint16(10))
	}
	// A Valkey 9 hash with field expiries (type 22 of RDB 80).
	f.Add([]byte("\x16\x01\x01f\x01v\xff\xff\xff\xff\xff\xff\xff\xff"), uint16(80))
	// Redis 8.8's arrays and streams with NACK zones (types 28 and 27).
	rd := rdb.NewReader(bytes.NewReader(rdb.RDB14Sample()))
	for {
		rec, err := rd.Next()
		if err != nil {
			break
		}
		if rec.Kind == rdb.KindKey {
			var p bytes.Buffer
			if rd.WriteDump(&p) == nil {
				f.Add(p.Bytes()[:p.Len()-10], uint16(14))
			}
		}
	}
	f.Fuzz(func(t *testing.T, value []byte, version uint16) {
		if len(value) > 1<<16 {
			return
		}
		p := append(bytes.Clone(value), byte(version), byte(version>>8))
		p = binary.LittleEndian.AppendUint64(p, rdb.CRC64(p))
		rdb.DecodeDump([]byte("k"), p, func(kv *rdb.KeyValue) error {
			return rdb.EncodeDump(&bytes.Buffer{}, kv, 14)
		})
	})
}
