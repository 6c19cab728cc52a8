package backup_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
	"github.com/redkit/redkit/storage/file"
)

func newFile(t testing.TB) (*file.Backend, string) {
	dir := t.TempDir()
	b, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b, dir
}

// payload is compressible but not trivially: words from a small set.
func payload(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"user:", "session:", "42", "alpha", "\x00\x01", "value", "redis"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

func writeBackup(t *testing.T, b storage.Backend, c storage.Codec, data []byte) *backup.Manifest {
	t.Helper()
	ctx := context.Background()
	id := backup.NewID(time.Now())
	name := "dump" + c.Ext()
	w, err := storage.CreateObject(ctx, b, backup.Key(id, name), c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	e := backup.NewObjectEntry(name, w)
	e.Keys = map[int]int64{0: 3}
	m := &backup.Manifest{ID: id, Compression: c.Compression, Objects: []backup.ObjectEntry{e}, Keys: e.Keys, RawBytes: e.RawBytes, StoredBytes: e.StoredBytes}
	if m.Compression == "" {
		m.Compression = "zstd"
	}
	if len(c.Recipients) > 0 {
		m.Encryption = &backup.Encryption{Kind: "age", Recipients: []string{c.Recipients[0].(*age.X25519Recipient).String()}}
	}
	if err := backup.WriteManifest(ctx, b, m); err != nil {
		t.Fatal(err)
	}
	return m
}

func readBack(b storage.Backend, m *backup.Manifest, c storage.Codec) ([]byte, error) {
	r, err := backup.OpenObject(context.Background(), b, m, m.Objects[0], c)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestObjectRoundTrip(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	data := payload(3 << 20)
	for _, comp := range []string{"zstd", "gzip", "none"} {
		for _, enc := range []bool{false, true} {
			c := storage.Codec{Compression: comp}
			if enc {
				c.Recipients, c.Identities = []age.Recipient{id.Recipient()}, []age.Identity{id}
			}
			t.Run(comp+map[bool]string{true: "+age"}[enc], func(t *testing.T) {
				b, dir := newFile(t)
				m := writeBackup(t, b, c, data)
				e := m.Objects[0]
				if e.RawBytes != int64(len(data)) || comp != "none" && e.StoredBytes >= e.RawBytes/2 {
					t.Errorf("entry %+v", e)
				}
				got, err := readBack(b, m, c)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read back: %d bytes, %v", len(got), err)
				}
				// The stored bytes hold none of the plaintext when encrypted.
				stored, _ := os.ReadFile(filepath.Join(dir, backup.Key(m.ID, e.Name)))
				if enc && bytes.Contains(stored, []byte("session:")) || comp == "none" && !enc && !bytes.Equal(stored, data) {
					t.Errorf("stored bytes: encrypted %v, plaintext found %v", enc, bytes.Contains(stored, []byte("session:")))
				}
				// One byte flipped: ErrChecksum, whatever breaks first.
				p := filepath.Join(dir, backup.Key(m.ID, e.Name))
				stored[len(stored)/2] ^= 0x40
				os.WriteFile(p, stored, 0o644)
				if _, err := readBack(b, m, c); !errors.Is(err, storage.ErrChecksum) {
					t.Errorf("a flipped byte: %v, want ErrChecksum", err)
				}
			})
		}
	}
}

func TestEncryptedNeedsIdentity(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	b, _ := newFile(t)
	m := writeBackup(t, b, storage.Codec{Recipients: []age.Recipient{id.Recipient()}}, payload(1000))
	if _, err := readBack(b, m, storage.Codec{}); !errors.Is(err, storage.ErrEncrypted) || !strings.Contains(err.Error(), "backup "+m.ID+" is encrypted (age, to age1") {
		t.Errorf("no identity: %v", err)
	}
	if _, err := readBack(b, m, storage.Codec{Identities: []age.Identity{other}}); err == nil || !strings.Contains(err.Error(), "none of the identities") {
		t.Errorf("another identity: %v", err)
	}
}

func TestListResolve(t *testing.T) {
	ctx := context.Background()
	b, _ := newFile(t)
	if _, err := backup.Resolve(ctx, b, "latest"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Resolve on an empty store: %v", err)
	}
	m1 := writeBackup(t, b, storage.Codec{}, payload(100))
	time.Sleep(1100 * time.Millisecond) // ids have a second's precision
	m2 := writeBackup(t, b, storage.Codec{}, payload(200))
	// An incomplete backup: an object and no manifest.
	inc := backup.NewID(time.Now().Add(time.Hour))
	b.Put(ctx, backup.Key(inc, "dump.rdb.zst"), strings.NewReader("half"))
	// And an aborted one leaves nothing.
	w, err := storage.CreateObject(ctx, b, backup.Key(backup.NewID(time.Now()), "x.rdb.zst"), storage.Codec{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(payload(1000))
	w.Abort(errors.New("source died"))

	l, err := backup.List(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Backups) != 2 || l.Backups[0].ID != m1.ID || l.Backups[1].ID != m2.ID || len(l.Incomplete) != 1 || l.Incomplete[0] != inc {
		t.Errorf("listing: %d backups, incomplete %v", len(l.Backups), l.Incomplete)
	}
	if m, err := backup.Resolve(ctx, b, "latest"); err != nil || m.ID != m2.ID {
		t.Errorf("latest: %v %v", m, err)
	}
	if m, err := backup.Resolve(ctx, b, m1.ID); err != nil || m.ID != m1.ID || m.TotalKeys() != 3 {
		t.Errorf("by id: %v %v", m, err)
	}
	if _, err := backup.Resolve(ctx, b, inc); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an incomplete backup resolves: %v", err)
	}
	if tm, ok := backup.IDTime(m1.ID); !ok || time.Since(tm) > time.Minute {
		t.Errorf("IDTime(%s) = %v %v", m1.ID, tm, ok)
	}
}

// TestListDamagedManifest: a manifest that cannot be read sets its backup
// apart; the others are still listed.
func TestListDamagedManifest(t *testing.T) {
	ctx := context.Background()
	b, _ := newFile(t)
	m := writeBackup(t, b, storage.Codec{}, payload(100))
	bad := backup.NewID(time.Now().Add(time.Hour))
	b.Put(ctx, backup.Key(bad, backup.ManifestName), strings.NewReader("{not json"))
	l, err := backup.List(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Backups) != 1 || l.Backups[0].ID != m.ID || l.Damaged[bad] == nil {
		t.Errorf("listing: %d backups, damaged %v", len(l.Backups), l.Damaged)
	}
}
