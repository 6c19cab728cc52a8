package compare

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redkit/redkit/rdb"
)

// ReservedPrefix marks redkit's own keys, left out of comparisons.
const ReservedPrefix = "redkit:"

// Entry is what a comparison keeps of one key.
type Entry struct {
	DB       int
	Key      string
	Type     rdb.Type
	ExpireAt int64  // absolute Unix ms, or rdb.NoExpiry
	Count    int64  // elements: 1 for strings and module values, entries for streams
	Digest   Digest // the elements
	Meta     Digest // stream metadata (IDs, groups, pending entries, consumers)
}

// Keep chooses keys to digest: a Source skips keys for which it returns
// false without reading their values. A nil Keep keeps every key.
type Keep func(db int, key []byte) bool

// Source yields the keys of one side of a comparison.
type Source interface {
	// Name names the side for messages: a path, or a URL without its
	// password.
	Name() string
	// Each calls fn with the entry of every key that keep chooses, in no
	// particular order, digests computed with h. The Entry is reused
	// after fn returns. An error from fn stops Each and is returned.
	Each(ctx context.Context, h *Hasher, keep Keep, fn func(*Entry) error) error
}

// Looker is a Source that can read given keys directly (a live server).
type Looker interface {
	Source
	// Lookup calls fn for each of keys, in order, with its entry, or with
	// nil when the key does not exist (or is reserved or expired).
	Lookup(ctx context.Context, h *Hasher, keys []DBKey, fn func(DBKey, *Entry) error) error
}

// DBKey names a key in a database.
type DBKey struct {
	DB  int
	Key string
}

// reserved tells keys left out of every comparison.
func reserved(key []byte) bool { return bytes.HasPrefix(key, []byte(ReservedPrefix)) }

// DumpSource reads the keys of a dump through an iteration over
// rdb.KeyValues: an rdb.Reader's keys, a JSON document's, or a replayed
// AOF keyspace's.
type DumpSource struct {
	name string
	each func(fn func(*rdb.KeyValue) error) error
	now  func() int64
	dbs  []int
}

var _ Source = (*DumpSource)(nil)

// DumpOptions configure a DumpSource. The zero value reads every key.
type DumpOptions struct {
	// DBs, when not empty, limits the databases read.
	DBs []int
	// Now returns the current Unix ms: keys that expire at or before it
	// are left out. Default: the wall clock.
	Now func() int64
}

// NewDumpSource returns a Source over the KeyValues that each yields.
// name names the input in errors.
func NewDumpSource(name string, each func(fn func(*rdb.KeyValue) error) error, opts DumpOptions) *DumpSource {
	now := opts.Now
	if now == nil {
		now = nowMs
	}
	return &DumpSource{name: name, each: each, now: now, dbs: opts.DBs}
}

// NewRDBSource is a DumpSource over an RDB stream.
func NewRDBSource(name string, rd *rdb.Reader, opts DumpOptions) *DumpSource {
	return NewDumpSource(name, func(fn func(*rdb.KeyValue) error) error {
		for {
			rec, err := rd.Next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			if rec.Kind == rdb.KindKey {
				if err := fn(rd.KeyValue()); err != nil {
					return err
				}
			}
		}
	}, opts)
}

// Name returns the dump's name.
func (s *DumpSource) Name() string { return s.name }

// Each digests every key of the dump.
func (s *DumpSource) Each(ctx context.Context, h *Hasher, keep Keep, fn func(*Entry) error) error {
	var e Entry
	now := s.now()
	err := s.each(func(kv *rdb.KeyValue) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if reserved(kv.Key) || !wantDB(s.dbs, kv.DB) || (kv.ExpireAt != rdb.NoExpiry && kv.ExpireAt <= now) {
			return nil
		}
		if keep != nil && !keep(kv.DB, kv.Key) {
			return nil
		}
		e = Entry{DB: kv.DB, Key: string(kv.Key), Type: kv.Type, ExpireAt: kv.ExpireAt}
		if err := digestKeyValue(h, kv, &e); err != nil {
			if pe := (*rdb.ParseError)(nil); errors.As(err, &pe) && pe.Key != nil {
				return err // it names the key and its offset
			}
			return fmt.Errorf("key %q: %w", kv.Key, err)
		}
		return fn(&e)
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return err
}

func nowMs() int64 { return time.Now().UnixMilli() }

func wantDB(dbs []int, db int) bool {
	if len(dbs) == 0 {
		return true
	}
	for _, d := range dbs {
		if d == db {
			return true
		}
	}
	return false
}

// digestKeyValue fills e's Count, Digest and Meta from kv's value.
func digestKeyValue(h *Hasher, kv *rdb.KeyValue, e *Entry) error {
	if kv.Type == rdb.TypeModule {
		if kv.Dump == nil {
			return fmt.Errorf("module value without a DUMP payload")
		}
		tw := &trailerHasher{}
		if err := kv.Dump(tw); err != nil {
			return err
		}
		body, err := tw.body()
		if err != nil {
			return err
		}
		e.Count, e.Digest = 1, h.Module(body)
		return nil
	}
	var i int64
	err := kv.Elements(func(el *rdb.Element) error {
		var d Digest
		switch kv.Type {
		case rdb.TypeString:
			d = h.String(el.Member)
		case rdb.TypeList:
			d = h.ListItem(i, el.Member)
		case rdb.TypeSet:
			d = h.SetMember(el.Member)
		case rdb.TypeZSet:
			d = h.ZSetMember(el.Member, el.Score)
		case rdb.TypeHash:
			d = h.HashField(el.Member, el.Value, el.ExpireAt)
		case rdb.TypeStream:
			d = h.StreamEntry(el.ID, el.Fields)
		default:
			return fmt.Errorf("cannot compare values of type %s", kv.Type)
		}
		e.Digest.add(d)
		i++
		return nil
	})
	if err != nil {
		return err
	}
	e.Count = i
	if kv.Type == rdb.TypeStream && kv.Stream != nil {
		if si := kv.Stream(); si != nil {
			e.Meta = streamMetaDigest(h, si)
		}
	}
	return nil
}

// streamMetaDigest digests a stream's metadata as the live reader does.
func streamMetaDigest(h *Hasher, si *rdb.StreamInfo) Digest {
	d := h.StreamMeta(si.LastID, si.FirstID, si.MaxDeletedID, si.EntriesAdded)
	for _, g := range si.Groups {
		name := []byte(g.Name)
		d.add(h.Group(name, g.LastID, g.EntriesRead))
		for _, p := range g.Pending {
			d.add(h.Pending(name, p.ID, []byte(p.Consumer), p.DeliveryCount))
		}
		for _, c := range g.Consumers {
			d.add(h.Consumer(name, []byte(c.Name)))
		}
	}
	return d
}

// trailerHasher gathers a DUMP payload's body: everything but its last
// 10 bytes (RDB version and CRC64), which differ between servers.
// Module values are opaque blobs, held whole.
type trailerHasher struct{ buf []byte }

func (t *trailerHasher) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	return len(p), nil
}

func (t *trailerHasher) body() ([]byte, error) {
	if len(t.buf) < 10 {
		return nil, fmt.Errorf("DUMP payload of %d bytes is too short", len(t.buf))
	}
	return t.buf[:len(t.buf)-10], nil
}
