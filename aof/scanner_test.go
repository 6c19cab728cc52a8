package aof

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// scanWhole feeds b to a scanner in chunks of size n.
func scanWhole(b []byte, n int) (*Scanner, error) {
	s := &Scanner{}
	for len(b) > 0 {
		k := min(n, len(b))
		if err := s.Feed(b[:k]); err != nil {
			return s, err
		}
		b = b[k:]
	}
	return s, nil
}

// readerBoundaries is what RESPReader makes of b: the end offset of
// every command, and of every command outside MULTI/EXEC.
func readerBoundaries(b []byte) (ends, safe []int64, err error) {
	r := NewRESPReader(bytes.NewReader(b))
	inTx := false
	for {
		args, err := r.ReadCommand()
		if errors.Is(err, io.EOF) {
			return ends, safe, nil
		}
		if err != nil {
			return ends, safe, err
		}
		ends = append(ends, r.Offset())
		switch {
		case equalFold(args[0], "multi"):
			inTx = true
		case equalFold(args[0], "exec"), equalFold(args[0], "discard"):
			inTx = false
		}
		if !inTx {
			safe = append(safe, r.Offset())
		}
	}
}

func respCommand(args ...string) []byte {
	var b bytes.Buffer
	w := NewWriter(&b)
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	w.WriteCommand(bs...)
	w.Flush()
	return b.Bytes()
}

func TestScanner(t *testing.T) {
	var stream []byte
	for _, c := range [][]string{
		{"SELECT", "0"}, {"SET", "k", "v"}, {"multi"}, {"INCR", "a\r\n*1\r\n"}, {"LPUSH", "l", string(make([]byte, 70000))},
		{"EXEC"}, {"PING"}, {"MULTI"}, {"SET", "x", ""}, {"DISCARD"}, {"REPLCONF", "GETACK", "*"}, {"MULTI"}, {"SET", "y", "1"},
	} {
		stream = append(stream, respCommand(c...)...)
	}
	ends, safe, err := readerBoundaries(stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 3, 7, 64, 1 << 20} {
		s, err := scanWhole(stream, n)
		if err != nil {
			t.Fatalf("chunks of %d: %v", n, err)
		}
		if s.Commands() != int64(len(ends)) || s.End() != ends[len(ends)-1] || s.Safe() != safe[len(safe)-1] || !s.InTransaction() {
			t.Errorf("chunks of %d: cmds %d end %d safe %d inTx %v; want %d %d %d true", n, s.Commands(), s.End(), s.Safe(), s.InTransaction(),
				len(ends), ends[len(ends)-1], safe[len(safe)-1])
		}
	}
	// Half a command counts for nothing.
	s, err := scanWhole(append(respCommand("SET", "a", "b"), respCommand("SET", "c", "d")[:9]...), 5)
	if err != nil || s.Commands() != 1 || s.End() != int64(len(respCommand("SET", "a", "b"))) {
		t.Errorf("partial: %+v %v", s, err)
	}
	for _, bad := range []string{"+OK\r\n", "*1\r\n+x\r\n", "*x\r\n", "*1\n", "*1\r\n$-1\r\n", "*" + string(bytes.Repeat([]byte("1"), 80))} {
		if _, err := scanWhole([]byte(bad), 3); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestScannerError: a *ParseError with the offset of the faulty byte,
// wrapping ErrProtocol, that reads "offset <n>: <what>"; and sticky.
func TestScannerError(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"*1\r\n$1\r\nxy\r\n", "offset 9: bulk string not terminated by CRLF"},
		{"*1\r\n+x\r\n", `offset 4: unexpected header "+x\r\n"`},
		{"*1\n", `offset 0: bad header "*1\n"`},
		{"*" + strings.Repeat("1", 80), "offset 63: header line too long"},
	} {
		s, err := scanWhole([]byte(tc.in), 3)
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrProtocol) || err.Error() != tc.want {
			t.Errorf("%q: got %v, want a *ParseError wrapping ErrProtocol: %s", tc.in, err, tc.want)
			continue
		}
		if again := s.Feed(respCommand("PING")); again != err {
			t.Errorf("%q: after an error Feed returns %v, want the same error", tc.in, again)
		}
	}
}

// FuzzScanner checks the scanner against RESPReader: the same
// commands, the same boundaries, whatever the chunking.
func FuzzScanner(f *testing.F) {
	f.Add(append(respCommand("MULTI"), respCommand("SET", "k", "v")...), uint8(3))
	f.Add(append(respCommand("SELECT", "1"), respCommand("EXEC")...), uint8(1))
	for i, b := range corpusFiles(f, "redis-replicator/*.aof", "ru301/*/appendonlydir/*.aof", "ru301/*/*/appendonlydir/*.aof") {
		f.Add(b, uint8(i*13))
	}
	f.Fuzz(func(t *testing.T, b []byte, n uint8) {
		s, serr := scanWhole(b, int(n)+1)
		ends, safe, rerr := readerBoundaries(b)
		if serr != nil {
			return // the scanner is stricter than the reader (inline commands, other types)
		}
		if rerr != nil {
			// The reader refuses what the scanner passed: only a command cut
			// short at the end may do that.
			if !errors.Is(rerr, io.ErrUnexpectedEOF) {
				t.Fatalf("reader: %v; scanner passed with %d commands", rerr, s.Commands())
			}
		}
		if s.Commands() != int64(len(ends)) {
			t.Fatalf("scanner %d commands, reader %d", s.Commands(), len(ends))
		}
		if len(ends) > 0 && s.End() != ends[len(ends)-1] {
			t.Fatalf("scanner end %d, reader %d", s.End(), ends[len(ends)-1])
		}
		if len(safe) > 0 && s.Safe() != safe[len(safe)-1] {
			t.Fatalf("scanner safe %d, reader %d", s.Safe(), safe[len(safe)-1])
		}
	})
}
