package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Backend is a store of objects by key.
type Backend interface {
	// Put stores the bytes of r under key, replacing any object there,
	// and returns how many it stored. The object becomes visible only
	// once complete; a failed or cancelled Put leaves nothing behind.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Get reads length bytes of the object from offset; length < 0
	// reads to the end. The caller closes the reader.
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Stat describes one object.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List returns the objects whose keys begin with prefix, by key.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes an object; a missing one is not an error.
	Delete(ctx context.Context, key string) error
	// URL is the backend's root, without credentials.
	URL() string
}

// Cleaner is a Backend that can remove what interrupted Puts left behind
// when their process died before it could (a temporary file, a pending
// multipart upload): those begun before the time given, under prefix.
type Cleaner interface {
	Cleanup(ctx context.Context, prefix string, before time.Time) (int, error)
}

// ObjectInfo describes an object.
type ObjectInfo struct {
	Key     string // relative to the backend's root
	Size    int64
	ModTime time.Time
}

// ErrBadKey is returned for a key a backend cannot store: empty, with
// an empty, "." or ".." segment, a leading or trailing "/", or a NUL.
var ErrBadKey = errors.New("bad object key")

// CheckKey tells whether key is a valid object key: slash-separated
// segments, none empty, "." or "..", no NUL and no backslash.
func CheckKey(key string) error {
	if key == "" || strings.ContainsAny(key, "\x00\\") {
		return fmt.Errorf("%w %q", ErrBadKey, key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w %q", ErrBadKey, key)
		}
	}
	return nil
}

// ReadSmall reads a small object whole (manifests, locks), at most max
// bytes of it.
func ReadSmall(ctx context.Context, b Backend, key string, max int64) ([]byte, error) {
	rc, err := b.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return data, nil
}
