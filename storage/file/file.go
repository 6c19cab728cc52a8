package file

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/redkit/redkit/storage"
)

// tmpPrefix starts the names of files being written.
const tmpPrefix = ".redkit-tmp."

// Backend stores objects as files under a directory.
type Backend struct {
	root string // absolute
}

var (
	_ storage.Backend = (*Backend)(nil)
	_ storage.Cleaner = (*Backend)(nil)
)

// New returns the backend of directory root, creating it if needed.
func New(root string) (*Backend, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("storage directory %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("storage directory: %w", err)
	}
	return &Backend{root: abs}, nil
}

// ParseURL returns the directory of a file:// URL: file:///abs/dir, or
// file://rel/dir for a path relative to the working directory.
func ParseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "file" {
		return "", fmt.Errorf("not a file:// URL: %q", raw)
	}
	dir := u.Host + u.Path
	if dir == "" {
		return "", fmt.Errorf("file URL %q: no directory", raw)
	}
	return filepath.FromSlash(dir), nil
}

// URL is file:// and the root directory.
func (b *Backend) URL() string { return "file://" + filepath.ToSlash(b.root) }

func (b *Backend) path(key string) (string, error) {
	if err := storage.CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(b.root, filepath.FromSlash(key)), nil
}

// Put writes r to a temporary file beside the object, fsyncs it, then
// renames it into place and fsyncs the directory.
func (b *Backend) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	p, err := b.path(key)
	if err != nil {
		return 0, err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(dir, tmpPrefix+filepath.Base(p)+"."+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err != nil {
		return n, fmt.Errorf("put %s at byte %d: %w", key, n, err)
	}
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("put %s: fsync: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return n, fmt.Errorf("put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return n, fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return n, fmt.Errorf("put %s: %w", key, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return n, fmt.Errorf("put %s: fsync directory: %w", key, err)
		}
	}
	return n, nil
}

// ctxReader stops a copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Get opens the object and reads the range asked for.
func (b *Backend) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	p, err := b.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		f.Close()
		if err == nil {
			err = fs.ErrNotExist
		}
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if offset < 0 || offset > fi.Size() {
		f.Close()
		return nil, fmt.Errorf("get %s: offset %d out of the object's %d bytes", key, offset, fi.Size())
	}
	if offset == 0 && length < 0 {
		return f, nil
	}
	n := fi.Size() - offset
	if length >= 0 && length < n {
		n = length
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, offset, n), f}, nil
}

// Stat describes the object.
func (b *Backend) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	p, err := b.path(key)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if err == nil && fi.IsDir() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return storage.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return storage.ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List walks the directories the prefix can be in.
func (b *Backend) List(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
	start := b.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		if err := storage.CheckKey(prefix[:i]); err != nil {
			return nil, err
		}
		start = filepath.Join(b.root, filepath.FromSlash(prefix[:i]))
	}
	var out []storage.ObjectInfo
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), tmpPrefix) || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(b.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted meanwhile
			}
			return err
		}
		out = append(out, storage.ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s%s: %w", b.URL(), "/"+prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes the object's file, and its directory if it is left
// empty.
func (b *Backend) Delete(ctx context.Context, key string) error {
	p, err := b.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	for dir := filepath.Dir(p); dir != b.root && strings.HasPrefix(dir, b.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty
		}
	}
	return nil
}

// Cleanup removes temporary files of Puts that died, begun before the
// time given.
func (b *Backend) Cleanup(ctx context.Context, prefix string, before time.Time) (int, error) {
	n := 0
	err := filepath.WalkDir(b.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		// The key being written: the name less the prefix and the random
		// suffix.
		rel, _ := filepath.Rel(b.root, p)
		name := strings.TrimPrefix(d.Name(), tmpPrefix)
		if i := strings.LastIndex(name, "."); i >= 0 {
			name = name[:i]
		}
		if !strings.HasPrefix(path.Join(filepath.ToSlash(filepath.Dir(rel)), name), prefix) {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().Before(before) {
			if os.Remove(p) == nil {
				n++
			}
		}
		return nil
	})
	return n, err
}
