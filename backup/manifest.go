package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/redkit/redkit/storage"
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
func NewID(t time.Time) string { return storage.NewID(t) }

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
	// Consistency is ConsistencyPerKey when some object was read key by
	// key (a source that refuses replication): each key is as of when it
	// was read, between ScanStarted and ScanEnded (UTC); keys written
	// meanwhile may be missing or newer than the rest. Empty (or
	// ConsistencySnapshot): every object is a snapshot of one moment.
	Consistency string    `json:"consistency,omitempty"`
	ScanStarted time.Time `json:"scan_started,omitzero"`
	ScanEnded   time.Time `json:"scan_ended,omitzero"`
}

// The values of Manifest.Consistency.
const (
	ConsistencySnapshot = "snapshot"
	ConsistencyPerKey   = "per-key"
)

// PerKey tells whether some object of the backup was read key by key
// (Consistency "per-key") rather than as a snapshot of one moment.
func (m *Manifest) PerKey() bool { return m.Consistency == ConsistencyPerKey }

// ConsistencyOrSnapshot is Consistency, "snapshot" when empty (a backup
// of snapshots, or one written before the field existed).
func (m *Manifest) ConsistencyOrSnapshot() string {
	if m.Consistency == "" {
		return ConsistencySnapshot
	}
	return m.Consistency
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
	// SourceMode is how a live source's object was read: SourceScan (key
	// by key), or SourceReplication in a backup where some other object
	// was read key by key; empty: a replication snapshot (or a file).
	SourceMode SourceMode `json:"source_mode,omitempty"`
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

// WriteManifest stores m as the backup's last object: the backup exists
// from then on.
func WriteManifest(ctx context.Context, b storage.Backend, m *Manifest) error {
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
func ReadManifest(ctx context.Context, b storage.Backend, id string) (*Manifest, error) {
	data, err := storage.ReadSmall(ctx, b, Key(id, ManifestName), 16<<20)
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
	Objects map[string][]storage.ObjectInfo
}

// List reads every backup's manifest.
func List(ctx context.Context, b storage.Backend) (*Listing, error) {
	objs, err := b.List(ctx, BackupsDir)
	if err != nil {
		return nil, err
	}
	l := &Listing{Objects: map[string][]storage.ObjectInfo{}, Damaged: map[string]error{}}
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
func Resolve(ctx context.Context, b storage.Backend, ref string) (*Manifest, error) {
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

// NewObjectEntry describes the object w stored (after its Close) under
// name, relative to the backup's folder.
func NewObjectEntry(name string, w *storage.ObjectWriter) ObjectEntry {
	return ObjectEntry{Name: name, RawBytes: w.RawBytes(), StoredBytes: w.StoredBytes(), SHA256: w.SHA256()}
}

// Params is how m's objects were written, the codec's parameters for
// the object e.
func (m *Manifest) Params(e ObjectEntry) storage.ObjectParams {
	p := storage.ObjectParams{SHA256: e.SHA256, Compression: m.Compression}
	if m.Encryption != nil {
		p.Encrypted, p.Recipients = true, m.Encryption.Recipients
	}
	return p
}

// OpenObject opens an object of m for reading (storage.OpenObject).
func OpenObject(ctx context.Context, b storage.Backend, m *Manifest, e ObjectEntry, c storage.Codec) (*storage.ObjectReader, error) {
	or, err := storage.OpenObject(ctx, b, Key(m.ID, e.Name), m.Params(e), c)
	if err != nil {
		return nil, objectErr(m.ID, err)
	}
	return or, nil
}

// objectErr names the backup in the codec's errors about the backup as
// a whole: its encryption, its compression.
func objectErr(id string, err error) error {
	var nm *age.NoIdentityMatchError
	switch {
	case errors.Is(err, storage.ErrEncrypted):
		return fmt.Errorf("backup %s is %w", id, err)
	case errors.As(err, &nm), errors.Is(err, storage.ErrUnknownCompression):
		return fmt.Errorf("backup %s: %w", id, err)
	}
	return err
}
