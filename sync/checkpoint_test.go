package sync

import (
	"maps"
	"path/filepath"
	"testing"
)

func TestParseKeyspace(t *testing.T) {
	got := ParseKeyspace([]byte("# Keyspace\r\ndb0:keys=12,expires=3,avg_ttl=0\r\ndb15:keys=1,expires=0,avg_ttl=0\r\n"))
	if want := map[int]int64{0: 12, 15: 1}; !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestCheckpointFile saves and loads a checkpoint; an empty one (a full
// sync under way) loads as nothing to resume from.
func TestCheckpointFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cp.json")
	cp := &Checkpoint{ReplID: "0123456789012345678901234567890123456789", Offset: 42, DB: 3, DataOffset: 40, DataDB: 2}
	if err := SaveCheckpoint(p, cp); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(p)
	if err != nil || got.Pos() != cp.Pos() || got.ReplID != cp.ReplID {
		t.Fatalf("loaded %+v, %v", got, err)
	}
	if v, err := parseTargetValue(cp.targetValue()); err != nil || v.Pos() != cp.Pos() {
		t.Errorf("key value round trip: %+v, %v", v, err)
	}
	if err := SaveCheckpoint(p, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadCheckpoint(p); got != nil || err != nil {
		t.Errorf("empty checkpoint loaded as %+v, %v", got, err)
	}
}
