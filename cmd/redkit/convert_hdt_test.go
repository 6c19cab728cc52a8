package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestConvertMatchesHDTAOF loads HDT3213/rdb's own AOF conversions of its
// test dumps and ours into two empty servers: the data sets must be equal
// (DEBUG DIGEST), key by key. memory_regex.aof is HDT's output with the
// filter --regex '^l.*'.
func TestConvertMatchesHDTAOF(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "corpus", "hdt3213-rdb")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared corpus missing: %v", err)
		}
		t.Skipf("shared corpus absent: %v", err)
	}
	for _, tc := range []struct {
		dump, aof string
		args      []string
	}{
		{"memory.rdb", "memory.aof", nil},
		{"memory.rdb", "memory_regex.aof", []string{"--regex", "^l.*"}},
	} {
		t.Run(tc.aof, func(t *testing.T) {
			hdt, err := os.ReadFile(filepath.Join(dir, tc.aof))
			if err != nil {
				t.Fatal(err)
			}
			want := debugDigest(t, pipeInto(t, hdt))
			r := redkit(t, nil, append([]string{"convert", "--to", "resp", "-q", filepath.Join(dir, tc.dump)}, tc.args...)...).want(t, 0)
			if got := debugDigest(t, pipeInto(t, []byte(r.stdout))); got != want {
				t.Errorf("DEBUG DIGEST %s, HDT3213/rdb's %s gives %s", got, tc.aof, want)
			}
		})
	}
}
