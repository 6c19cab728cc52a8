package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redkit/redkit/storage"
	"github.com/redkit/redkit/storage/storagetest"
)

func TestBackend(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		b, err := New(filepath.Join(t.TempDir(), "backups"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, storagetest.Options{})
}

// TestNoTempFiles: a failed Put leaves no temporary file; Cleanup removes
// one left by a process that died.
func TestNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	b, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(t.Context(), "a/b", &storagetestFail{}); err == nil {
		t.Fatal("no error")
	}
	if n := countTemp(t, dir); n != 0 {
		t.Errorf("%d temporary files left after a failed Put", n)
	}
	os.MkdirAll(filepath.Join(dir, "a"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", tmpPrefix+"b.0123456789abcdef"), []byte("half"), 0o644)
	if objs, _ := b.List(t.Context(), ""); len(objs) != 0 {
		t.Errorf("List shows a temporary file: %v", objs)
	}
	if n, err := b.Cleanup(t.Context(), "b", farFuture); err != nil || n != 0 {
		t.Errorf("Cleanup of another prefix: %d, %v", n, err)
	}
	if n, err := b.Cleanup(t.Context(), "a/", farFuture); err != nil || n != 1 {
		t.Errorf("Cleanup: %d, %v", n, err)
	}
	if n := countTemp(t, dir); n != 0 {
		t.Errorf("%d temporary files left after Cleanup", n)
	}
}

func countTemp(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tmpPrefix) {
			n++
		}
		return nil
	})
	return n
}

func TestParseURL(t *testing.T) {
	for in, want := range map[string]string{"file:///var/b": "/var/b", "file://rel/dir": "rel/dir", "file://./x": "./x"} {
		if got, err := ParseURL(in); err != nil || got != filepath.FromSlash(want) {
			t.Errorf("ParseURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"s3://b/p", "file://", "/plain"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q): no error", bad)
		}
	}
}
