package rdb

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
)

// setPayload is the DUMP payload (RDB 10) of a hash-table set of n
// members of 16 bytes: elements that the decoder hands out one by one.
func setPayload(n int) []byte {
	p := append([]byte{typeSet}, appendLength(nil, uint64(n))...)
	for i := range n {
		p = appendLength(p, 16)
		p = fmt.Appendf(p, "member:%09d", i)
	}
	p = append(p, 10, 0)
	return binary.LittleEndian.AppendUint64(p, crcUpdate(0, p))
}

// TestDecodeDumpBigPayload: a payload far larger than the read buffer is
// streamed, not copied whole: restore --mode commands decodes values
// bigger than proto-max-bulk-len and writes their elements in batches,
// so a copy would be the value once more in memory. Small ones decode
// as well.
func TestDecodeDumpBigPayload(t *testing.T) {
	for _, n := range []int{10, 500_000} {
		p := setPayload(n)
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		got := 0
		err := DecodeDump([]byte("k"), p, func(kv *KeyValue) error {
			return kv.Elements(func(e *Element) error {
				if len(e.Member) != 16 {
					t.Fatalf("member %d: %q", got, e.Member)
				}
				got++
				return nil
			})
		})
		runtime.ReadMemStats(&ms1)
		if err != nil {
			t.Fatalf("%d members: %v", n, err)
		}
		if got != n {
			t.Fatalf("%d members: decoded %d", n, got)
		}
		if alloc := ms1.TotalAlloc - ms0.TotalAlloc; len(p) > 1<<20 && alloc > uint64(len(p))/2 {
			t.Errorf("decoding a payload of %d bytes allocated %d bytes", len(p), alloc)
		}
	}
}
