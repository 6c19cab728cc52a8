package dumpfile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestOpen(t *testing.T) {
	payload := bytes.Repeat([]byte("REDIS0011 some payload bytes "), 5000)
	tests := []struct {
		name   string
		stored []byte
		want   Compression
	}{
		{"plain", payload, None},
		{"gzip", gzipped(t, payload), Gzip},
		{"zstd", zstded(t, payload), Zstd},
		{"empty", nil, None},
		{"short", []byte("R"), None},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dump")
			if err := os.WriteFile(path, tt.stored, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Compression != tt.want {
				t.Errorf("Compression = %s, want %s", f.Compression, tt.want)
			}
			if f.Size != int64(len(tt.stored)) {
				t.Errorf("Size = %d, want %d", f.Size, len(tt.stored))
			}
			got, err := io.ReadAll(f)
			if err != nil {
				t.Fatal(err)
			}
			want := payload
			if tt.want == None {
				want = tt.stored
			}
			if !bytes.Equal(got, want) {
				t.Errorf("read %d bytes, want %d", len(got), len(want))
			}
			if f.StoredRead() != int64(len(tt.stored)) {
				t.Errorf("StoredRead = %d, want %d", f.StoredRead(), len(tt.stored))
			}
			if err := f.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

func TestNewReaderUnknownSize(t *testing.T) {
	f, err := NewReader(context.Background(), "-", bytes.NewReader(gzipped(t, []byte("hello"))))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil || string(got) != "hello" || f.Size != -1 || f.Compression != Gzip {
		t.Errorf("got %q, %v, size %d, %s", got, err, f.Size, f.Compression)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.rdb")
	_, err := Open(context.Background(), missing)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: got %v, want ErrNotExist naming the path", err)
	}
	_, err = Open(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory: got %v, want an error naming the path", err)
	}
	bad := filepath.Join(dir, "bad.gz")
	os.WriteFile(bad, []byte{0x1f, 0x8b, 0, 0}, 0o644)
	_, err = Open(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad gzip: got %v, want an error naming the path", err)
	}
}

func TestTruncatedGzip(t *testing.T) {
	z := gzipped(t, bytes.Repeat([]byte("x"), 100000))
	f, err := NewReader(context.Background(), "t.gz", bytes.NewReader(z[:len(z)/2]))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = io.ReadAll(f)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f, err := NewReader(ctx, "x", strings.NewReader("data"))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := f.Read(make([]byte, 4)); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}
