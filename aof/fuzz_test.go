package aof

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redkit/redkit/rdb"
)

// corpusFiles returns the AOF-related files of the shared corpus to seed
// the fuzzers with; none when it is absent.
func corpusFiles(tb testing.TB, patterns ...string) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, p := range patterns {
		names, _ := filepath.Glob(filepath.Join(corpusDir, p))
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				tb.Fatal(err)
			}
			if len(b) > 1<<10 {
				b = b[:1<<10]
			}
			out = append(out, b)
		}
	}
	return out
}

var respSeeds = []string{
	"*1\r\n$4\r\nPING\r\n",
	"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n",
	"+OK\r\n-ERR x\r\n:-12\r\n$-1\r\n*-1\r\n_\r\n#t\r\n,1.5e3\r\n,-inf\r\n(123\r\n!3\r\nerr\r\n=7\r\ntxt:abc\r\n",
	"%1\r\n+k\r\n*2\r\n:1\r\n~1\r\n>1\r\n+p\r\n|1\r\n+a\r\n:1\r\n+v\r\n",
	"*1\r\n$1152921504606846976\r\nx",
	"PING\r\n",
}

func FuzzRESPReader(f *testing.F) {
	for _, s := range respSeeds {
		f.Add([]byte(s))
	}
	for _, b := range corpusFiles(f, "redis-replicator/*.aof", "ru301/*/appendonlydir/*.aof", "ru301/*/*/appendonlydir/*.aof") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog(data)()
		// Commands: what is read must write back to the same bytes.
		r := NewRESPReader(bytes.NewReader(data))
		var out bytes.Buffer
		w := NewWriter(&out)
		for {
			start := r.Offset()
			args, err := r.ReadCommand()
			if err != nil {
				checkErr(t, err, int64(len(data)))
				if err == io.EOF && r.Offset() != int64(len(data)) {
					t.Fatalf("EOF at offset %d of %d", r.Offset(), len(data))
				}
				break
			}
			if r.ValueOffset() != start {
				t.Fatalf("command at %d, reader says %d", start, r.ValueOffset())
			}
			if err := w.WriteCommand(args...); err != nil {
				t.Fatal(err)
			}
		}
		w.Flush()
		if got, want := out.Bytes(), data[:r.Offset()]; !bytes.Equal(got, want) {
			t.Fatalf("rewritten commands differ:\n got %q\nwant %q", got, want)
		}

		// Values: every complete value ends where the next starts, and
		// SkipValue agrees with ReadValue on every value ReadValue reads.
		r = NewRESPReader(bytes.NewReader(data))
		sk := NewRESPReader(bytes.NewReader(data))
		for {
			v, err := r.ReadValue()
			if err != nil {
				checkErr(t, err, int64(len(data)))
				break
			}
			k, text, err := sk.SkipValue()
			if err != nil {
				t.Fatalf("SkipValue at %d: %v; ReadValue read %+v", r.ValueOffset(), err, v)
			}
			if k != v.Kind || sk.Offset() != r.Offset() {
				t.Fatalf("SkipValue: kind %q ending at %d, ReadValue: %q ending at %d", k, sk.Offset(), v.Kind, r.Offset())
			}
			if isErr := k == Error || k == BulkError; isErr && !bytes.Equal(text, v.Str) || !isErr && text != nil {
				t.Fatalf("SkipValue text %q for %+v", text, v)
			}
		}
		// SkipValue never panics or hangs on anything.
		sk = NewRESPReader(bytes.NewReader(data))
		for {
			if _, _, err := sk.SkipValue(); err != nil {
				checkErr(t, err, int64(len(data)))
				break
			}
		}
	})
}

// checkErr checks that a read error is io.EOF or a *ParseError within
// the input wrapping a known sentinel.
func checkErr(t *testing.T, err error, size int64) {
	t.Helper()
	if err == io.EOF {
		return
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ParseError", err, err)
	}
	if pe.Offset < 0 || pe.Offset > size {
		t.Fatalf("error offset %d outside input of %d bytes: %v", pe.Offset, size, err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrProtocol) &&
		!errors.Is(err, ErrMulti) && !errors.Is(err, ErrManifest) && !isRDBError(err) {
		t.Fatalf("error wraps no sentinel: %v", err)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte("file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"))
	f.Add([]byte("# comment\nfile \"a b\\x41\" seq 2 type h\nFILE 'x\\'y' SEQ 3 TYPE i extra 1\n"))
	for _, b := range corpusFiles(f, "*/appendonlydir/*.manifest", "*/*/appendonlydir/*.manifest", "*/*/*/appendonlydir/*.manifest") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(bytes.NewReader(data))
		if err != nil {
			checkErr(t, err, int64(len(data)))
			return
		}
		// What parses writes back to a manifest that parses the same.
		var buf bytes.Buffer
		if _, err := m.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if m.Base == nil && len(m.Incrs) == 0 && len(m.History) == 0 {
			return // only comments: WriteTo writes an empty file
		}
		text := buf.Bytes()
		m2, err := ParseManifest(bytes.NewReader(text))
		if err != nil {
			t.Fatalf("rewritten manifest %q: %v", text, err)
		}
		if !manifestsEqual(m, m2) {
			t.Fatalf("round trip: got %+v, want %+v", m2, m)
		}
	})
}

func manifestsEqual(a, b *Manifest) bool {
	if (a.Base == nil) != (b.Base == nil) || a.Base != nil && *a.Base != *b.Base {
		return false
	}
	eq := func(x, y []ManifestFile) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	return eq(a.Incrs, b.Incrs) && eq(a.History, b.History)
}

func FuzzReader(f *testing.F) {
	for _, s := range respSeeds[:2] {
		f.Add([]byte(s))
	}
	f.Add([]byte("#TS:1700000000\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n*1\r\n$4\r\nEXEC\r\n"))
	for _, b := range corpusFiles(f, "redis-replicator/*.aof", "redis/*.aof", "ru301/Ex-*/appendonlydir/*", "fred.rs/appendonlydir/*.rdb") {
		f.Add(b)
	}
	f.Add([]byte("REDIS0011\xff\x00\x00\x00\x00\x00\x00\x00\x00" + "0123456789abcdef0123456789abcdef01234567")) // a dump, then bytes Redis ignores
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		last := int64(-1)
		for {
			e, err := r.Next()
			if err != nil {
				checkErr(t, err, int64(len(data)))
				break
			}
			switch e.Kind {
			case KindRDB:
				for {
					if _, err := e.RDB.Next(); err != nil {
						break
					}
				}
			case KindCommand:
				if e.Offset <= last || e.Offset >= int64(len(data)) {
					t.Fatalf("command offset %d after %d in %d bytes", e.Offset, last, len(data))
				}
				last = e.Offset
				if len(e.Args) == 0 || ascii(e.Args[0], "select") {
					t.Fatalf("yielded %q", e.Args)
				}
			}
		}
		if _, off := r.ValidOffset(); off < 0 || off > int64(len(data)) {
			t.Fatalf("valid offset %d outside %d bytes", off, len(data))
		}
		if off, ok := r.Trailing(); ok && (off < 9 || off >= int64(len(data))) {
			t.Fatalf("trailing bytes at %d of %d bytes", off, len(data))
		}
	})
}

func isRDBError(err error) bool {
	var pe *rdb.ParseError
	return errors.As(err, &pe)
}

// watchdog panics, naming the input, if the fuzz function takes more than
// a few seconds on it. Call the function it returns when done.
func watchdog(data []byte) func() {
	tm := time.AfterFunc(5*time.Second, func() { panic(fmt.Sprintf("slow input %q", data)) })
	return func() { tm.Stop() }
}
