package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
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

// TestConvertHDTFieldExpiryAOF compacts HDT3213/rdb's AOF of its Redis 7.4
// dump with field expiries (HPEXPIREAT, HPERSIST) into an RDB 12, which
// must hold what the dump holds. RDB 10, the default, cannot: the error
// says which flag to use.
func TestConvertHDTFieldExpiryAOF(t *testing.T) {
	aof := corpus(t, "hdt3213-rdb/hash_as_listpack_with_hfe.aof")
	dump := corpus(t, "hdt3213-rdb/hash_as_listpack_with_hfe.rdb")
	out := filepath.Join(t.TempDir(), "out.rdb")
	r := redkit(t, nil, "convert", aof, "--to", "rdb", "-o", out).want(t, 1)
	if !strings.Contains(r.stderr, "hint: write a newer RDB with --rdb-version 12") {
		t.Errorf("stderr lacks the hint:\n%s", r.stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed conversion left %s behind (%v)", out, err)
	}
	redkit(t, nil, "convert", aof, "--to", "rdb", "--rdb-version", "12", "-o", out).want(t, 0)
	got := redkit(t, nil, "convert", out, "--to", "jsonl").want(t, 0).stdout
	want := redkit(t, nil, "convert", dump, "--to", "jsonl").want(t, 0).stdout
	// The dump lists fields in its listpack's order; ours are sorted.
	if sortFields(t, got) != sortFields(t, want) || !strings.Contains(got, `"expire_at_ms":2755484483878`) {
		t.Errorf("RDB from the AOF:\n%s\nthe dump:\n%s", got, want)
	}
	redkit(t, nil, "check", out).want(t, 0)
}

// sortFields returns a JSONL hash record with its fields sorted.
func sortFields(t *testing.T, line string) string {
	t.Helper()
	var rec struct {
		DB     int              `json:"db"`
		Key    string           `json:"key"`
		Fields []map[string]any `json:"fields"`
	}
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatal(err)
	}
	sort.Slice(rec.Fields, func(i, j int) bool { return rec.Fields[i]["field"].(string) < rec.Fields[j]["field"].(string) })
	b, _ := json.Marshal(rec)
	return string(b)
}
