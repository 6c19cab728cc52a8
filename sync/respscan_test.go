package sync

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/redkit/redkit/aof"
)

// scanWhole feeds b to a scanner in chunks of size n.
func scanWhole(b []byte, n int) (*cmdScanner, error) {
	s := &cmdScanner{}
	for len(b) > 0 {
		k := min(n, len(b))
		if err := s.scan(b[:k]); err != nil {
			return s, err
		}
		b = b[k:]
	}
	return s, nil
}

// readerBoundaries is what aof.RESPReader makes of b: the end offset of
// every command, and of every command outside MULTI/EXEC.
func readerBoundaries(b []byte) (ends, safe []int64, err error) {
	r := aof.NewRESPReader(bytes.NewReader(b))
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
		case eqFold(args[0], "multi"):
			inTx = true
		case eqFold(args[0], "exec"), eqFold(args[0], "discard"):
			inTx = false
		}
		if !inTx {
			safe = append(safe, r.Offset())
		}
	}
}

func resp(args ...string) []byte {
	var b bytes.Buffer
	w := aof.NewWriter(&b)
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	w.WriteCommand(bs...)
	w.Flush()
	return b.Bytes()
}

func TestCmdScanner(t *testing.T) {
	var stream []byte
	for _, c := range [][]string{
		{"SELECT", "0"}, {"SET", "k", "v"}, {"multi"}, {"INCR", "a\r\n*1\r\n"}, {"LPUSH", "l", string(make([]byte, 70000))},
		{"EXEC"}, {"PING"}, {"MULTI"}, {"SET", "x", ""}, {"DISCARD"}, {"REPLCONF", "GETACK", "*"}, {"MULTI"}, {"SET", "y", "1"},
	} {
		stream = append(stream, resp(c...)...)
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
		if s.cmds != int64(len(ends)) || s.end != ends[len(ends)-1] || s.safe != safe[len(safe)-1] || !s.inTx {
			t.Errorf("chunks of %d: cmds %d end %d safe %d inTx %v; want %d %d %d true", n, s.cmds, s.end, s.safe, s.inTx,
				len(ends), ends[len(ends)-1], safe[len(safe)-1])
		}
	}
	// Half a command counts for nothing.
	s, err := scanWhole(append(resp("SET", "a", "b"), resp("SET", "c", "d")[:9]...), 5)
	if err != nil || s.cmds != 1 || s.end != int64(len(resp("SET", "a", "b"))) {
		t.Errorf("partial: %+v %v", s, err)
	}
	for _, bad := range []string{"+OK\r\n", "*1\r\n+x\r\n", "*x\r\n", "*1\n", "*1\r\n$-1\r\n", "*" + string(bytes.Repeat([]byte("1"), 80))} {
		if _, err := scanWhole([]byte(bad), 3); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// FuzzCmdScanner checks the scanner against aof.RESPReader: the same
// commands, the same boundaries, whatever the chunking.
func FuzzCmdScanner(f *testing.F) {
	f.Add(append(resp("MULTI"), resp("SET", "k", "v")...), uint8(3))
	f.Add(append(resp("SELECT", "1"), resp("EXEC")...), uint8(1))
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
				t.Fatalf("reader: %v; scanner passed with %d commands", rerr, s.cmds)
			}
		}
		if s.cmds != int64(len(ends)) {
			t.Fatalf("scanner %d commands, reader %d", s.cmds, len(ends))
		}
		if len(ends) > 0 && s.end != ends[len(ends)-1] {
			t.Fatalf("scanner end %d, reader %d", s.end, ends[len(ends)-1])
		}
		if len(safe) > 0 && s.safe != safe[len(safe)-1] {
			t.Fatalf("scanner safe %d, reader %d", s.safe, safe[len(safe)-1])
		}
	})
}
