package rdb_test

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/redkit/redkit/rdb"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got %s\nwant %s", name, got, want)
	}
}

// TestRDB14JSON writes the RDB 14 sample (arrays, a stream with a NACK
// zone and IDMP state) as JSON, compares it with its golden file, reads
// it back losslessly, and writes the JSON back to the same RDB bytes.
func TestRDB14JSON(t *testing.T) {
	data := rdb.RDB14Sample()
	out := checkJSONRoundTrip(t, data)
	golden(t, "rdb14.jsonl", out)

	var back bytes.Buffer
	w, err := rdb.NewWriter(&back, rdb.WriterOptions{Version: 14})
	if err != nil {
		t.Fatal(err)
	}
	jr := rdb.NewJSONReader(bytes.NewReader(out))
	for {
		kv, err := jr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteKey(kv); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Bytes(), data) {
		t.Errorf("RDB from JSON differs:\n got %x\nwant %x", back.Bytes(), data)
	}
}

func TestRDB14JSONErrors(t *testing.T) {
	for _, in := range []string{
		`{"key":"a","type":"array","elements":[{"index":1}]}`,
		`{"key":"a","type":"array","elements":[{"index":1,"value":"x","kind":"bool"}]}`,
		`{"key":"a","type":"array","elements":[],"insertIndex":18446744073709551615}`,
		`{"key":"a","type":"list","values":["x"],"insertIndex":3}`,
		`{"key":"a","type":"array","values":["x"]}`,
	} {
		_, err := rdb.NewJSONReader(bytes.NewReader([]byte(in))).Next()
		if err == nil {
			t.Errorf("%s: no error", in)
		}
	}
	// An element whose text does not fit its kind cannot be written.
	jr := rdb.NewJSONReader(bytes.NewReader([]byte(`{"key":"a","type":"array","elements":[{"index":1,"value":"x","kind":"int"}]}`)))
	kv, err := jr.Next()
	if err != nil {
		t.Fatal(err)
	}
	w, _ := rdb.NewWriter(io.Discard, rdb.WriterOptions{Version: 14})
	if err := w.WriteKey(kv); err == nil {
		t.Error("an int element of text x was written")
	}
}
