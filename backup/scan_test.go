package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/storage"
	rsync "github.com/redkit/redkit/sync"
)

// liveSource resolves a server for backup.Run.
func liveSource(s *redistest.Server, copts rsync.Options) func(ctx context.Context) (*backup.LiveSource, error) {
	return func(ctx context.Context) (*backup.LiveSource, error) {
		ep, err := rsync.ParseURL(s.URL())
		if err != nil {
			return nil, err
		}
		addr, info, err := rsync.Resolve(ctx, ep, &copts, 0, nil)
		if err != nil {
			return nil, err
		}
		return &backup.LiveSource{URL: ep.String(), Addr: addr, Info: info, Conn: copts}, nil
	}
}

// TestRunSourceModes: a source that refuses replication (PSYNC renamed
// away) is read key by key in SourceAuto and SourceScan, logged once;
// SourceReplication fails with a *RefusedError inside a *ConnectError,
// nothing stored; a source that replicates gives a snapshot whose
// manifest says nothing of consistency.
func TestRunSourceModes(t *testing.T) {
	ctx := context.Background()
	refusing := redistest.Start(t, redistest.Options{Config: []string{`rename-command PSYNC ""`}})
	plain := redistest.Start(t, redistest.Options{})
	for _, s := range []*redistest.Server{refusing, plain} {
		for i := range 500 {
			if err := s.Client().Set(ctx, fmt.Sprintf("k%d", i), strings.Repeat("v", i), 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name    string
		src     *redistest.Server
		mode    backup.SourceMode
		perKey  bool
		refused bool
		logged  string
	}{
		{"auto refused", refusing, "", true, false, backup.LogReadingKeys},
		{"scan refused", refusing, backup.SourceScan, true, false, backup.LogScanMode},
		{"replication refused", refusing, backup.SourceReplication, false, true, ""},
		{"auto plain", plain, backup.SourceAuto, false, false, ""},
		{"scan plain", plain, backup.SourceScan, true, false, backup.LogScanMode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := fileBackend(t)
			var logs bytes.Buffer
			m, err := backup.Run(ctx, backup.RunOptions{Backend: b, Codec: storage.Codec{Compression: "zstd"}, Live: liveSource(tc.src, rsync.Options{}),
				SourceMode: tc.mode, MaxDump: 1 << 10, Log: slog.New(slog.NewTextHandler(&logs, nil))})
			if tc.refused {
				var re *backup.RefusedError
				if !errors.As(err, &re) || !errors.As(err, new(*backup.ConnectError)) || re.Addr != tc.src.Addr() || !rsync.ReplicationRefused(re.Err) {
					t.Fatalf("err %v (%T), want a *RefusedError", err, err)
				}
				if l, err := backup.List(ctx, b); err != nil || len(l.Backups)+len(l.Incomplete) != 0 {
					t.Errorf("stored: %+v, %v", l, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.PerKey() != tc.perKey || m.TotalKeys() != 500 {
				t.Errorf("per-key %v (%q), %d keys", m.PerKey(), m.Consistency, m.TotalKeys())
			}
			if tc.perKey && (m.ScanStarted.IsZero() || m.Objects[0].SourceMode != backup.SourceScan) {
				t.Errorf("manifest %+v", m)
			}
			if !tc.perKey && (!m.ScanStarted.IsZero() || m.Objects[0].SourceMode != "" || m.ConsistencyOrSnapshot() != backup.ConsistencySnapshot) {
				t.Errorf("a snapshot's manifest %+v", m)
			}
			if tc.logged != "" && strings.Count(logs.String(), tc.logged) != 1 {
				t.Errorf("logs:\n%s", logs.String())
			}
			if tc.logged == "" && strings.Contains(logs.String(), "keys read") {
				t.Errorf("logs:\n%s", logs.String())
			}
			got, err := backup.ReadManifest(ctx, b, m.ID)
			if err != nil || got.Consistency != m.Consistency || !got.ScanStarted.Equal(m.ScanStarted) {
				t.Fatalf("stored manifest %+v, %v", got, err)
			}
			if err := backup.VerifyObject(ctx, b, got, got.Objects[0], storage.Codec{}); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestRunScanFails: a scan that fails (the user may not DUMP) fails the
// backup, naming the keys' read; nothing is stored.
func TestRunScanFails(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	if err := src.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := src.Client().Do(ctx, "ACL", "SETUSER", "nodump", "on", ">pw", "~*", "&*", "+@all", "-psync", "-sync", "-dump").Err(); err != nil {
		t.Fatal(err)
	}
	b, _ := fileBackend(t)
	_, err := backup.Run(ctx, backup.RunOptions{Backend: b, Codec: storage.Codec{Compression: "zstd"},
		Live: liveSource(src, rsync.Options{Username: "nodump", Password: "pw"})})
	var re *backup.RunError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "read the keys") || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("err %v (%T)", err, err)
	}
	if l, err := backup.List(ctx, b); err != nil || len(l.Backups) != 0 {
		t.Errorf("stored: %+v, %v", l, err)
	}
}
