package rdb_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"testing"

	"github.com/redkit/redkit/rdb"
)

// FuzzJSONReader feeds arbitrary bytes to the JSONReader: it must return
// records or a *JSONError, never panic or hang. Whatever it accepts must
// survive a second trip through JSONWriter and JSONReader unchanged.
func FuzzJSONReader(f *testing.F) {
	for _, p := range corpusFilesOrNone() {
		data, err := os.ReadFile(p)
		if err != nil || len(data) > 16<<10 {
			continue
		}
		for _, array := range []bool{false, true} {
			if out, err := rdbToJSON(data, rdb.JSONOptions{Array: array}); err == nil && len(out) <= 32<<10 {
				f.Add(out)
			}
		}
	}
	if out, err := rdbToJSON(rdb.RDB14Sample(), rdb.JSONOptions{}); err == nil {
		f.Add(out)
	}
	f.Add([]byte(`{"db":0,"key":{"base64":"/w=="},"type":"zset","expire_at_ms":5,"lru":1,"lfu":2,"entries":[{"member":"a","score":"-inf"},{"member":"b","score":-0}]}`))
	f.Add([]byte(`[{"type":"functions","functionsLua":"#!lua name=x"},{"type":"aux","key":"a","value":"b"}]`))
	f.Add([]byte(`{"type":"module-aux","module":"test__rdb","version":1,"when":2,"payload":"BQNhYmMCQIEA"}`))
	f.Add([]byte(`{"key":"s","type":"stream","entries":[{"id":"1-1","fields":[["a","\u00e9\ud83d\ude00"]]}],"len":1,"lastId":"1-1","groups":[{"name":"g","lastId":"0-0","pending":[{"id":"1-1","deliveryTime":3,"deliveryCount":1,"consumer":"c"}],"consumers":[{"name":"c","seenTime":1,"activeTime":2}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		first, err := readJSONAll(data)
		if err != nil {
			var je *rdb.JSONError
			if !errors.As(err, &je) {
				t.Fatalf("error %v (%T) is not a *JSONError", err, err)
			}
			return
		}
		// Write what was read, read it again: the same records.
		var out bytes.Buffer
		jw := rdb.NewJSONWriter(&out, rdb.JSONOptions{Array: len(data)%2 == 0})
		jr := rdb.NewJSONReader(bytes.NewReader(data))
		for {
			rec, err := jr.NextRecord()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("second read: %v", err)
			}
			switch rec.Kind {
			case rdb.KindKey:
				err = jw.WriteKey(rec.Key)
			case rdb.KindFunction:
				err = jw.WriteFunction(rec.Data)
			case rdb.KindAux:
				err = jw.WriteAux(rec.Name, rec.Data)
			case rdb.KindModuleAux:
				err = jw.WriteModuleAux(rec.Module, rec.When, rec.Data)
			}
			if err != nil {
				t.Fatalf("write back: %v", err)
			}
		}
		if err := jw.Close(); err != nil {
			t.Fatal(err)
		}
		second, err := readJSONAll(out.Bytes())
		if err != nil {
			t.Fatalf("reading our own output: %v\n%s", err, out.Bytes())
		}
		if !slices.Equal(first, second) {
			t.Fatalf("round trip changed the data:\n%q\n%q", first, second)
		}
	})
}

func readJSONAll(data []byte) ([]string, error) { return jsonCanon(data) }
