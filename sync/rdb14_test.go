package sync

import (
	"errors"
	"testing"
)

// TestRDB14Targets: which servers hold Redis 8.8's arrays and NACKed
// stream entries, and the error a key of them gets on one that does not.
func TestRDB14Targets(t *testing.T) {
	for _, c := range []struct {
		server, version string
		rdbVersion      int
		holds           bool
	}{
		{"redis", "8.8.0", 14, true},
		{"redis", "9.0.1", 14, true},
		{"redis", "8.6.2", 13, false},
		{"redis", "7.0.15", 10, false},
		{"valkey", "8.0.1", 11, false},
		{"valkey", "9.0.0", 80, false},
		{"redis", "", 0, true}, // unknown: the benefit of the doubt
	} {
		si := &ServerInfo{Server: c.server, Version: c.version}
		if c.version != "" {
			si.RDBVersion = MaxRDBVersion(c.server, c.version)
		}
		if si.RDBVersion != c.rdbVersion || HasRDB14Types(si) != c.holds {
			t.Errorf("%s %s: RDB %d, holds %v; want RDB %d, %v", c.server, c.version, si.RDBVersion, HasRDB14Types(si), c.rdbVersion, c.holds)
		}
	}
	r, err := NewRestorer(nil, &ServerInfo{Server: "redis", Version: "7.0.15", RDBVersion: 10}, RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ke := r.fail(0, []byte("arr"), r.targetTypeError(whatArray))
	want := `db 0 key "arr": the target cannot hold this value: an array (RDB type 28) came with Redis 8.8 (RDB 14), and redis 7.0.15 loads RDB 10`
	if ke.Error() != want || !errors.Is(ke, ErrTargetType) {
		t.Errorf("got %q, want %q wrapping ErrTargetType", ke.Error(), want)
	}
}
