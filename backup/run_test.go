package backup_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
	"github.com/redkit/redkit/storage/file"
)

const sampleRDB = "../testdata/sample.rdb"

func fileBackend(t *testing.T) (*file.Backend, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b, dir
}

func sampleKeys(t *testing.T) (map[int]int64, int) {
	t.Helper()
	f, err := os.Open(sampleRDB)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys, version, err := backup.ScanSnapshot(f)
	if err != nil {
		t.Fatal(err)
	}
	return keys, version
}

func TestRunFile(t *testing.T) {
	ctx := context.Background()
	for _, comp := range []string{"zstd", "gzip", "none"} {
		t.Run(comp, func(t *testing.T) {
			b, _ := fileBackend(t)
			var read atomic.Int64
			started := 0
			codec := storage.Codec{Compression: comp}
			m, err := backup.Run(ctx, backup.RunOptions{Backend: b, Codec: codec, RDBFile: sampleRDB, Version: "test",
				Read: &read, Started: func(n int) { started = n }})
			if err != nil {
				t.Fatal(err)
			}
			wantKeys, wantVersion := sampleKeys(t)
			fi, err := os.Stat(sampleRDB)
			if err != nil {
				t.Fatal(err)
			}
			if started != 1 || read.Load() != fi.Size() || m.RawBytes != fi.Size() {
				t.Errorf("started %d, read %d, raw %d: want 1, %d, %d", started, read.Load(), m.RawBytes, fi.Size(), fi.Size())
			}
			if m.TotalKeys() == 0 || m.Source.RDBVersion != wantVersion || m.Source.Kind != "rdb-file" || m.RedkitVersion != "test" {
				t.Errorf("manifest: %d keys, RDB %d, source %+v", m.TotalKeys(), m.Source.RDBVersion, m.Source)
			}
			for db, n := range wantKeys {
				if m.Keys[db] != n {
					t.Errorf("db%d: got %d keys, want %d", db, m.Keys[db], n)
				}
			}
			got, err := backup.Resolve(ctx, b, "latest")
			if err != nil || got.ID != m.ID {
				t.Fatalf("Resolve(latest) = %v, %v: want %s", got, err, m.ID)
			}
			for _, e := range got.Objects {
				if err := backup.VerifyObject(ctx, b, got, e, codec); err != nil {
					t.Errorf("VerifyObject(%s): %v", e.Name, err)
				}
			}
		})
	}
}

func TestRunInvalidStoresNothing(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(sampleRDB)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "cut.rdb")
	if err := os.WriteFile(bad, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := fileBackend(t)
	_, err = backup.Run(ctx, backup.RunOptions{Backend: b, Codec: storage.Codec{Compression: "zstd"}, RDBFile: bad})
	var re *backup.RunError
	if !errors.As(err, &re) || re.ID == "" || !strings.Contains(err.Error(), "the upload was aborted, nothing stored") {
		t.Fatalf("Run of a cut RDB: %v, want a *RunError", err)
	}
	l, err := backup.List(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Backups) != 0 {
		t.Errorf("a failed backup is listed: %v", l.Backups)
	}
}

func TestRunLocked(t *testing.T) {
	ctx := context.Background()
	b, _ := fileBackend(t)
	lock, err := storage.AcquireLock(ctx, b, "prune", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release(ctx)
	_, err = backup.Run(ctx, backup.RunOptions{Backend: b, Codec: storage.Codec{Compression: "zstd"}, RDBFile: sampleRDB})
	var le *backup.LockError
	if !errors.As(err, &le) || le.Op != "backup" || !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("Run on a locked storage: %v, want a *LockError with storage.ErrLocked", err)
	}
	_, err = backup.Prune(ctx, b, backup.PruneOptions{Policy: backup.Policy{Last: 1}})
	if !errors.As(err, &le) || le.Op != "prune" {
		t.Fatalf("Prune on a locked storage: %v, want a *LockError", err)
	}
	// A dry run takes no lock.
	if _, err := backup.Prune(ctx, b, backup.PruneOptions{Policy: backup.Policy{Last: 1}, DryRun: true}); err != nil {
		t.Fatalf("dry run on a locked storage: %v", err)
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	b, _ := fileBackend(t)
	var ids []string
	for range 3 {
		m, err := backup.Run(ctx, backup.RunOptions{Backend: b, Codec: storage.Codec{Compression: "none"}, RDBFile: sampleRDB})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	for _, dry := range []bool{true, false} {
		rep, err := backup.Prune(ctx, b, backup.PruneOptions{Policy: backup.Policy{Last: 1}, DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, a := range rep.Actions {
			if a.Backup == nil {
				t.Errorf("dry %v: unexpected orphan segments %s", dry, a.ID)
			}
			if a.Keep {
				kept = append(kept, a.ID)
			}
		}
		if len(rep.Actions) != 3 || len(kept) != 1 || kept[0] != ids[2] {
			t.Errorf("dry %v: actions %+v, want the newest of %v kept", dry, rep.Actions, ids)
		}
		l, err := backup.List(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		want := 3
		if !dry {
			want = 1
		}
		if len(l.Backups) != want {
			t.Errorf("dry %v: %d backups left, want %d", dry, len(l.Backups), want)
		}
	}
}

func TestCopySnapshotErrors(t *testing.T) {
	f, err := os.Open(sampleRDB)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A write that fails: the sample is read whole into the RDB reader's
	// buffer with the first read, so the failure is on the last bytes
	// the parser reads.
	_, _, _, err = backup.CopySnapshot(f, failWriter{}, "write out.rdb", false, nil)
	var ioe *backup.IOError
	if !errors.As(err, &ioe) || err.Error() != "write out.rdb: no space left on device" {
		t.Errorf("a failed write: %v, want an *IOError naming the output", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}

	// A source that fails is an *IOError too, not an invalid snapshot.
	src := backup.SourceReader(io.MultiReader(io.LimitReader(f, 100), errReader{}), "the snapshot")
	_, _, _, err = backup.CopySnapshot(src, io.Discard, "write out.rdb", false, nil)
	if !errors.As(err, &ioe) || !strings.HasPrefix(err.Error(), "read the snapshot: ") {
		t.Errorf("a failed read: %v, want an *IOError naming the source", err)
	}

	// Bytes that are not an RDB.
	_, _, _, err = backup.CopySnapshot(strings.NewReader("REDIS0011garbage"), io.Discard, "", false, nil)
	if err == nil || errors.As(err, &ioe) || !strings.Contains(err.Error(), "the snapshot is not a valid RDB") {
		t.Errorf("garbage: %v", err)
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

func TestScanAOFFile(t *testing.T) {
	cmds := "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
	keys, version, n, err := backup.ScanAOFFile(strings.NewReader(cmds))
	if err != nil || keys != nil || version != 0 || n != 2 {
		t.Errorf("commands: %v %d %d %v, want nil 0 2 nil", keys, version, n, err)
	}
	data, err := os.ReadFile(sampleRDB)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys, wantVersion := sampleKeys(t)
	keys, version, n, err = backup.ScanAOFFile(io.MultiReader(strings.NewReader(string(data)), strings.NewReader(cmds)))
	if err != nil || version != wantVersion || n != 2 || len(keys) != len(wantKeys) {
		t.Errorf("an RDB preamble and commands: %v %d %d %v", keys, version, n, err)
	}
	if _, _, _, err := backup.ScanAOFFile(strings.NewReader("*2\r\n$6\r\nSEL")); err == nil || !strings.Contains(err.Error(), "not a valid AOF") {
		t.Errorf("a cut command: %v", err)
	}
}
