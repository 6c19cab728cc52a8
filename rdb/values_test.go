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
