package rdb

import (
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
		n := min(len(data)-off, 1+rng.IntN(300000))
		p.add(data[off : off+n])
		off += n
	}
	if got, want := p.sum(), crcUpdate(0, data); got != want {
		t.Fatalf("pipeline %016x, want %016x", got, want)
	}
}
