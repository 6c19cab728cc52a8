package aof

import (
	"bytes"
	"testing"
)

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	big := bytes.Repeat([]byte{'x'}, 5000)
	if err := w.WriteCommand([]byte("SET"), []byte("k\r\n\x00"), big); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteCommand(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\x00\r\n$5000\r\n" + string(big) + "\r\n*0\r\n"
	if got := b.String(); got != want {
		t.Fatalf("got %q..., want %q...", got[:40], want[:40])
	}
	if w.Commands() != 2 {
		t.Fatalf("Commands() = %d", w.Commands())
	}
}
