package pipeline

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/redkit/redkit/rdb"
)

func sampleRDB(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/sample.rdb")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const setAB = "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n"

func TestSniff(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     string // the source's type, or the error's
		commands bool
	}{
		{"rdb", string(sampleRDB(t)), "aof", false},
		{"aof", setAB, "aof", true},
		{"aof-ts", "#TS:1700000000\r\n" + setAB, "aof", true},
		{"json", ` [{"db":0,"key":"a","type":"string","value":"b"}]`, "json", false},
		{"jsonl", `{"db":0,"key":"a","type":"string","value":"b"}` + "\n", "json", false},
		{"empty", "", "empty", false},
		{"other", "hello world", "format", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := Sniff("in", strings.NewReader(tt.in), nil)
			got := ""
			switch s := src.(type) {
			case *AOFSource:
				got = "aof"
				if s.Commands() != tt.commands {
					t.Errorf("Commands() = %v, want %v", s.Commands(), tt.commands)
				}
			case *JSONSource:
				got = "json"
			}
			var fe *FormatError
			switch {
			case errors.Is(err, ErrEmptyInput):
				got = "empty"
			case errors.As(err, &fe):
				got = "format"
				if want := `in: input is neither an RDB dump (REDIS or VALKEY magic), an AOF (RESP commands) nor redkit JSON (first bytes "hello ")`; err.Error() != want {
					t.Errorf("error %q, want %q", err, want)
				}
			case err != nil:
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestCopyNeedsReplay: an AOF with an RDB preamble into a sink that needs
// a keyspace is refused unless replayed, then holds the command's key.
func TestCopyNeedsReplay(t *testing.T) {
	in := append(sampleRDB(t), setAB...)
	for _, replay := range []bool{false, true} {
		src, err := Sniff("in", bytes.NewReader(in), nil)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		sink := NewJSONSink(&out, rdb.JSONOptions{})
		err = Copy(context.Background(), src, sink, Options{Replay: replay})
		if !replay {
			if !errors.Is(err, ErrNeedsReplay) {
				t.Fatalf("without replay: got %v, want ErrNeedsReplay", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), `{"db":0,"key":"a","type":"string","value":"b"}`) {
			t.Errorf("replayed output lacks the key a")
		}
		if got := sink.Stats().Keys; got < 2 {
			t.Errorf("keys = %d, want the dump's and a", got)
		}
	}
}

// TestCommandFilter: AOF commands pass a filter by database only.
func TestCommandFilter(t *testing.T) {
	aof := "*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n" + setAB
	src, err := Sniff("in", strings.NewReader(aof), &rdb.Filter{Match: "a*"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = Copy(context.Background(), src, NewRESPSink(&out, RESPOptions{}), Options{})
	var cfe *CommandFilterError
	if !errors.As(err, &cfe) || cfe.Offset != 23 {
		t.Fatalf("got %v, want a *CommandFilterError at offset 23", err)
	}

	src, err = Sniff("in", strings.NewReader(aof), &rdb.Filter{DBs: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	sink := NewRESPSink(&out, RESPOptions{})
	if err := Copy(context.Background(), src, sink, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if got := sink.Stats().Commands; got != 0 {
		t.Errorf("commands of db 1 under --db 0: %d written, want 0", got)
	}
}

// TestCopyDBMap: keys and commands move to the database DBMap names.
func TestCopyDBMap(t *testing.T) {
	for _, in := range []string{
		`{"db":3,"key":"a","type":"string","value":"b"}` + "\n",
		"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n" + setAB,
	} {
		src, err := Sniff("in", strings.NewReader(in), nil)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		sink := NewRESPSink(&out, RESPOptions{})
		if err := Copy(context.Background(), src, sink, Options{DBMap: map[int]int{3: 5}}); err != nil {
			t.Fatal(err)
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		if want := "*2\r\n$6\r\nSELECT\r\n$1\r\n5\r\n" + setAB; out.String() != want {
			t.Errorf("got %q, want %q", out.String(), want)
		}
	}
}

// TestCopyCanceled: Copy stops when its context is done.
func TestCopyCanceled(t *testing.T) {
	src, err := Sniff("in", bytes.NewReader(sampleRDB(t)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := Copy(ctx, src, NewRESPSink(&out, RESPOptions{}), Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
