package rdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// rdbBuilder writes RDB bytes by hand for formats no available server
// writes: Valkey 9 (VALKEY080) and Redis 8.6 (RDB 13). Layouts follow
// Valkey's and Redis's rdb.c.
type rdbBuilder struct{ bytes.Buffer }

func (b *rdbBuilder) len(n uint64) {
	switch {
	case n < 1<<6:
		b.WriteByte(byte(n))
	case n < 1<<14:
		b.WriteByte(byte(n>>8) | 0x40)
		b.WriteByte(byte(n))
	default:
		b.WriteByte(0x81)
		b.Write(binary.BigEndian.AppendUint64(nil, n))
	}
}

func (b *rdbBuilder) str(s string) { b.len(uint64(len(s))); b.WriteString(s) }

func (b *rdbBuilder) ms(v int64) { b.Write(binary.LittleEndian.AppendUint64(nil, uint64(v))) }

func (b *rdbBuilder) end() []byte {
	b.WriteByte(opEOF)
	b.Write(binary.LittleEndian.AppendUint64(nil, crcUpdate(0, b.Bytes())))
	return b.Bytes()
}

type seen struct {
	kinds []Kind
	keys  map[string][]Element
	meta  map[string][]byte
	recs  []Record
}

func readSeen(t *testing.T, data []byte) seen {
	t.Helper()
	s := seen{keys: map[string][]Element{}, meta: map[string][]byte{}}
	rd := NewReader(bytes.NewReader(data))
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return s
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		s.kinds = append(s.kinds, rec.Kind)
		r := *rec
		r.SlotRanges = append([][2]int(nil), rec.SlotRanges...)
		r.Name = bytes.Clone(rec.Name)
		r.Key = bytes.Clone(rec.Key)
		s.recs = append(s.recs, r)
		if rec.Kind != KindKey {
			continue
		}
		k := string(rec.Key)
		s.meta[k] = bytes.Clone(rec.Meta)
		s.keys[k] = nil
		err = rd.Elements(func(e *Element) error {
			c := *e
			c.Member, c.Value = bytes.Clone(e.Member), bytes.Clone(e.Value)
			s.keys[k] = append(s.keys[k], c)
			return nil
		})
		if err != nil {
			t.Fatalf("key %s: %v", k, err)
		}
	}
}

func TestValkey9(t *testing.T) {
	var b rdbBuilder
	b.WriteString("VALKEY080")
	b.WriteByte(opAux)
	b.str("valkey-ver")
	b.str("9.0.0")
	b.WriteByte(opKeyMeta) // SLOT_IMPORT in Valkey files
	b.str("0123456789abcdef0123456789abcdef01234567")
	b.len(2)
	b.len(0)
	b.len(100)
	b.len(200)
	b.len(300)
	b.WriteByte(opSelectDB)
	b.len(0)
	b.WriteByte(typeValkeyHash2)
	b.str("h")
	b.len(2)
	b.str("f1")
	b.str("v1")
	b.ms(-1)
	b.str("f2")
	b.str("v2")
	b.ms(1893456000000)
	s := readSeen(t, b.end())

	if got := s.recs[1]; got.Kind != KindSlotImport || len(got.SlotRanges) != 2 || got.SlotRanges[1] != [2]int{200, 300} {
		t.Fatalf("slot import record: got %+v", got)
	}
	h := s.keys["h"]
	if len(h) != 2 || string(h[0].Value) != "v1" || h[0].ExpireAt != NoExpiry || h[1].ExpireAt != 1893456000000 {
		t.Fatalf("hash2 elements: got %+v", h)
	}
}

func TestRedis86KeyMetaAndStream4(t *testing.T) {
	var b rdbBuilder
	b.WriteString("REDIS0013")
	b.WriteByte(opSelectDB)
	b.len(0)
	b.WriteByte(opExpireTimeMs)
	b.ms(1893456000000)
	b.WriteByte(opKeyMeta)
	b.len(1)                          // one class
	b.Write([]byte{0x08, 0, 0, 0x04}) // class spec
	b.len(moduleOpUint)
	b.len(42)
	b.len(moduleOpString)
	b.str("meta")
	b.len(moduleOpEOF)
	b.WriteByte(typeString)
	b.str("k")
	b.str("value")
	// An empty stream of type 26 with its IDMP tail and one producer.
	b.WriteByte(typeStreamListpacks4)
	b.str("s")
	b.len(0) // listpack nodes
	for range 8 {
		b.len(0) // length, last id, first id, max deleted id, entries added
	}
	b.len(0)  // consumer groups
	b.len(60) // idmp duration
	b.len(100)
	b.len(1) // producers
	b.str("producer-1")
	b.len(1)
	b.str("iid-1")
	b.len(5)
	b.len(0)
	b.len(1) // iids added
	b.len(0) // duplicates
	data := b.end()
	s := readSeen(t, data)

	if got := s.meta["k"]; len(got) == 0 {
		t.Fatalf("key k: no metadata kept")
	}
	if s.meta["s"] != nil {
		t.Fatalf("key s: metadata leaked from the previous key")
	}
	var exp int64
	for _, r := range s.recs {
		if r.Kind == KindKey && string(r.Key) == "k" {
			exp = r.ExpireAt
		}
	}
	if exp != 1893456000000 {
		t.Fatalf("expiry before KEY_META lost: got %d", exp)
	}
	if _, ok := s.keys["s"]; !ok {
		t.Fatalf("stream s missing")
	}
}

func TestVersionsByMagic(t *testing.T) {
	for _, h := range []string{"REDIS0080", "VALKEY012", "REDIS0015"} {
		_, err := NewReader(bytes.NewReader([]byte(h + "\xff"))).Next()
		if !errors.Is(err, ErrUnsupportedVersion) {
			t.Errorf("%s: got %v, want unsupported version", h, err)
		}
	}
	// Valkey meanings stay out of Redis files and Redis 8.8 types out of older ones.
	for _, c := range []struct {
		hdr string
		typ byte
	}{{"REDIS0011", typeValkeyHash2}, {"REDIS0012", typeStreamListpacks4}, {"VALKEY080", typeHashListpackEx}} {
		var b rdbBuilder
		b.WriteString(c.hdr)
		b.WriteByte(c.typ)
		b.str("k")
		_, err := NewReader(bytes.NewReader(b.end())).Next()
		if !errors.Is(err, ErrUnsupportedType) {
			t.Errorf("%s type %d: got %v, want unsupported type", c.hdr, c.typ, err)
		}
	}
}
