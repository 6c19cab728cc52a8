package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/redkit/redkit/internal/countio"
)

// A backup is a folder of objects under the backend's root:
//
//	backups/<id>/dump.rdb.zst       one snapshot (or shard-<slot>.rdb.zst per cluster master)
//	backups/<id>/manifest.json      written last: a backup without one does not exist
//
// The id is the start time in UTC and a random suffix
// (20261126T020700Z-3f9a1c), so ids sort by time and are never reused:
// nothing is ever overwritten.

// BackupsDir is the folder of the backups, under the backend's root.
const BackupsDir = "backups/"

// ManifestName is the name of a backup's manifest.
const ManifestName = "manifest.json"

// ManifestFormat names the manifest's layout.
const ManifestFormat = "redkit-backup/1"

// ErrChecksum is returned when an object's bytes do not have the
// SHA-256 its manifest records.
var ErrChecksum = errors.New("checksum mismatch")

// ErrBadManifest is returned for a manifest that cannot be used:
// not JSON, another format, or naming another backup.
var ErrBadManifest = errors.New("bad backup manifest")

// ErrKeyCount is returned when the keys read from a backup are not as
// many as its manifest counts.
var ErrKeyCount = errors.New("the keys read differ from the manifest's count")

// KeyCountError is a database whose keys, as read from a backup's
// object, are not as many as the manifest says. It wraps ErrKeyCount.
type KeyCountError struct {
	Object   string // the object's name, or the backup's id for several
	DB       int
	Read     int64
	Manifest int64
}

func (e *KeyCountError) Error() string {
	return fmt.Sprintf("%s: database %d has %d keys, the manifest says %d", e.Object, e.DB, e.Read, e.Manifest)
}

func (e *KeyCountError) Unwrap() error { return ErrKeyCount }

// CheckKeys compares the keys per database read from what name names
// with the manifest's count of them, every database of either: a
// *KeyCountError for the first (in order) that differs, nil if they all
// agree.
func CheckKeys(name string, manifest, read map[int]int64) error {
	dbs := make([]int, 0, len(manifest)+len(read))
	for db := range manifest {
		dbs = append(dbs, db)
	}
	for db := range read {
		if _, ok := manifest[db]; !ok {
			dbs = append(dbs, db)
		}
	}
	sort.Ints(dbs)
	for _, db := range dbs {
		if read[db] != manifest[db] {
			return &KeyCountError{Object: name, DB: db, Read: read[db], Manifest: manifest[db]}
		}
	}
	return nil
}

// CheckKeys compares the keys per database read from the object with
// the manifest's (CheckKeys).
func (e ObjectEntry) CheckKeys(read map[int]int64) error { return CheckKeys(e.Name, e.Keys, read) }

// NewID returns a backup id for a backup started at t.
func NewID(t time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// IDTime is the start time an id encodes.
func IDTime(id string) (time.Time, bool) {
	ts, _, ok := strings.Cut(id, "-")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T150405Z", ts)
	return t, err == nil
}

// Manifest describes one complete backup.
type Manifest struct {
	Format        string        `json:"format"`
	ID            string        `json:"id"`
	Started       time.Time     `json:"started"`
	Completed     time.Time     `json:"completed"`
	Duration      float64       `json:"duration_seconds"`
	RedkitVersion string        `json:"redkit_version"`
	Source        SourceInfo    `json:"source"`
	Compression   string        `json:"compression"` // zstd, gzip or none
	Level         int           `json:"level,omitempty"`
	Encryption    *Encryption   `json:"encryption,omitempty"`
	Objects       []ObjectEntry `json:"objects"`
	Keys          map[int]int64 `json:"keys"` // per database, all objects
	RawBytes      int64         `json:"raw_bytes"`
	StoredBytes   int64         `json:"stored_bytes"`
	// Continuous marks the base of a continuous backup's generation,
	// and Replication says where it stands in the source's stream.
	Continuous  bool          `json:"continuous,omitempty"`
	Replication *ReplPosition `json:"replication,omitempty"`
	// AOFManifest is the manifest of a multi-part AOF backed up, as
	// Redis wrote it; its files are the objects whose File it names.
	AOFManifest string `json:"aof_manifest,omitempty"`
}

// SourceInfo says what was backed up.
type SourceInfo struct {
	Kind       string `json:"kind"` // live, rdb-file or aof-dir
	URL        string `json:"url"`  // without credentials
	Host       string `json:"host,omitempty"`
	Role       string `json:"role,omitempty"`
	Server     string `json:"server,omitempty"` // redis or valkey
	Version    string `json:"version,omitempty"`
	RDBVersion int    `json:"rdb_version,omitempty"`
	Cluster    bool   `json:"cluster,omitempty"`
}

// Encryption says how the objects are encrypted: with age, to these
// recipients (public keys only).
type Encryption struct {
	Kind       string   `json:"kind"` // age
	Recipients []string `json:"recipients"`
}

// ObjectEntry is one stored snapshot.
type ObjectEntry struct {
	Name        string        `json:"name"` // relative to the backup's folder
	RawBytes    int64         `json:"raw_bytes"`
	StoredBytes int64         `json:"stored_bytes"`
	SHA256      string        `json:"sha256"` // of the stored bytes
	RDBVersion  int           `json:"rdb_version,omitempty"`
	Keys        map[int]int64 `json:"keys"`
	// A cluster master's snapshot: its address and slot ranges.
	Master string   `json:"master,omitempty"`
	Slots  [][2]int `json:"slots,omitempty"`
	// A file of a multi-part AOF: its name in the AOF's manifest, its
	// role (base or incr) and its commands (an incr file, an AOF base).
	File     string `json:"file,omitempty"`
	Role     string `json:"role,omitempty"`
	Commands int64  `json:"commands,omitempty"`
}

// TotalKeys sums Keys.
func (m *Manifest) TotalKeys() int64 {
	var n int64
	for _, k := range m.Keys {
		n += k
	}
	return n
}

// Key is the key of one of a backup's objects.
func Key(id, name string) string { return BackupsDir + id + "/" + name }

// Codec says how objects are compressed and encrypted.
type Codec struct {
	Compression string // zstd (default), gzip or none
	Level       int    // zstd 1 to 22 (default 3), gzip 1 to 9 (default 6)
	// Recipients encrypt with age; empty: no encryption.
	Recipients []age.Recipient
	// Identities decrypt.
	Identities []age.Identity
}

// Ext is the file extension of the codec's RDB objects.
func (c Codec) Ext() string { return ".rdb" + c.Suffix() }

// Suffix is what the codec adds to a file's name: .zst or .gz, and .age.
func (c Codec) Suffix() string {
	e := ""
	switch c.Compression {
	case "", "zstd":
		e += ".zst"
	case "gzip":
		e += ".gz"
	}
	if len(c.Recipients) > 0 {
		e += ".age"
	}
	return e
}

// CheckCompression validates a compression name and level.
func CheckCompression(name string, level int) error {
	switch name {
	case "", "zstd":
		if level != 0 && (level < 1 || level > 22) {
			return fmt.Errorf("zstd level %d: want 1 to 22", level)
		}
	case "gzip":
		if level != 0 && (level < 1 || level > 9) {
			return fmt.Errorf("gzip level %d: want 1 to 9", level)
		}
	case "none":
	default:
		return fmt.Errorf("compression %q: want zstd, gzip or none", name)
	}
	return nil
}

// ObjectWriter streams one object: what is written is compressed, then
// encrypted, hashed and uploaded as it goes, with bounded memory and no
// temporary file. Compression runs in a goroutine of its own, so that the
// writer (a parser checking the snapshot) and the compressor use two
// cores. Close finishes the upload; Abort cancels it, leaving nothing
// stored. Write and Close are for one goroutine.
type ObjectWriter struct {
	key    string
	pw     *io.PipeWriter
	enc    io.WriteCloser // compressor; nil for none
	crypt  io.WriteCloser // age; nil without recipients
	top    io.Writer      // where the chunks go
	raw    int64
	sum    hash.Hash
	stored atomic.Int64
	done   chan error // the upload's result
	cancel context.CancelFunc

	chunks    chan []byte // to the compressing goroutine
	free      chan []byte // buffers back from it
	allocated int
	stage     chan error // the compressing goroutine's result
	failed    atomic.Pointer[error]
	closeOnce sync.Once
	stageOnce sync.Once
	stageErr  error
}

const (
	chunkSize = 256 << 10
	maxChunks = 8 // 2 MiB in flight to the compressor
)

// CreateObject starts the upload of key.
func CreateObject(ctx context.Context, b Backend, key string, c Codec) (*ObjectWriter, error) {
	if err := CheckCompression(c.Compression, c.Level); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	w := &ObjectWriter{key: key, pw: pw, sum: sha256.New(), done: make(chan error, 1), cancel: cancel,
		chunks: make(chan []byte, maxChunks), free: make(chan []byte, maxChunks), stage: make(chan error, 1)}
	// The upload reads the pipe from the start: age writes its header
	// right away.
	go func() {
		_, err := b.Put(ctx, key, pr)
		pr.CloseWithError(err) // unblock a writer if Put gave up early
		w.done <- err
	}()
	fail := func(err error) (*ObjectWriter, error) {
		w.closeOnce.Do(func() { close(w.chunks) })
		w.stage <- nil
		w.Abort(err)
		return nil, err
	}
	// pipe <- hash <- age <- compressor <- chunks <- Write
	var out io.Writer = io.MultiWriter(pw, w.sum)
	out = &countio.Writer{W: out, N: &w.stored}
	crypt, enc, out, err := encodeTo(out, c)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", key, err))
	}
	w.crypt, w.enc = crypt, enc
	w.top = out
	go w.compress()
	return w, nil
}

// encodeTo stacks the codec's encryption and compression on out: what
// is written to top comes out compressed, then encrypted. Close enc,
// then crypt (either may be nil).
func encodeTo(out io.Writer, c Codec) (crypt, enc io.WriteCloser, top io.Writer, err error) {
	if len(c.Recipients) > 0 {
		cw, err := age.Encrypt(out, c.Recipients...)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("encrypt: %w", err)
		}
		crypt, out = cw, cw
	}
	switch c.Compression {
	case "", "zstd":
		level := c.Level
		if level == 0 {
			level = 3
		}
		zw, err := zstd.NewWriter(out, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, nil, nil, err
		}
		enc, out = zw, zw
	case "gzip":
		level := c.Level
		if level == 0 {
			level = 6
		}
		gw, err := gzip.NewWriterLevel(out, level)
		if err != nil {
			return nil, nil, nil, err
		}
		enc, out = gw, gw
	}
	return crypt, enc, out, nil
}

// compress writes the chunks through the compressor, then finishes it.
func (w *ObjectWriter) compress() {
	var err error
	for b := range w.chunks {
		if err == nil {
			if _, err = w.top.Write(b); err != nil {
				w.failed.Store(&err)
			}
		}
		w.free <- b[:cap(b)]
	}
	if err == nil && w.enc != nil {
		err = w.enc.Close()
	}
	if err == nil && w.crypt != nil {
		err = w.crypt.Close()
	}
	w.stage <- err
}

// Write hands p to the compressor.
func (w *ObjectWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if e := w.failed.Load(); e != nil {
			return n, *e
		}
		var b []byte
		select {
		case b = <-w.free:
		default:
			if w.allocated < maxChunks {
				w.allocated++
				b = make([]byte, chunkSize)
			} else {
				b = <-w.free
			}
		}
		k := copy(b, p)
		w.chunks <- b[:k]
		p = p[k:]
		n += k
		w.raw += int64(k)
	}
	return n, nil
}

// finish ends the compressing goroutine and returns its result.
func (w *ObjectWriter) finish() error {
	w.closeOnce.Do(func() { close(w.chunks) })
	w.stageOnce.Do(func() { w.stageErr = <-w.stage })
	return w.stageErr
}

// Close flushes the compressor and the encryption, and waits for the
// upload to complete.
func (w *ObjectWriter) Close() error {
	if err := w.finish(); err != nil {
		w.Abort(err)
		return fmt.Errorf("finish %s: %w", w.key, err)
	}
	w.pw.Close()
	err := <-w.done
	w.done <- err // for a later Abort
	w.cancel()
	return err
}

// Abort cancels the upload: nothing is stored.
func (w *ObjectWriter) Abort(cause error) {
	if cause == nil {
		cause = errors.New("aborted")
	}
	w.cancel()
	w.pw.CloseWithError(cause) // the compressor's writes fail from now on
	w.finish()
	err := <-w.done
	w.done <- err // a second Abort or Close returns at once
}

// Entry describes what Close stored.
func (w *ObjectWriter) Entry(name string) ObjectEntry {
	return ObjectEntry{Name: name, RawBytes: w.raw, StoredBytes: w.stored.Load(), SHA256: hex.EncodeToString(w.sum.Sum(nil))}
}

// RawBytes is how many bytes were written so far.
func (w *ObjectWriter) RawBytes() int64 { return w.raw }

// WriteManifest stores m as the backup's last object: the backup exists
// from then on.
func WriteManifest(ctx context.Context, b Backend, m *Manifest) error {
	m.Format = ManifestFormat
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if _, err := b.Put(ctx, Key(m.ID, ManifestName), strings.NewReader(string(data)+"\n")); err != nil {
		return fmt.Errorf("write the manifest of backup %s: %w", m.ID, err)
	}
	return nil
}

// ReadManifest reads backup id's manifest; fs.ErrNotExist when the
// backup does not exist (or is incomplete).
func ReadManifest(ctx context.Context, b Backend, id string) (*Manifest, error) {
	data, err := readSmall(ctx, b, Key(id, ManifestName), 16<<20)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w of backup %s: %v", ErrBadManifest, id, err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("%w of backup %s: format %q, want %q (written by a newer redkit?)", ErrBadManifest, id, m.Format, ManifestFormat)
	}
	if m.ID != id {
		return nil, fmt.Errorf("%w of backup %s: it names backup %q", ErrBadManifest, id, m.ID)
	}
	return &m, nil
}

// Listing is what a backend holds: complete backups, oldest first, and
// the ids of incomplete ones (objects without a manifest: in progress,
// or left by a run that died).
type Listing struct {
	Backups    []*Manifest
	Incomplete []string
	// Damaged maps the ids of backups whose manifest cannot be read to
	// the reason: they are neither listed nor pruned.
	Damaged map[string]error
	// Objects maps each backup id to its objects.
	Objects map[string][]ObjectInfo
}

// List reads every backup's manifest.
func List(ctx context.Context, b Backend) (*Listing, error) {
	objs, err := b.List(ctx, BackupsDir)
	if err != nil {
		return nil, err
	}
	l := &Listing{Objects: map[string][]ObjectInfo{}, Damaged: map[string]error{}}
	var ids []string
	for _, o := range objs {
		id, _, ok := strings.Cut(strings.TrimPrefix(o.Key, BackupsDir), "/")
		if !ok {
			continue
		}
		if _, seen := l.Objects[id]; !seen {
			ids = append(ids, id)
		}
		l.Objects[id] = append(l.Objects[id], o)
	}
	sort.Strings(ids)
	for _, id := range ids {
		has := false
		for _, o := range l.Objects[id] {
			has = has || path.Base(o.Key) == ManifestName
		}
		if !has {
			l.Incomplete = append(l.Incomplete, id)
			continue
		}
		m, err := ReadManifest(ctx, b, id)
		if errors.Is(err, fs.ErrNotExist) {
			l.Incomplete = append(l.Incomplete, id) // deleted meanwhile
			continue
		}
		if errors.Is(err, ErrBadManifest) {
			l.Damaged[id] = err
			continue
		}
		if err != nil {
			return nil, err
		}
		l.Backups = append(l.Backups, m)
	}
	// Ids have a second's precision: the manifests' start times order
	// backups taken within one.
	sort.SliceStable(l.Backups, func(i, j int) bool { return l.Backups[i].Started.Before(l.Backups[j].Started) })
	return l, nil
}

// Resolve finds the backup ref names: an id, or "latest" (or "") for
// the newest complete one.
func Resolve(ctx context.Context, b Backend, ref string) (*Manifest, error) {
	if ref != "" && ref != "latest" {
		m, err := ReadManifest(ctx, b, ref)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no backup %s in %s (see redkit backup list): %w", ref, b.URL(), fs.ErrNotExist)
		}
		return m, err
	}
	l, err := List(ctx, b)
	if err != nil {
		return nil, err
	}
	if len(l.Backups) == 0 {
		return nil, fmt.Errorf("no complete backup in %s: %w", b.URL(), fs.ErrNotExist)
	}
	return l.Backups[len(l.Backups)-1], nil
}

// ObjectReader reads an object back: the stored bytes are hashed as they
// come, decrypted and decompressed. Verify (or a read to the end) checks
// the SHA-256 against the manifest's.
type ObjectReader struct {
	key    string
	body   io.ReadCloser
	hashed *hashReader
	want   string
	r      io.Reader // what Read returns
	dec    func()    // closes the decompressor
	err    error
}

type hashReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

// OpenObject opens an object of m for reading.
func OpenObject(ctx context.Context, b Backend, m *Manifest, e ObjectEntry, c Codec) (*ObjectReader, error) {
	key := Key(m.ID, e.Name)
	if m.Encryption != nil && len(c.Identities) == 0 {
		return nil, fmt.Errorf("backup %s is encrypted (age, to %s): give the identity file with --identity-file", m.ID, strings.Join(m.Encryption.Recipients, ", "))
	}
	body, err := b.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	return openObjectBody(key, body, m, e.SHA256, c)
}

// openObjectBody reads an object's stored bytes from body, as m says
// they were written, checking them against their SHA-256.
func openObjectBody(key string, body io.ReadCloser, m *Manifest, sha string, c Codec) (*ObjectReader, error) {
	or := &ObjectReader{key: key, body: body, want: sha}
	or.hashed = &hashReader{r: body, h: sha256.New()}
	var r io.Reader = or.hashed
	if m.Encryption != nil {
		dr, err := age.Decrypt(r, c.Identities...)
		if err != nil {
			body.Close()
			var nm *age.NoIdentityMatchError
			if errors.As(err, &nm) {
				return nil, fmt.Errorf("backup %s: none of the identities given decrypts it (it is encrypted to %s): %w", m.ID, strings.Join(m.Encryption.Recipients, ", "), err)
			}
			return nil, fmt.Errorf("decrypt %s: %w", key, err)
		}
		r = dr
	}
	switch m.Compression {
	case "zstd":
		// Two: the stream is decoded ahead in a goroutine of its own, on
		// another core than the reader's parser.
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(2))
		if err != nil {
			body.Close()
			return nil, err
		}
		or.dec, r = zr.Close, zr
	case "gzip":
		gr, err := gzip.NewReader(r)
		if err != nil {
			body.Close()
			return nil, fmt.Errorf("%s: %w (or %w)", key, err, ErrChecksum)
		}
		or.dec, r = func() { gr.Close() }, gr
	case "none", "":
	default:
		body.Close()
		return nil, fmt.Errorf("backup %s: unknown compression %q", m.ID, m.Compression)
	}
	or.r = r
	return or, nil
}

// Read returns the object's raw bytes (the RDB). At the end of the
// stored bytes it checks the checksum: ErrChecksum instead of io.EOF.
func (o *ObjectReader) Read(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.r.Read(p)
	if err == io.EOF {
		if verr := o.Verify(); verr != nil {
			o.err = verr
			return n, verr
		}
		o.err = io.EOF
	} else if err != nil {
		// Damaged bytes break the decompressor or the decryption first:
		// the checksum says whether the store has the bytes written.
		if verr := o.Verify(); errors.Is(verr, ErrChecksum) {
			err = fmt.Errorf("%w (reading it: %v)", verr, err)
		} else {
			err = fmt.Errorf("read %s at stored byte %d: %w", o.key, o.hashed.n, err)
		}
		o.err = err
	}
	return n, err
}

// Verify reads what is left of the stored bytes and checks their
// SHA-256 against the manifest's. It stops the decompressor first: a
// zstd decoder reads the stored bytes ahead in goroutines of its own,
// and none may read them (or hash them) while Verify does; the object
// cannot be read after Verify.
func (o *ObjectReader) Verify() error {
	o.stopDecoder()
	if _, err := io.Copy(io.Discard, o.hashed); err != nil {
		return fmt.Errorf("read %s: %w", o.key, err)
	}
	if got := hex.EncodeToString(o.hashed.h.Sum(nil)); got != o.want {
		return fmt.Errorf("%s: %w: its %d bytes have SHA-256 %s, the manifest says %s", o.key, ErrChecksum, o.hashed.n, got, o.want)
	}
	return nil
}

// errReaderStopped is what Read returns after Verify or Close.
var errReaderStopped = errors.New("object read after its check or close")

// StoredBytes is how many stored bytes were read so far.
func (o *ObjectReader) StoredBytes() int64 { return o.hashed.n }

// Close releases the download.
func (o *ObjectReader) Close() error {
	o.stopDecoder()
	return o.body.Close()
}

// stopDecoder closes the decompressor, once: when it returns, no
// goroutine of the decoder reads the stored bytes any more.
func (o *ObjectReader) stopDecoder() {
	if o.dec != nil {
		o.dec()
		o.dec = nil
	}
	if o.err == nil {
		o.err = errReaderStopped
	}
}
