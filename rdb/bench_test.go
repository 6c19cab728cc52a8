package rdb_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	hdt "github.com/hdt3213/rdb/core"
	hdtmodel "github.com/hdt3213/rdb/model"

	"github.com/redkit/redkit/rdb"
)

// benchDump writes a mixed dump of about 20 MB with hdt3213/rdb's encoder:
// many small strings, listpack hashes and zsets, quicklists, hash-table
// sets and one large hash-table hash.
func benchDump(b *testing.B) []byte {
	b.Helper()
	var buf bytes.Buffer
	enc := hdt.NewEncoder(&buf).EnableCompress()
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	val := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte('a' + rng.IntN(26))
		}
		return p
	}
	must(enc.WriteHeader())
	must(enc.WriteAux("redis-ver", "7.0.15"))
	must(enc.WriteDBHeader(0, 200000, 0))
	for i := range 150000 {
		must(enc.WriteStringObject(fmt.Sprintf("user:%d:session", i), val(20+rng.IntN(200))))
	}
	for i := range 5000 {
		h := map[string][]byte{}
		for j := range 20 {
			h[fmt.Sprintf("f%d", j)] = val(10 + rng.IntN(30))
		}
		must(enc.WriteHashMapObject(fmt.Sprintf("hash:%d", i), h))
		var z []*hdtmodel.ZSetEntry
		for j := range 30 {
			z = append(z, &hdtmodel.ZSetEntry{Member: fmt.Sprintf("m%d", j), Score: rng.Float64()})
		}
		must(enc.WriteZSetObject(fmt.Sprintf("zset:%d", i), z))
		var l [][]byte
		for range 50 {
			l = append(l, val(5+rng.IntN(40)))
		}
		must(enc.WriteListObject(fmt.Sprintf("list:%d", i), l))
	}
	for i := range 200 {
		var s [][]byte
		for range 600 {
			s = append(s, val(8+rng.IntN(20)))
		}
		must(enc.WriteSetObject(fmt.Sprintf("set:%d", i), s))
	}
	big := map[string][]byte{}
	for j := range 100000 {
		big[fmt.Sprintf("field:%d", j)] = val(80)
	}
	must(enc.WriteHashMapObject("bighash", big))
	must(enc.WriteEnd())
	return buf.Bytes()
}

// BenchmarkReader reads every record and computes the stats (and so the
// memory estimate) of every key: the work of `redkit analyze`.
func BenchmarkReader(b *testing.B) {
	data := benchDump(b)
	for _, mode := range []string{"stats", "elements"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				err := eachKey(data, func(rd *rdb.Reader, _ *rdb.Record) error {
					if mode == "stats" {
						_, err := rd.Stats()
						return err
					}
					return rd.Elements(func(*rdb.Element) error { return nil })
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// dump: each key's DUMP payload, as sync and restore send it
	// (the validating walk, the copy and the payload's CRC).
	b.Run("dump", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		var out bytes.Buffer
		for b.Loop() {
			err := eachKey(data, func(rd *rdb.Reader, _ *rdb.Record) error {
				out.Reset()
				return rd.WriteDump(&out)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hdt3213", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			err := hdt.NewDecoder(bytes.NewReader(data)).Parse(func(hdtmodel.RedisObject) bool { return true })
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
