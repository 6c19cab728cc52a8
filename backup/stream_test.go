package backup_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
)

// TestObjectStream: an object of a backup reads back as its content; a
// byte flipped in the stored object is a *backup.ChecksumError (wrapping
// storage.ErrChecksum) from Read at the end, or from Close when the
// reader stopped before the end; a missing object wraps fs.ErrNotExist;
// an interrupted read is not checked.
func TestObjectStream(t *testing.T) {
	data, err := os.ReadFile("../testdata/sample.rdb")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, dir := newFile(t)
	m := writeSnapshots(t, b, data, 1, nil)
	e := m.Objects[0]
	obj := filepath.Join(dir, filepath.FromSlash(backup.Key(m.ID, e.Name)))

	st, err := backup.OpenStream(ctx, b, m, e, storage.Codec{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(st)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v; want the %d bytes written", len(got), err, len(data))
	}
	if err := st.Close(); err != nil {
		t.Errorf("close after the end: %v", err)
	}
	// Read in part, then closed: Close reads the rest and checks it.
	st, _ = backup.OpenStream(ctx, b, m, e, storage.Codec{})
	io.ReadFull(st, make([]byte, 100))
	if err := st.Close(); err != nil {
		t.Errorf("close in the middle of a good object: %v", err)
	}

	stored, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(stored)
	damaged[len(damaged)-5] ^= 0x01 // in the zstd frame's last block or checksum
	if err := os.WriteFile(obj, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	st, _ = backup.OpenStream(ctx, b, m, e, storage.Codec{})
	_, err = io.ReadAll(st)
	var ce *backup.ChecksumError
	if !errors.As(err, &ce) || !errors.Is(err, storage.ErrChecksum) || ce.ID != m.ID || ce.Object != e.Name {
		t.Errorf("read of a damaged object: %v", err)
	}
	if err := st.Close(); !errors.As(err, &ce) {
		t.Errorf("close after a damaged read: %v", err)
	}
	st, _ = backup.OpenStream(ctx, b, m, e, storage.Codec{})
	io.ReadFull(st, make([]byte, 100))
	if err := st.Close(); !errors.As(err, &ce) {
		t.Errorf("close in the middle of a damaged object: %v, want a *ChecksumError", err)
	}
	// Interrupted: nothing to tell.
	cctx, cancel := context.WithCancel(ctx)
	st, _ = backup.OpenStream(cctx, b, m, e, storage.Codec{})
	io.ReadFull(st, make([]byte, 100))
	cancel()
	if err := st.Close(); err != nil {
		t.Errorf("close after an interrupt: %v", err)
	}

	if err := os.Remove(obj); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.OpenStream(ctx, b, m, e, storage.Codec{}); !errors.Is(err, fs.ErrNotExist) || !bytes.Contains([]byte(err.Error()), []byte(e.Name)) {
		t.Errorf("a missing object: %v", err)
	}
}
