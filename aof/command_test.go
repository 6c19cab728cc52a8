package aof

import (
	"bytes"
	"testing"
)

func TestAppendCommandRoundTrip(t *testing.T) {
	for _, args := range [][][]byte{
		{[]byte("PING")},
		{[]byte("SET"), []byte("k"), []byte("")},
		{[]byte("SET"), []byte("bin\r\n\x00"), bytes.Repeat([]byte("v"), 10000)},
	} {
		b := AppendCommand([]byte("prefix"), args...)
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("prefix lost: %q", b)
		}
		got, err := NewRESPReader(bytes.NewReader(b[len("prefix"):])).ReadCommand()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(args) {
			t.Fatalf("got %d args, want %d", len(got), len(args))
		}
		for i := range got {
			if !bytes.Equal(got[i], args[i]) {
				t.Fatalf("arg %d: got %q, want %q", i, got[i], args[i])
			}
		}
		if name := CommandName(b[len("prefix"):]); !bytes.Equal(name, args[0]) {
			t.Fatalf("CommandName = %q, want %q", name, args[0])
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Class
	}{
		{"PING", ClassPing}, {"ping", ClassPing}, {"REPLCONF", ClassReplconf},
		{"publish", ClassPublish}, {"SPUBLISH", ClassPublish}, {"Select", ClassSelect},
		{"MULTI", ClassMulti}, {"exec", ClassExec}, {"SET", ClassData}, {"", ClassData},
		{"PINGS", ClassData}, {"EXPIRE", ClassData},
	} {
		if got := Classify([]byte(tc.name)); got != tc.want {
			t.Errorf("Classify(%q) = %d, want %d", tc.name, got, tc.want)
		}
	}
	if !ClassPing.Noop() || !ClassPublish.Noop() || ClassSelect.Noop() || ClassData.Noop() {
		t.Error("Noop is wrong")
	}
}

func TestSelectedDB(t *testing.T) {
	for _, tc := range []struct {
		cmd  []byte
		want int
	}{
		{SelectCommand(0), 0},
		{SelectCommand(15), 15},
		{AppendCommand(nil, []byte("select"), []byte("3")), 3},
		{AppendCommand(nil, []byte("SELECT"), []byte("-1")), -1},
		{AppendCommand(nil, []byte("SELECT"), []byte("x")), -1},
		{AppendCommand(nil, []byte("SET"), []byte("3")), -1},
		{[]byte("garbage"), -1},
	} {
		if got := SelectedDB(tc.cmd); got != tc.want {
			t.Errorf("SelectedDB(%q) = %d, want %d", tc.cmd, got, tc.want)
		}
	}
}

func FuzzCommandName(f *testing.F) {
	f.Add(AppendCommand(nil, []byte("SET"), []byte("k"), []byte("v")))
	f.Add(SelectCommand(7))
	f.Add([]byte("*1\r\n$999999999\r\nX"))
	f.Fuzz(func(t *testing.T, b []byte) {
		name := CommandName(b)
		if name != nil && !bytes.Contains(b, name) {
			t.Fatalf("name %q not in input", name)
		}
		_ = SelectedDB(b)
		_ = Classify(name)
	})
}
