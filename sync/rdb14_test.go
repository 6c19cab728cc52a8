package sync

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
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

// TestRestoreRefusedPayloadVersion: when a target refuses a RESTORE
// because it does not load the payload's RDB version (here a Redis 7.0
// said to load RDB 14), the key's error says which version it was.
func TestRestoreRefusedPayloadVersion(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	w, err := NewWriter(ctx, srv.Addr(), false, WriterOptions{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	elems := []rdb.Element{{Index: 3, Member: []byte("v")}}
	kv := &rdb.KeyValue{Key: []byte("arr"), Type: rdb.TypeArray, ExpireAt: rdb.NoExpiry, Idle: -1, Freq: -1,
		Elements: func(fn func(*rdb.Element) error) error {
			for i := range elems {
				if err := fn(&elems[i]); err != nil {
					return err
				}
			}
			return nil
		}}
	var payload bytes.Buffer
	if err := rdb.EncodeDump(&payload, kv, 14); err != nil {
		t.Fatal(err)
	}
	kv.Elements = nil
	kv.Dump = func(w io.Writer) error { _, err := w.Write(payload.Bytes()); return err }
	r, err := NewRestorer(w, &ServerInfo{Server: "redis", Version: "7.0.15", RDBVersion: 14, ProtoMaxBulkLen: 512 << 20}, RestoreOptions{Mode: ModeRestore})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Key(ctx, kv); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	f := r.Failures()
	if len(f) != 1 || !strings.Contains(f[0].Error(), `key "arr"`) || !strings.Contains(f[0].Error(), "DUMP payload version") ||
		!strings.Contains(f[0].Error(), "a payload of RDB 14, which redis 7.0.15 does not load") {
		t.Errorf("failures %v", f)
	}
}
