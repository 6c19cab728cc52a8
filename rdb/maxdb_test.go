package rdb

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestMaxDB: the Writer refuses a database no server holds, and the
// Reader calls a file selecting one corrupt.
func TestMaxDB(t *testing.T) {
	str := func(db int) *KeyValue {
		return &KeyValue{DB: db, Key: []byte("k"), Type: TypeString, ExpireAt: NoExpiry, Idle: -1, Freq: -1,
			Elements: func(fn func(*Element) error) error { return fn(&Element{Member: []byte("v")}) }}
	}
	for _, tc := range []struct {
		db int
		ok bool
	}{{0, true}, {MaxDB, true}, {MaxDB + 1, false}, {-1, false}} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		err = w.WriteKey(str(tc.db))
		if (err == nil) != tc.ok {
			t.Errorf("db %d: WriteKey: %v, want ok=%v", tc.db, err, tc.ok)
		}
	}
	// SELECTDB 2^31-1, crafted: the length's 32-bit form.
	var crafted []byte
	crafted = append(crafted, "REDIS0010"...)
	crafted = append(crafted, opSelectDB, 0x80, 0x7f, 0xff, 0xff, 0xff, opEOF)
	rd := NewReader(bytes.NewReader(crafted))
	_, err := rd.Next()
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("SELECTDB %d: %v, want ErrCorrupt", MaxDB+1, err)
	}
	crafted[len(crafted)-2] = 0xfe // 2^31-2: the highest a server holds
	rd = NewReader(bytes.NewReader(crafted))
	if rec, err := rd.Next(); err != nil || rec.DB != MaxDB {
		t.Errorf("SELECTDB %d: %+v, %v", MaxDB, rec, err)
	}
	if _, err := rd.Next(); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("end: %v", err)
	}
}
