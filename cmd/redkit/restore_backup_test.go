package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
)

// TestRestoreBackupTargetFails: a target that fails partway through a
// restore from a backup (it refuses a key that exists) stops the
// restore early, while the zstd decoder is still reading ahead: the
// report names the target's failure, never a checksum mismatch, and
// nothing reads the stream concurrently (run under -race).
func TestRestoreBackupTargetFails(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	const n = 200000
	if err := src.Client().Do(ctx, "DEBUG", "POPULATE", n, "key", 64).Err(); err != nil {
		t.Fatal(err)
	}
	url := "file://" + filepath.Join(t.TempDir(), "store")
	redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "-q").want(t, 0)

	t.Run("refused", func(t *testing.T) {
		// Every key of the backup is already there: the first reply is
		// a conflict, and the restore stops there.
		dst := redistest.Start(t, redistest.Options{})
		if err := dst.Client().Do(ctx, "DEBUG", "POPULATE", n, "key", 64).Err(); err != nil {
			t.Fatal(err)
		}
		r := redkit(t, nil, "restore", url, "--to", dst.URL()).want(t, 1)
		if strings.Contains(r.stderr, "checksum mismatch") || !strings.Contains(r.stderr, "already exists") || !strings.Contains(r.stderr, "stopped early") {
			t.Errorf("restore into a target holding the keys:\n%s", r.stderr)
		}
	})
}
