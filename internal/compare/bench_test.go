package compare

import (
	"context"
	"os"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
)

// BenchmarkDumpVersusItself compares FillMixed's dump with itself; bytes
// are both sides' dump bytes.
func BenchmarkDumpVersusItself(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	if err := redistest.FillMixed(context.Background(), srv.Client(), 1); err != nil {
		b.Fatal(err)
	}
	path := srv.Save(b)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(2 * fi.Size())
	b.ReportAllocs()
	for b.Loop() {
		res := mustCompare(b, rdbFile{path}, rdbFile{path}, Options{})
		if !res.Identical() {
			b.Fatal(res.Counts)
		}
	}
}
