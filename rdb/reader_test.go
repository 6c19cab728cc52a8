package rdb_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	hdt "github.com/hdt3213/rdb/core"
	hdtmodel "github.com/hdt3213/rdb/model"

	"github.com/redkit/redkit/rdb"
)

// corpusDir is the shared corpus of real dumps, beside the checkout.
const corpusDir = "../../shared/corpus"

// corpusFiles returns the corpus's .rdb files, or skips the test when the
// corpus is absent (it lives outside the repository).
func corpusFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	err := filepath.Walk(corpusDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".rdb") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil || len(files) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared corpus missing at %s: %v", corpusDir, err)
		}
		t.Skipf("shared corpus not found at %s", corpusDir)
	}
	return files
}

// badFiles are corpus files that must fail, with the error they must wrap.
var badFiles = map[string]error{
	"librdb/future_v19.rdb":        rdb.ErrUnsupportedVersion,
	"librdb/invalid_chksum_v8.rdb": rdb.ErrChecksum,
	"redis/corrupt_ziplist.rdb":    rdb.ErrCorrupt,
}

func rel(p string) string { r, _ := filepath.Rel(corpusDir, p); return filepath.ToSlash(r) }

// dumpFile reads a file with our reader and renders every key canonically.
func dumpFile(t testing.TB, data []byte) (map[string]string, error) {
	t.Helper()
	out := map[string]string{}
	rd := rdb.NewReader(bytes.NewReader(data))
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if rec.Kind != rdb.KindKey {
			continue
		}
		if rec.Type == rdb.TypeModule {
			continue // hdt3213 skips module values
		}
		var elems []string
		typ := rec.Type
		err = rd.Elements(func(e *rdb.Element) error {
			switch typ {
			case rdb.TypeString, rdb.TypeList, rdb.TypeSet:
				elems = append(elems, string(e.Member))
			case rdb.TypeZSet:
				elems = append(elems, fmt.Sprintf("%s=%s", e.Member, fmtScore(e.Score)))
			case rdb.TypeHash:
				elems = append(elems, fmt.Sprintf("%s=%s", e.Member, e.Value))
			case rdb.TypeStream:
				var fs []string
				for i := 0; i+1 < len(e.Fields); i += 2 {
					fs = append(fs, string(e.Fields[i])+"="+string(e.Fields[i+1]))
				}
				// hdt3213 keeps fields in a map: compare unique pairs.
				sort.Strings(fs)
				fs = slices.Compact(fs)
				elems = append(elems, e.ID.String()+":"+strings.Join(fs, ","))
			}
			return nil
		})
		if err != nil {
			return out, err
		}
		if typ == rdb.TypeSet || typ == rdb.TypeHash {
			sort.Strings(elems)
		}
		exp := ""
		if rec.ExpireAt != rdb.NoExpiry {
			exp = fmt.Sprint(rec.ExpireAt)
		}
		out[fmt.Sprintf("%d/%s", rec.DB, rec.Key)] = fmt.Sprintf("%s exp=%s %q", typ, exp, elems)
	}
}

func fmtScore(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Sprint(f)
	}
	return fmt.Sprintf("%.17g", f)
}

// dumpHDT renders the same view through github.com/hdt3213/rdb.
func dumpHDT(data []byte) (map[string]string, error) {
	out := map[string]string{}
	err := hdt.NewDecoder(bytes.NewReader(data)).Parse(func(o hdtmodel.RedisObject) bool {
		var elems []string
		typ := o.GetType()
		switch v := o.(type) {
		case *hdtmodel.StringObject:
			elems = append(elems, string(v.Value))
		case *hdtmodel.ListObject:
			for _, x := range v.Values {
				elems = append(elems, string(x))
			}
		case *hdtmodel.SetObject:
			for _, x := range v.Members {
				elems = append(elems, string(x))
			}
			sort.Strings(elems)
		case *hdtmodel.HashObject:
			for f, x := range v.Hash {
				elems = append(elems, f+"="+string(x))
			}
			sort.Strings(elems)
		case *hdtmodel.ZSetObject:
			for _, x := range v.Entries {
				elems = append(elems, x.Member+"="+fmtScore(x.Score))
			}
		case *hdtmodel.StreamObject:
			for _, n := range v.Entries {
				for _, m := range n.Msgs {
					if m.Deleted {
						continue
					}
					var fs []string
					for f, x := range m.Fields {
						fs = append(fs, f+"="+x)
					}
					sort.Strings(fs)
					elems = append(elems, fmt.Sprintf("%d-%d:%s", m.Id.Ms, m.Id.Sequence, strings.Join(fs, ",")))
				}
			}
		default:
			return true // aux, functions, modules: compared elsewhere
		}
		exp := ""
		if e := o.GetExpiration(); e != nil {
			exp = fmt.Sprint(e.UnixMilli())
		}
		out[fmt.Sprintf("%d/%s", o.GetDBIndex(), o.GetKey())] = fmt.Sprintf("%s exp=%s %q", typ, exp, elems)
		return true
	})
	return out, err
}

// TestCorpus decodes every dump of the shared corpus; good files must
// decode in full and match the hdt3213/rdb decoder key by key, bad ones
// must fail with the expected error.
func TestCorpus(t *testing.T) {
	for _, p := range corpusFiles(t) {
		name := rel(p)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := dumpFile(t, data)
			if want, bad := badFiles[name]; bad {
				if !errors.Is(err, want) {
					t.Fatalf("got error %v, want one wrapping %v", err, want)
				}
				var pe *rdb.ParseError
				if !errors.As(err, &pe) || pe.Offset <= 0 {
					t.Fatalf("error %v carries no offset", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			want, herr := dumpHDT(data)
			if herr != nil {
				t.Logf("hdt3213/rdb cannot read it (%v); checked decoding only", herr)
				return
			}
			for k, w := range want {
				if g, ok := got[k]; !ok {
					t.Errorf("key %s: missing, hdt3213 has %s", k, clip(w))
				} else if g != w {
					t.Errorf("key %s:\n got %s\nwant %s", k, clip(g), clip(w))
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("key %s: we read it, hdt3213 does not", k)
				}
			}
		})
	}
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// TestTruncated cuts every good corpus file at many points: each cut must
// give an error (never a panic or a silent success), and a cut past the
// header must be reported as truncation.
func TestTruncated(t *testing.T) {
	for _, p := range corpusFiles(t) {
		if _, bad := badFiles[rel(p)]; bad {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		step := max(1, len(data)/97)
		for n := 0; n < len(data); n += step {
			_, err := readAll(data[:n])
			if err == nil {
				t.Errorf("%s cut at %d of %d bytes: no error", rel(p), n, len(data))
				continue
			}
			if n >= 9 && !rdb.IsTruncated(err) {
				t.Errorf("%s cut at %d of %d bytes: %v, want truncation", rel(p), n, len(data), err)
			}
		}
	}
}

// eachKey reads data to its end and calls fn for every key record; it
// returns the first error of the reader or of fn.
func eachKey(data []byte, fn func(rd *rdb.Reader, rec *rdb.Record) error) error {
	rd := rdb.NewReader(bytes.NewReader(data))
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if rec.Kind == rdb.KindKey {
			if err := fn(rd, rec); err != nil {
				return err
			}
		}
	}
}

// readAll reads every record and walks every value.
func readAll(data []byte) (int, error) {
	keys := 0
	err := eachKey(data, func(rd *rdb.Reader, _ *rdb.Record) error {
		keys++
		_, err := rd.Stats()
		return err
	})
	return keys, err
}

// TestHostileLength feeds a string whose length claims 2^60 bytes: it
// must fail as truncated without allocating anything near that.
func TestHostileLength(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("REDIS0009")
	b.WriteByte(0) // string type
	b.WriteByte(0x81)
	b.Write([]byte{0x10, 0, 0, 0, 0, 0, 0, 0}) // key length 2^60
	b.WriteString("abc")
	_, err := readAll(b.Bytes())
	if !rdb.IsTruncated(err) {
		t.Fatalf("got %v, want truncation", err)
	}
	// An LZF string claiming a huge uncompressed size is corrupt.
	b.Reset()
	b.WriteString("REDIS0009")
	b.Write([]byte{0, 1, 'k', 0xc3, 0x02, 0x81, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	_, err = readAll(b.Bytes())
	if !errors.Is(err, rdb.ErrCorrupt) {
		t.Fatalf("got %v, want corruption", err)
	}
}

// TestChecksumFlip flips one byte inside a value: the CRC must catch it.
func TestChecksumFlip(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(corpusDir, "hdt3213-rdb/memory.rdb"))
	if err != nil {
		t.Skip("corpus absent")
	}
	i := bytes.Index(data, []byte("hello")) // inside some value or key
	if i < 0 {
		i = len(data) / 2
	}
	bad := bytes.Clone(data)
	bad[i] ^= 0x20
	if _, err := readAll(bad); !errors.Is(err, rdb.ErrChecksum) {
		t.Fatalf("got %v, want checksum error", err)
	}
}

func TestBadMagic(t *testing.T) {
	for _, in := range []string{"", "RED", "NOTREDIS0009", "REDIS00x9"} {
		if _, err := readAll([]byte(in)); !errors.Is(err, rdb.ErrBadMagic) {
			t.Errorf("%q: got %v, want bad magic", in, err)
		}
	}
}

func walkRDB(dir string, fn func(string)) error {
	return filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".rdb") {
			fn(p)
		}
		return nil
	})
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestReadFailureInElements: an I/O error of the underlying reader while
// Elements walks a value is reported with its offset and key, and still
// wraps the original error.
func TestReadFailureInElements(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(corpusDir, "hdt3213-rdb/linkedlist.rdb"))
	if err != nil {
		t.Skip("corpus absent")
	}
	boom := errors.New("disk on fire")
	rd := rdb.NewReader(&failingReader{data: data[:len(data)/2], err: boom})
	for {
		rec, err := rd.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if rec.Kind != rdb.KindKey {
			continue
		}
		err = rd.Elements(func(*rdb.Element) error { return nil })
		var pe *rdb.ParseError
		if !errors.Is(err, boom) || !errors.As(err, &pe) || pe.Offset == 0 || pe.Key == nil {
			t.Fatalf("got %v, want a *ParseError with offset and key wrapping %v", err, boom)
		}
		return
	}
}
