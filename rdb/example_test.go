package rdb_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"time"

	"github.com/redkit/redkit/rdb"
)

// Read a dump record by record: the keys, their types and expiries, and
// their values element by element.
func ExampleReader() {
	dump := sampleDump()

	r := rdb.NewReader(bytes.NewReader(dump))
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break // the checksum was verified
		}
		if err != nil {
			log.Fatal(err)
		}
		if rec.Kind != rdb.KindKey {
			continue // AUX fields, databases' sizes, functions...
		}
		var elems []string
		err = r.Elements(func(e *rdb.Element) error {
			if e.Value != nil {
				elems = append(elems, string(e.Member)+"="+string(e.Value))
			} else {
				elems = append(elems, string(e.Member))
			}
			return nil
		})
		if err != nil {
			log.Fatal(err)
		}
		expiry := "no expiry"
		if rec.ExpireAt != rdb.NoExpiry {
			expiry = "expires " + time.UnixMilli(rec.ExpireAt).UTC().Format(time.RFC3339)
		}
		fmt.Printf("db %d %s %q (%s): %s\n", rec.DB, rec.Type, rec.Key, expiry, strings.Join(elems, " "))
	}
	// Output:
	// db 0 string "greeting" (no expiry): hello
	// db 0 list "queue" (expires 2023-11-14T22:13:20Z): a b c
	// db 1 hash "user:1" (no expiry): name=ada
}

// sampleDump writes a small dump with rdb's Writer.
func sampleDump() []byte {
	var buf bytes.Buffer
	w, err := rdb.NewWriter(&buf, rdb.WriterOptions{})
	if err != nil {
		log.Fatal(err)
	}
	keys := []*rdb.KeyValue{
		keyValue(0, "greeting", rdb.TypeString, rdb.NoExpiry, "hello"),
		keyValue(0, "queue", rdb.TypeList, 1700000000000, "a", "b", "c"),
		keyValue(1, "user:1", rdb.TypeHash, rdb.NoExpiry, "name", "ada"),
	}
	for _, kv := range keys {
		if err := w.WriteKey(kv); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

// keyValue is a key whose elements are members (field, value pairs for
// a hash).
func keyValue(db int, key string, t rdb.Type, expireAt int64, members ...string) *rdb.KeyValue {
	return &rdb.KeyValue{DB: db, Key: []byte(key), Type: t, ExpireAt: expireAt, Idle: -1, Freq: -1,
		Elements: func(fn func(*rdb.Element) error) error {
			step := 1
			if t == rdb.TypeHash {
				step = 2
			}
			for i := 0; i+step <= len(members); i += step {
				e := &rdb.Element{Member: []byte(members[i]), ExpireAt: rdb.NoExpiry}
				if step == 2 {
					e.Value = []byte(members[i+1])
				}
				if err := fn(e); err != nil {
					return err
				}
			}
			return nil
		}}
}
