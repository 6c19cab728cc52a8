package sync

import (
	gosync "sync"
	"testing"
)

// BenchmarkEncodeItem measures the writers' hot path without a server:
// a command encoded into a pooled item (RESP array of bulk strings), then
// the item recycled.
func BenchmarkEncodeItem(b *testing.B) {
	for _, bc := range []struct {
		name string
		args [][]byte
	}{
		{"SET-100B", [][]byte{[]byte("SET"), []byte("key:000000000000"), make([]byte, 100)}},
		{"RESTORE-1KB", [][]byte{[]byte("RESTORE"), []byte("key:000000000000"), []byte("0"), make([]byte, 1024), []byte("REPLACE")}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var pool gosync.Pool
			cmd := &Command{Args: bc.args}
			it := newItem(&pool, cmd)
			b.SetBytes(it.size())
			it.free(&pool)
			b.ReportAllocs()
			for b.Loop() {
				newItem(&pool, cmd).free(&pool)
			}
		})
	}
}
