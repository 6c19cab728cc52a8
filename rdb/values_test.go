package rdb_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/redkit/redkit/rdb"
)

// preGAFunctionDump crafts an RDB file holding one library in the pre-GA
// FUNCTION form (opcode 246: name, engine, description flag and
// description, code), as Redis 7.0-rc1 and rc2 wrote it.
func preGAFunctionDump(name, engine, desc, code string) []byte {
	b := []byte("REDIS0010")
	str := func(s string) { b = append(append(b, byte(len(s))), s...) }
	b = append(b, 0xf6)
	str(name)
	str(engine)
	if desc == "" {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		str(desc)
	}
	str(code)
	b = append(b, 0xff)
	return append(b, make([]byte, 8)...) // checksum disabled
}

func TestPreGAFunctionRecord(t *testing.T) {
	code := "redis.register_function('f', function() return 1 end)"
	for _, desc := range []string{"", "a description"} {
		rd := rdb.NewReader(bytes.NewReader(preGAFunctionDump("mylib", "LUA", desc, code)))
		rec, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		want := "#!LUA name=mylib\n" + code
		if rec.Kind != rdb.KindFunction || string(rec.Data) != want || string(rec.Name) != "mylib" {
			t.Errorf("desc %q: got %v %q name %q, want a function %q", desc, rec.Kind, rec.Data, rec.Name, want)
		}
		if _, err := rd.Next(); !errors.Is(err, io.EOF) {
			t.Errorf("desc %q: after the library: %v", desc, err)
		}
	}
}

// TestModuleAuxRoundTrip writes module aux records read from a file and
// reads them back unchanged.
func TestModuleAuxRoundTrip(t *testing.T) {
	type aux struct {
		id   rdb.ModuleID
		when uint64
		data string
	}
	// Module-serialized payloads: a string (opcode 5), then EOF (0).
	in := []aux{{0x123456789abc0001, 1, "\x05\x03abc\x00"}, {0x123456789abc0001, 2, "\x02\x07\x00"}}
	var f bytes.Buffer
	w, err := rdb.NewWriter(&f, rdb.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range in {
		if err := w.WriteModuleAux(a.id, a.when, []byte(a.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteModuleAux(1, 1, []byte("\x05\x01x")); err == nil {
		t.Error("a payload without its EOF opcode was written")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rd := rdb.NewReader(&f)
	var got []aux
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == rdb.KindModuleAux {
			got = append(got, aux{rec.Module, rec.When, string(rec.Data)})
		}
	}
	if len(got) != len(in) || got[0] != in[0] || got[1] != in[1] {
		t.Errorf("read back %+v, want %+v", got, in)
	}
}

// TestModuleAuxJSON writes module aux records as JSON and reads them
// back; malformed module-aux objects are refused.
func TestModuleAuxJSON(t *testing.T) {
	id, ok := rdb.ModuleIDOf("test__rdb", 1)
	if !ok || id.Name() != "test__rdb" || id.Version() != 1 {
		t.Fatalf("ModuleIDOf: %v %v", id, ok)
	}
	payload := "\x05\x03abc\x02\x40\x81\x00"
	for _, array := range []bool{false, true} {
		var js bytes.Buffer
		w := rdb.NewJSONWriter(&js, rdb.JSONOptions{Array: array})
		if err := w.WriteModuleAux(id, 2, []byte(payload)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		rec, err := rdb.NewJSONReader(&js).NextRecord()
		if err != nil {
			t.Fatalf("array=%v: %v", array, err)
		}
		if rec.Kind != rdb.KindModuleAux || rec.Module != id || rec.When != 2 || string(rec.Data) != payload {
			t.Errorf("array=%v: read back %v %v when=%d %q", array, rec.Kind, rec.Module, rec.When, rec.Data)
		}
	}
	// The same field names in other objects, of other JSON types, are
	// left alone.
	other := `{"key":"s","type":"string","value":"v","version":"x","when":null,"payload":5,"module":7}` + "\n" +
		`{"key":"t","type":"string","value":"w","version":1,"when":2,"payload":"not base64","module":"m"}`
	jr := rdb.NewJSONReader(bytes.NewReader([]byte(other)))
	for _, want := range []string{"s", "t"} {
		if kv, err := jr.Next(); err != nil || string(kv.Key) != want {
			t.Errorf("key %q with module-aux field names: %v", want, err)
		}
	}
	for _, bad := range []string{
		`{"type":"module-aux","module":"test__rdb","version":1,"when":2}`,
		`{"type":"module-aux","module":"test_rdb","version":1,"when":2,"payload":"AA=="}`,
		`{"type":"module-aux","module":"test__rdb","version":1024,"when":2,"payload":"AA=="}`,
		`{"type":"module-aux","module":"test__rdb","version":1,"when":2,"payload":"BQNh"}`,    // ends inside a string
		`{"type":"module-aux","module":"test__rdb","version":1,"when":2,"payload":"AAA="}`,    // a byte after EOF
		`{"type":"module-aux","module":"test__rdb","version":1,"when":2,"payload":"Bw=="}`,    // unknown opcode
		`{"type":"module-aux","module":"test__rdb","version":1,"when":2,"payload":"not b64"}`, // not base64
	} {
		if _, err := rdb.NewJSONReader(bytes.NewReader([]byte(bad))).NextRecord(); !errors.Is(err, rdb.ErrJSON) {
			t.Errorf("%s: got %v, want ErrJSON", bad, err)
		}
	}
}
