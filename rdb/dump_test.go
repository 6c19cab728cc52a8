package rdb_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// TestEncodeDumpRestore encodes every key of a real dump from its
// elements (not from the dump's own bytes) as a DUMP payload, RESTOREs
// them all into an empty server, and compares DEBUG DIGEST with the
// server that wrote the dump.
func TestEncodeDumpRestore(t *testing.T) {
	ctx := t.Context()
	src := redistest.Start(t, redistest.Options{})
	if err := redistest.FillMixed(ctx, src.Client(), 1); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src.Save(t))
	if err != nil {
		t.Fatal(err)
	}
	dst := redistest.Start(t, redistest.Options{})
	conn := dst.Client().Conn()
	defer conn.Close()
	db, n := -1, 0
	var p bytes.Buffer
	rd := rdb.NewReader(bytes.NewReader(data))
	for {
		rec, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		if rec.Kind != rdb.KindKey {
			continue
		}
		kv := rd.KeyValue()
		// Odd keys: the dump's own payload, decoded again. Even keys:
		// the value read from the dump.
		var orig bytes.Buffer
		if n%2 == 1 {
			if err := kv.Dump(&orig); err != nil {
				t.Fatal(err)
			}
		}
		encode := func(kv *rdb.KeyValue) error {
			own := *kv
			own.Dump = nil // encode from the elements
			p.Reset()
			return rdb.EncodeDump(&p, &own, 10)
		}
		if n%2 == 1 {
			err = rdb.DecodeDump(kv.Key, orig.Bytes(), encode)
		} else {
			err = encode(kv)
		}
		if err != nil {
			t.Fatalf("key %q: %v", kv.Key, err)
		}
		if kv.DB != db {
			if err := conn.Select(ctx, kv.DB).Err(); err != nil {
				t.Fatal(err)
			}
			db = kv.DB
		}
		args := []any{"RESTORE", kv.Key, 0, p.Bytes()}
		if kv.ExpireAt != rdb.NoExpiry {
			args = []any{"RESTORE", kv.Key, kv.ExpireAt, p.Bytes(), "ABSTTL"}
		}
		if err := conn.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("RESTORE %q (%s): %v", kv.Key, kv.Type, err)
		}
		n++
	}
	want, _ := src.Do(ctx, "DEBUG", "DIGEST")
	got, _ := dst.Do(ctx, "DEBUG", "DIGEST")
	if got != want {
		t.Errorf("DEBUG DIGEST after restoring %d encoded keys: %v, want %v", n, got, want)
	}
	t.Logf("%d keys, digest %v", n, got)
}

func TestEncodeDumpErrors(t *testing.T) {
	if _, err := rdb.DumpVersion([]byte("\x00\x01a\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x01")); !errors.Is(err, rdb.ErrChecksum) {
		t.Errorf("bad checksum: %v", err)
	}
	if err := rdb.DecodeDump([]byte("k"), []byte("short"), nil); !errors.Is(err, rdb.ErrCorrupt) {
		t.Errorf("short payload: %v", err)
	}
	fd := rdb.FunctionsDump([][]byte{[]byte("#!lua name=x\nredis.register_function('f', function() return 1 end)")})
	if v, err := rdb.DumpVersion(fd); err != nil || v != 10 {
		t.Errorf("FunctionsDump: version %d, %v", v, err)
	}
	empty := &rdb.KeyValue{Key: []byte("e"), Type: rdb.TypeSet, ExpireAt: rdb.NoExpiry, Idle: -1, Freq: -1,
		Elements: func(func(*rdb.Element) error) error { return nil }}
	if err := rdb.EncodeDump(&bytes.Buffer{}, empty, 10); !errors.Is(err, rdb.ErrEmptyValue) {
		t.Errorf("empty set: %v", err)
	}
	ttl := &rdb.KeyValue{Key: []byte("h"), Type: rdb.TypeHash, ExpireAt: rdb.NoExpiry, Idle: -1, Freq: -1,
		Elements: func(fn func(*rdb.Element) error) error {
			return fn(&rdb.Element{Member: []byte("f"), Value: []byte("v"), ExpireAt: 5})
		}}
	var ve *rdb.VersionError
	if err := rdb.EncodeDump(&bytes.Buffer{}, ttl, 10); !errors.As(err, &ve) || ve.Need != 12 {
		t.Errorf("field TTL in RDB 10: %v", err)
	}
	if err := rdb.EncodeDump(&bytes.Buffer{}, ttl, 12); err != nil {
		t.Errorf("field TTL in RDB 12: %v", err)
	}
}

// TestDecodeDumpValkey decodes a Valkey 9 DUMP payload (RDB 80 in its
// trailer) of a hash with field expiries (Valkey's type 22): the fields,
// their values and expiries, read with Valkey's meaning of the type byte.
func TestDecodeDumpValkey(t *testing.T) {
	p := []byte{22, 2, 2, 'f', '1', 2, 'v', '1'}
	p = binary.LittleEndian.AppendUint64(p, ^uint64(0)) // -1: no expiry
	p = append(p, 2, 'f', '2', 2, 'v', '2')
	p = binary.LittleEndian.AppendUint64(p, 4102444800000)
	for _, v := range []int{80, 81} {
		q := append(bytes.Clone(p), byte(v), 0)
		q = binary.LittleEndian.AppendUint64(q, rdb.CRC64(q))
		var got []rdb.Element
		err := rdb.DecodeDump([]byte("h"), q, func(kv *rdb.KeyValue) error {
			if kv.Type != rdb.TypeHash {
				t.Errorf("RDB %d: type %s, want hash", v, kv.Type)
			}
			return kv.Elements(func(e *rdb.Element) error {
				got = append(got, rdb.Element{Member: bytes.Clone(e.Member), Value: bytes.Clone(e.Value), ExpireAt: e.ExpireAt})
				return nil
			})
		})
		if err != nil {
			t.Fatalf("RDB %d: %v", v, err)
		}
		if len(got) != 2 || string(got[0].Member) != "f1" || got[0].ExpireAt != rdb.NoExpiry ||
			string(got[1].Value) != "v2" || got[1].ExpireAt != 4102444800000 {
			t.Errorf("RDB %d: got %+v", v, got)
		}
	}
	q := append(bytes.Clone(p), 79, 0)
	q = binary.LittleEndian.AppendUint64(q, rdb.CRC64(q))
	if err := rdb.DecodeDump([]byte("h"), q, func(*rdb.KeyValue) error { return nil }); !errors.Is(err, rdb.ErrUnsupportedVersion) {
		t.Errorf("RDB 79: %v, want ErrUnsupportedVersion", err)
	}
}
