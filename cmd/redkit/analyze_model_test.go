package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/redkit/redkit/rdb"
)

// writeDump writes a dump with the given AUX fields and one string key
// and returns its path.
func writeDump(t *testing.T, name string, aux ...string) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := rdb.NewWriter(&buf, rdb.WriterOptions{Version: 11})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(aux); i += 2 {
		if err := w.WriteAux([]byte(aux[i]), []byte(aux[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	err = w.WriteKey(&rdb.KeyValue{Key: []byte("user:k2345678901234"), Type: rdb.TypeString, ExpireAt: rdb.NoExpiry, Idle: -1, Freq: -1,
		Elements: func(fn func(*rdb.Element) error) error { return fn(&rdb.Element{Member: []byte("hello")}) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func summaryOf(t *testing.T, stdout string) summaryJSON {
	t.Helper()
	var s summaryJSON
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("summary JSON: %v\n%s", err, stdout)
	}
	return s
}

// TestAnalyzeMemoryModel: the model is chosen from the dump's server and
// told (text and JSON), --memory-model and REDKIT_MEMORY_MODEL force one,
// and an unknown name is a usage error listing the names.
func TestAnalyzeMemoryModel(t *testing.T) {
	valkey := writeDump(t, "valkey.rdb", "valkey-ver", "8.0.1")
	redis := writeDump(t, "redis.rdb", "redis-ver", "7.0.15")
	future := writeDump(t, "future.rdb", "redis-ver", "99.0.0")

	r := redkit(t, nil, "analyze", valkey).want(t, 0)
	for _, want := range []string{"valkey 8.0.1", "memory model        valkey-8.0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	s := summaryOf(t, redkit(t, nil, "analyze", "--format", "json", valkey).want(t, 0).stdout)
	if s.MemoryModel != "valkey-8.0" || s.Files[0].MemoryModel != "valkey-8.0" || s.Files[0].ValkeyVer != "8.0.1" || s.Files[0].ModelNote != "" {
		t.Errorf("JSON: memory_model %q, files %+v", s.MemoryModel, s.Files)
	}
	valkeyMemory := s.Memory

	// Forced by the flag, then by the variable: the Redis 7.0 model
	// counts the key's sds and dictEntry apart (8 bytes more here).
	s = summaryOf(t, redkit(t, nil, "analyze", "--format", "json", "--memory-model", "redis-7.0", valkey).want(t, 0).stdout)
	if s.MemoryModel != "redis-7.0" || s.Memory == valkeyMemory {
		t.Errorf("--memory-model redis-7.0: model %q, memory %d (valkey-8.0's: %d)", s.MemoryModel, s.Memory, valkeyMemory)
	}
	t.Setenv("REDKIT_MEMORY_MODEL", "redis-7.0")
	r = redkit(t, nil, "analyze", valkey).want(t, 0)
	if !strings.Contains(r.stdout, "memory model        redis-7.0  (--memory-model)") {
		t.Errorf("REDKIT_MEMORY_MODEL: summary:\n%s", r.stdout)
	}
	t.Setenv("REDKIT_MEMORY_MODEL", "")

	// Several files, several models; a server newer than every model.
	r = redkit(t, nil, "analyze", redis, valkey, future).want(t, 0)
	for _, want := range []string{"memory model        redis-7.0", "memory model        valkey-8.0", "newer than every redis model"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary of three files lacks %q:\n%s", want, r.stdout)
		}
	}
	s = summaryOf(t, redkit(t, nil, "analyze", "--format", "json", redis, future).want(t, 0).stdout)
	if s.MemoryModel != "redis-7.0,redis-8.0" || s.Files[1].ModelNote == "" {
		t.Errorf("JSON of two files: memory_model %q, files %+v", s.MemoryModel, s.Files)
	}

	for _, args := range [][]string{
		{"analyze", "--memory-model", "redis-6", valkey},
		{"analyze", "--memory-model=", "--memory-model", "x", valkey},
	} {
		r = redkit(t, nil, args...).want(t, 2)
		if !strings.Contains(r.stderr, "unknown --memory-model") || !strings.Contains(r.stderr, strings.Join(rdb.MemoryModelNames(), ", ")) {
			t.Errorf("%q: stderr:\n%s", args, r.stderr)
		}
	}
	t.Setenv("REDKIT_MEMORY_MODEL", "nope")
	r = redkit(t, nil, "analyze", valkey).want(t, 2)
	if !strings.Contains(r.stderr, `unknown --memory-model "nope"`) {
		t.Errorf("REDKIT_MEMORY_MODEL=nope: stderr:\n%s", r.stderr)
	}
}

func TestAnalyzeMemoryModelCompletion(t *testing.T) {
	got := complete(t, "analyze", "--memory-model", "")
	if !slices.Equal(got, rdb.MemoryModelNames()) {
		t.Errorf("completion of --memory-model: %q, want %q", got, rdb.MemoryModelNames())
	}
	if got := complete(t, "analyze", "--memory-model", "valkey-8"); !slices.Equal(got, []string{"valkey-8.0", "valkey-8.1"}) {
		t.Errorf("completion of --memory-model valkey-8: %q", got)
	}
}
