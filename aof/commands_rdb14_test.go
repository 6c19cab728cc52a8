package aof

import (
	"reflect"
	"strings"
	"testing"

	"github.com/redkit/redkit/rdb"
)

// TestRewriterRDB14 turns Redis 8.8's values into their commands: an
// array into ARMSET batches and ARSEEK, a stream's NACK zone into XNACK
// after the XCLAIMs of the owned entries.
func TestRewriterRDB14(t *testing.T) {
	arr := fakeKey(0, "a", rdb.TypeArray, 99,
		rdb.Element{Index: 0, Member: []byte("-7"), Kind: rdb.ArrayInt},
		rdb.Element{Index: 3, Member: []byte("1.5"), Kind: rdb.ArrayFloat},
		rdb.Element{Index: 1<<64 - 2, Member: []byte("x")})
	arr.Array = func() *rdb.ArrayInfo { return &rdb.ArrayInfo{Count: 3, InsertIndex: 49} }
	plain := fakeKey(0, "b", rdb.TypeArray, rdb.NoExpiry, rdb.Element{Index: 5, Member: []byte("y")})

	st := fakeKey(0, "s", rdb.TypeStream, rdb.NoExpiry,
		rdb.Element{ID: rdb.StreamID{Ms: 1, Seq: 1}, Fields: [][]byte{[]byte("f"), []byte("v")}},
		rdb.Element{ID: rdb.StreamID{Ms: 2, Seq: 1}, Fields: [][]byte{[]byte("f"), []byte("w")}})
	info := &rdb.StreamInfo{Length: 2, LastID: rdb.StreamID{Ms: 2, Seq: 1}, EntriesAdded: 2,
		Groups: []rdb.StreamGroup{{
			Name: "g", LastID: rdb.StreamID{Ms: 2, Seq: 1}, EntriesRead: 2,
			Pending: []rdb.PendingEntry{
				{ID: rdb.StreamID{Ms: 1, Seq: 1}, DeliveryTime: 10, DeliveryCount: 1, Consumer: "c"},
				{ID: rdb.StreamID{Ms: 2, Seq: 1}, DeliveryTime: 20, DeliveryCount: 3},
			},
			Consumers: []rdb.StreamConsumer{{Name: "c"}},
			Nacked:    []rdb.StreamID{{Ms: 2, Seq: 1}},
		}}}
	st.Stream = func() *rdb.StreamInfo { return info }

	var r recorder
	rw := NewRewriter(RewriteOptions{Batch: 2})
	for _, k := range []*rdb.KeyValue{arr, plain, st} {
		if err := rw.Key(k, r.emit); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"SELECT 0",
		"ARMSET a 0 -7 3 1.5",
		"ARMSET a 18446744073709551614 x",
		"ARSEEK a 50",
		"PEXPIREAT a 99",
		"ARMSET b 5 y",
		"XADD s 1-1 f v",
		"XADD s 2-1 f w",
		"XSETID s 2-1 ENTRIESADDED 2 MAXDELETEDID 0-0",
		"XGROUP CREATE s g 2-1 ENTRIESREAD 2",
		"XGROUP CREATECONSUMER s g c",
		"XCLAIM s g c 0 1-1 TIME 10 RETRYCOUNT 1 JUSTID FORCE",
		"XNACK s g FAIL IDS 1 2-1 RETRYCOUNT 3 FORCE",
	}
	if !reflect.DeepEqual(r.cmds, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(r.cmds, "\n"), strings.Join(want, "\n"))
	}
}
