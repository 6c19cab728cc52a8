package rdb_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/redkit/redkit/rdb"
)

// TestEnterpriseCorpus reads librdb's dump with Redis Enterprise's
// RAM_LRU opcode before each key: librdb parses it to the end, checksum
// included; its three keys are a=b, e=f and c=d.
func TestEnterpriseCorpus(t *testing.T) {
	path := filepath.Join(corpusDir, "librdb", "redis_ent_opcode_ram_lru.rdb")
	data, err := os.ReadFile(path)
	if err != nil {
		corpusFiles(t) // skips or fails with the reason
		t.Fatal(err)
	}
	got, err := dumpFile(t, data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"0/a": `string exp= ["b"]`, "0/c": `string exp= ["d"]`, "0/e": `string exp= ["f"]`}
	if len(got) != len(want) {
		t.Errorf("keys %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("key %s: got %s, want %s", k, got[k], w)
		}
	}
	rd := rdb.NewReader(bytes.NewReader(data))
	for {
		if _, err := rd.Next(); err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break
		}
	}
	if sk := rd.Skipped(); len(sk) != 1 || sk[0].Name != "RAM_LRU" || sk[0].Count != 3 {
		t.Errorf("Skipped() = %v, want 3 RAM_LRU", sk)
	}
}
