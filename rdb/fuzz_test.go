package rdb_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/redkit/redkit/rdb"
)

// FuzzReader feeds arbitrary bytes to the Reader: it must return records
// or an error, never panic, hang or allocate wildly, and every error must
// be a *ParseError.
func FuzzReader(f *testing.F) {
	for _, p := range corpusFilesOrNone() {
		if data, err := os.ReadFile(p); err == nil && len(data) <= 64<<10 {
			f.Add(data)
		}
	}
	f.Add([]byte("REDIS0011\xff"))
	f.Add(rdb.RDB14Sample())                                                                // arrays, a stream with NACK zones and IDMP state
	f.Add([]byte("REDIS0003\xfe\x00\x09\x01h\x0c\x02\x01a\x01\x00x\x01b\x01\x00y\xff\xff")) // a zipmap
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := rdb.NewReader(bytes.NewReader(data))
		for i := 0; ; i++ {
			rec, err := rd.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var pe *rdb.ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("error %v (%T) is not a *ParseError", err, err)
				}
				return
			}
			if rec.Kind != rdb.KindKey {
				continue
			}
			// Alternate the three ways of reading a value.
			switch i % 3 {
			case 0:
				_, err = rd.Stats()
			case 1:
				err = rd.Elements(func(*rdb.Element) error { return nil })
			case 2:
				_, err = rd.WriteValue(io.Discard)
			}
			if err != nil {
				return
			}
		}
	})
}

// corpusFilesOrNone lists the corpus dumps without needing a *testing.T.
func corpusFilesOrNone() []string {
	var out []string
	_ = walkRDB(corpusDir, func(p string) { out = append(out, p) })
	return out
}
