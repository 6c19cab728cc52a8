package backup

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/redkit/redkit/internal/retry"
	"github.com/redkit/redkit/storage"
)

// BaseOptions say what a continuous backup's bases record and how they
// wait for the storage's lock (ContinuousOptions.Base).
type BaseOptions struct {
	Source     SourceInfo // the source, as the manifest records it
	Recipients []string   // the age public keys Codec encrypts to, for the manifest
	// LockTimeout: a lock not refreshed for that long is taken over.
	LockTimeout time.Duration
	// LockWait bounds how long a base waits for a lock another run holds
	// (a prune's, a backup's), trying every 5 seconds: then its
	// *LockError (wrapping a *storage.LockedError) is returned. 0: no bound.
	LockWait time.Duration
	Version  string // redkit's, recorded in the manifest
}

// storeBase stores a generation's base, read from r to its end, as a
// backup: the storage's lock held meanwhile (a prune waits; the base
// waits, every 5s, while another run holds it, up to o.LockWait), the manifest marked
// Continuous with the snapshot's place in the stream.
func storeBase(ctx context.Context, backend storage.Backend, codec storage.Codec, o BaseOptions, r io.Reader, pos ReplPosition, log *slog.Logger) (*Manifest, error) {
	var lock *storage.Lock
	waiting := time.Now()
	for {
		var err error
		lock, err = Lock(ctx, backend, "backup", o.LockTimeout, log)
		if err == nil {
			break
		}
		if !errors.Is(err, storage.ErrLocked) || o.LockWait > 0 && time.Since(waiting) >= o.LockWait {
			return nil, err
		}
		log.Warn("the storage is locked by another run: waiting to store the base", "err", err)
		if !retry.Wait(ctx, 5*time.Second) {
			return nil, ctx.Err()
		}
	}
	defer lock.Release(context.WithoutCancel(ctx))
	start := time.Now()
	m := &Manifest{
		ID:            NewID(start),
		Started:       start.UTC(),
		RedkitVersion: o.Version,
		Source:        o.Source,
		Compression:   codec.Compression,
		Level:         codec.Level,
		Continuous:    true,
		Replication:   &pos,
	}
	if len(o.Recipients) > 0 {
		m.Encryption = &Encryption{Kind: "age", Recipients: o.Recipients}
	}
	j := &snapshotJob{name: "dump" + codec.Ext(), open: func(context.Context) (io.Reader, int64, func(), error) {
		return r, 0, func() {}, nil
	}}
	if err := j.run(ctx, backend, m.ID, codec); err != nil {
		return nil, err
	}
	m.Objects = []ObjectEntry{j.entry}
	m.Keys, m.RawBytes, m.StoredBytes = j.entry.Keys, j.entry.RawBytes, j.entry.StoredBytes
	m.Source.RDBVersion = j.entry.RDBVersion
	m.Completed = time.Now().UTC()
	m.Duration = time.Since(start).Seconds()
	if err := WriteManifest(ctx, backend, m); err != nil {
		return nil, err
	}
	log.Info("base stored", "id", m.ID, "keys", m.TotalKeys(), "stored_bytes", m.StoredBytes, "offset", pos.Offset, "seconds", m.Duration)
	return m, nil
}

// ResumeGeneration finds the generation a continuous backup of source
// (its URL, as SourceInfo.URL records it) continues: the newest of this
// source's, unless a segment is missing from it; nil: a new one starts.
func ResumeGeneration(ctx context.Context, b storage.Backend, source string, log *slog.Logger) (*Generation, error) {
	log = logOrDiscard(log)
	_, gens, err := listGenerations(ctx, b)
	if err != nil {
		return nil, err
	}
	for i := len(gens) - 1; i >= 0; i-- {
		g := gens[i]
		if g.Base.Source.URL == source && g.Base.Replication != nil {
			if g.Gap != nil {
				log.Warn("the newest generation of this source misses a segment: a new one starts", "generation", g.ID(), "err", g.Gap)
				return nil, nil
			}
			return g, nil
		}
	}
	return nil, nil
}
