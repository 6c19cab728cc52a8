package rdb

import (
	"fmt"
	"hash/crc64"
	"math/rand/v2"
	"testing"
)

func TestCRCCombine(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 7, 100, 4096, 70000} {
		a := make([]byte, 1+rng.IntN(5000))
		b := make([]byte, n)
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want := crcUpdate(crcUpdate(0, a), b)
		got := crcCombine(crcUpdate(0, a), crcUpdate(0, b), int64(len(b)))
		if got != want {
			t.Errorf("len(B)=%d: combine %016x, want %016x", n, got, want)
		}
	}
	// The check value of CRC-64/Jones as Redis's crc64 test uses it.
	if got := crcUpdate(0, []byte("123456789")); got != 0xe9c6d914c4b8d9ca {
		t.Errorf("crc64(123456789) = %016x, want e9c6d914c4b8d9ca", got)
	}
}

func TestCRCPipeline(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	var p crcPipeline
	for off := 0; off < len(data); {
		n := 1 + rng.IntN(300000)
		if rng.IntN(2) == 0 {
			n = 1 + rng.IntN(200) // pieces gathered into a staged block
		}
		n = min(len(data)-off, n)
		p.add(data[off : off+n])
		off += n
		if rng.IntN(50) == 0 { // a sum in the middle keeps the order
			if got, want := p.sum(), crcUpdate(0, data[:off]); got != want {
				t.Fatalf("pipeline at %d: %016x, want %016x", off, got, want)
			}
		}
	}
	if got, want := p.sum(), crcUpdate(0, data); got != want {
		t.Fatalf("pipeline %016x, want %016x", got, want)
	}
}

// BenchmarkCRC64 measures crcUpdate on payload-sized and block-sized
// inputs, against hash/crc64 with the same table.
func BenchmarkCRC64(b *testing.B) {
	for _, n := range []int{40, 300, 4 << 10, 256 << 10} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i * 7)
		}
		b.Run(fmt.Sprintf("redkit/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				crcUpdate(0, p)
			}
		})
		b.Run(fmt.Sprintf("hash-crc64/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				crc64.Update(0, crcTable, p)
			}
		})
	}
}

// TestCRCFold checks the folded CRC (crcUpdate, where the CPU has
// PCLMULQDQ) against the tables alone, on every length around the fold's
// threshold and block size, with and without an initial value.
func TestCRCFold(t *testing.T) {
	if !haveCLMUL {
		t.Skip("no carry-less multiply on this CPU: crcUpdate is the tables")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	data := make([]byte, 70000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	lengths := []int{65536, 65537, 69999}
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		for _, init := range []uint64{0, 0xe9c6d914c4b8d9ca, ^uint64(0)} {
			off := rng.IntN(len(data) - n + 1)
			p := data[off : off+n]
			if got, want := crcUpdate(init, p), crcUpdateTable(init, p); got != want {
				t.Fatalf("len %d, init %016x: folded %016x, tables %016x", n, init, got, want)
			}
		}
	}
	// Text longer than crcFoldMin, from offset 0.
	long := []byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	if got, want := crcUpdate(0, long), crcUpdateTable(0, long); got != want {
		t.Fatalf("72 bytes: folded %016x, tables %016x", got, want)
	}
}

// FuzzCRCFold compares the folded CRC with the tables on any input.
func FuzzCRCFold(f *testing.F) {
	f.Add(uint64(0), []byte("123456789"))
	f.Add(uint64(1), make([]byte, 100))
	f.Fuzz(func(t *testing.T, init uint64, p []byte) {
		if got, want := crcUpdate(init, p), crcUpdateTable(init, p); got != want {
			t.Fatalf("len %d: folded %016x, tables %016x", len(p), got, want)
		}
	})
}
