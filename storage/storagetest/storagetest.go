package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redkit/redkit/storage"
)

// Options tune the suite to a backend.
type Options struct {
	// BigSize is the size of the object that must go in several parts
	// (default 12 MiB).
	BigSize int64
	// Pending, if set, counts what interrupted Puts left behind (pending
	// multipart uploads, temporary files): it must stay zero.
	Pending func(t *testing.T) int
}

// onlyReader hides any other method of a reader (Seek, WriteTo, Len),
// as a pipe from a live snapshot would: a body of unknown size.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// failingReader yields n bytes, then an error.
type failingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	k, err := f.r.Read(p)
	f.n -= int64(k)
	return k, err
}

func randomBytes(n int64, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func get(t *testing.T, b storage.Backend, key string, off, n int64) []byte {
	t.Helper()
	rc, err := b.Get(context.Background(), key, off, n)
	if err != nil {
		t.Fatalf("Get(%s, %d, %d): %v", key, off, n, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%s, %d, %d) read: %v", key, off, n, err)
	}
	return got
}

func keys(objs []storage.ObjectInfo) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}

// Run runs the suite on a fresh, empty backend from newBackend.
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend, opts Options) {
	if opts.BigSize == 0 {
		opts.BigSize = 12 << 20
	}
	ctx := context.Background()
	pendingZero := func(t *testing.T) {
		t.Helper()
		if opts.Pending != nil {
			if n := opts.Pending(t); n != 0 {
				t.Errorf("%d interrupted uploads or temporary files left behind", n)
			}
		}
	}

	t.Run("RoundTrip", func(t *testing.T) {
		b := newBackend(t)
		for _, tc := range []struct {
			key  string
			size int64
		}{{"empty", 0}, {"small", 1000}, {"dir/sub/big.rdb.zst", opts.BigSize}} {
			want := randomBytes(tc.size, uint64(tc.size))
			n, err := b.Put(ctx, tc.key, onlyReader{bytes.NewReader(want)})
			if err != nil || n != tc.size {
				t.Fatalf("Put(%s): %d, %v; want %d bytes", tc.key, n, err, tc.size)
			}
			if got := get(t, b, tc.key, 0, -1); !bytes.Equal(got, want) {
				t.Errorf("Get(%s): %d bytes, want the %d put", tc.key, len(got), len(want))
			}
			oi, err := b.Stat(ctx, tc.key)
			if err != nil || oi.Size != tc.size || oi.Key != tc.key || time.Since(oi.ModTime) > time.Hour {
				t.Errorf("Stat(%s) = %+v, %v", tc.key, oi, err)
			}
		}
		// Replacing an object.
		if _, err := b.Put(ctx, "small", bytes.NewReader([]byte("new"))); err != nil {
			t.Fatal(err)
		}
		if got := get(t, b, "small", 0, -1); string(got) != "new" {
			t.Errorf("after a second Put: %q", got)
		}
		pendingZero(t)
	})

	t.Run("Ranges", func(t *testing.T) {
		b := newBackend(t)
		want := randomBytes(100000, 7)
		if _, err := b.Put(ctx, "r", bytes.NewReader(want)); err != nil {
			t.Fatal(err)
		}
		for _, r := range [][2]int64{{0, 10}, {10, 90}, {99990, -1}, {500, 0}, {0, 100000}, {99999, 1}, {50000, 200000}} {
			end := int64(len(want))
			if r[1] >= 0 {
				end = min(r[0]+r[1], end)
			}
			if got := get(t, b, "r", r[0], r[1]); !bytes.Equal(got, want[r[0]:end]) {
				t.Errorf("Get(%d, %d): %d bytes, want %d", r[0], r[1], len(got), end-r[0])
			}
		}
	})

	t.Run("Missing", func(t *testing.T) {
		b := newBackend(t)
		if _, err := b.Get(ctx, "nope", 0, -1); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get: %v, want fs.ErrNotExist", err)
		}
		if _, err := b.Get(ctx, "nope", 5, 10); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get range: %v, want fs.ErrNotExist", err)
		}
		if _, err := b.Stat(ctx, "dir/nope"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat: %v, want fs.ErrNotExist", err)
		}
		if err := b.Delete(ctx, "nope"); err != nil {
			t.Errorf("Delete of a missing object: %v", err)
		}
		if objs, err := b.List(ctx, ""); err != nil || len(objs) != 0 {
			t.Errorf("List of an empty backend: %v, %v", objs, err)
		}
	})

	t.Run("ListDelete", func(t *testing.T) {
		b := newBackend(t)
		all := []string{"a/1", "a/2", "a/sub/3", "ab", "b/1", "c"}
		for i, k := range all {
			if _, err := b.Put(ctx, k, bytes.NewReader(randomBytes(int64(i), 1))); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			prefix string
			want   []string
		}{{"", all}, {"a", []string{"a/1", "a/2", "a/sub/3", "ab"}}, {"a/", []string{"a/1", "a/2", "a/sub/3"}}, {"a/s", []string{"a/sub/3"}}, {"zz", nil}} {
			objs, err := b.List(ctx, tc.prefix)
			if err != nil {
				t.Fatal(err)
			}
			if got := keys(objs); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("List(%q) = %v, want %v", tc.prefix, got, tc.want)
			}
			for _, o := range objs {
				if o.Size != int64(indexOf(all, o.Key)) {
					t.Errorf("List: %s has size %d", o.Key, o.Size)
				}
			}
		}
		if err := b.Delete(ctx, "a/sub/3"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Stat(ctx, "a/sub/3"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after Delete: %v", err)
		}
		if objs, _ := b.List(ctx, "a/"); fmt.Sprint(keys(objs)) != "[a/1 a/2]" {
			t.Errorf("List after Delete: %v", keys(objs))
		}
	})

	t.Run("FailedPut", func(t *testing.T) {
		b := newBackend(t)
		// The body breaks after several parts' worth: nothing may appear.
		boom := errors.New("snapshot broke")
		_, err := b.Put(ctx, "broken", &failingReader{r: bytes.NewReader(randomBytes(opts.BigSize, 3)), n: opts.BigSize - 1000, err: boom})
		if err == nil {
			t.Fatal("Put of a failing body: no error")
		}
		if !errors.Is(err, boom) {
			t.Logf("Put's error does not wrap the body's (%v)", err)
		}
		if _, err := b.Stat(ctx, "broken"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after a failed Put, Stat: %v", err)
		}
		if objs, _ := b.List(ctx, ""); len(objs) != 0 {
			t.Errorf("after a failed Put, List: %v", keys(objs))
		}
		pendingZero(t)

		// Cancelled half-way.
		cctx, cancel := context.WithCancel(ctx)
		pr, pw := io.Pipe()
		go func() {
			pw.Write(randomBytes(opts.BigSize/2, 4))
			cancel()
			time.Sleep(100 * time.Millisecond)
			pw.CloseWithError(errors.New("gone"))
		}()
		if _, err := b.Put(cctx, "cancelled", pr); err == nil {
			t.Error("Put with a cancelled context: no error")
		}
		if _, err := b.Stat(ctx, "cancelled"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after a cancelled Put, Stat: %v", err)
		}
		pendingZero(t)
	})

	t.Run("Cleanup", func(t *testing.T) {
		b := newBackend(t)
		c, ok := b.(storage.Cleaner)
		if !ok {
			t.Skip("not a Cleaner")
		}
		if _, err := b.Put(ctx, "x/keep", bytes.NewReader([]byte("k"))); err != nil {
			t.Fatal(err)
		}
		n, err := c.Cleanup(ctx, "x/", time.Now().Add(time.Minute))
		if err != nil || n != 0 {
			t.Errorf("Cleanup with nothing left behind: %d, %v", n, err)
		}
		if _, err := b.Stat(ctx, "x/keep"); err != nil {
			t.Errorf("Cleanup removed an object: %v", err)
		}
	})

	t.Run("BadKeys", func(t *testing.T) {
		b := newBackend(t)
		for _, k := range []string{"", "/abs", "a//b", "../up", "a/./b", "trail/", "a\x00b"} {
			if _, err := b.Put(ctx, k, bytes.NewReader(nil)); !errors.Is(err, storage.ErrBadKey) {
				t.Errorf("Put(%q): %v, want ErrBadKey", k, err)
			}
			if _, err := b.Get(ctx, k, 0, -1); !errors.Is(err, storage.ErrBadKey) {
				t.Errorf("Get(%q): %v, want ErrBadKey", k, err)
			}
		}
	})
}

func indexOf(s []string, k string) int {
	for i, x := range s {
		if x == k {
			return i
		}
	}
	return -1
}
