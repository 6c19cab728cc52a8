package dumpfile

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/redkit/redkit/internal/countio"
)

// Compression names the compression Open detected.
type Compression string

// Compressions Open detects.
const (
	None Compression = "none"
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// File is an opened input. Read returns decompressed bytes.
type File struct {
	Path        string      // as given to Open; "-" for standard input
	Size        int64       // stored size in bytes, or -1 when unknown
	Compression Compression // detected compression

	ctx    context.Context
	r      io.Reader // decompressed stream
	stored *countio.Reader
	close  []func() error
}

// Open opens path ("-" for standard input) and detects its compression.
func Open(ctx context.Context, path string) (*File, error) {
	if path == "-" {
		return open(ctx, path, os.Stdin, -1, nil)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open input: %w", err) // *PathError names the path
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open input: %w", err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("open input %s: is a directory", path)
	}
	size := int64(-1)
	if fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return open(ctx, path, f, size, f.Close)
}

// OpenArg opens a command's input argument: the file at path, or stdin
// (as NewReader) when path is "-".
func OpenArg(ctx context.Context, path string, stdin io.Reader) (*File, error) {
	if path == "-" {
		return NewReader(ctx, "-", stdin)
	}
	return Open(ctx, path)
}

// NewReader wraps an already open stream of unknown size as Open does
// for standard input; name is used in errors. Closing the File does not
// close r.
func NewReader(ctx context.Context, name string, r io.Reader) (*File, error) {
	return open(ctx, name, r, -1, nil)
}

func open(ctx context.Context, path string, r io.Reader, size int64, closeFn func() error) (*File, error) {
	f := &File{Path: path, Size: size, Compression: None, ctx: ctx, stored: countio.NewReader(r)}
	if closeFn != nil {
		f.close = append(f.close, closeFn)
	}
	br := bufio.NewReaderSize(f.stored, 64<<10)
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	switch {
	case bytes.HasPrefix(magic, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("read gzip header of %s: %w", path, err)
		}
		f.Compression, f.r = Gzip, zr
		f.close = append(f.close, zr.Close)
	case bytes.HasPrefix(magic, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("open zstd stream of %s: %w", path, err)
		}
		f.Compression, f.r = Zstd, zr
		f.close = append(f.close, func() error { zr.Close(); return nil })
	default:
		f.r = br
	}
	return f, nil
}

// Read reads decompressed bytes. It fails with the context's error once
// the context is done.
func (f *File) Read(p []byte) (int, error) {
	if err := f.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := f.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		if f.Compression != None {
			err = fmt.Errorf("decompress %s (%s): %w", f.Path, f.Compression, err)
		} else {
			err = fmt.Errorf("read %s: %w", f.Path, err)
		}
	}
	return n, err
}

// StoredRead is the number of stored (compressed) bytes read so far; it
// runs ahead of what the caller consumed by the read buffers' size.
func (f *File) StoredRead() int64 { return f.stored.N.Load() }

// Close releases the decompressor and closes the file.
func (f *File) Close() error {
	var errs []error
	for i := len(f.close) - 1; i >= 0; i-- {
		errs = append(errs, f.close[i]())
	}
	f.close = nil
	return errors.Join(errs...)
}
