package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/pipeline"
	"github.com/redkit/redkit/rdb"
	"github.com/redkit/redkit/storage"
	rsync "github.com/redkit/redkit/sync"
)

// parseCutoff reads --at (an instant, RFC 3339 or Unix seconds, or
// "latest") and --at-offset; ok is false when neither is given.
func parseCutoff(c *cli.Context) (cut backup.Cutoff, ok bool, err error) {
	at, off := c.String("at"), c.Int64("at-offset")
	switch {
	case at != "" && off != 0:
		return cut, false, usageErrorf("restore: --at and --at-offset: choose one")
	case off < 0:
		return cut, false, usageErrorf("restore: --at-offset %d: want a replication offset (see redkit backup list)", off)
	case off > 0:
		return backup.Cutoff{Offset: off}, true, nil
	case at == "":
		return cut, false, nil
	case at == "latest":
		return cut, true, nil
	}
	if n, err := strconv.ParseInt(at, 10, 64); err == nil && n > 0 {
		return backup.Cutoff{At: time.Unix(n, 0)}, true, nil
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return cut, false, usageErrorf("restore: --at %q: want an RFC 3339 time (2026-11-25T17:00:00Z, 2026-11-25T18:00:00.250+01:00), Unix seconds, or latest", at)
	}
	return backup.Cutoff{At: t}, true, nil
}

// runRestoreAt restores a continuous backup to an instant: the newest
// base at or before it, then its generation's segments up to the last
// command received at or before it.
func runRestoreAt(c *cli.Context, gopts globalOptions, opts restoreOptions, cut backup.Cutoff) error {
	ctx := c.Context
	url, genID := splitBackupRef(c.Args().First())
	b, err := openStorage(ctx, c, url)
	if err != nil {
		return err
	}
	l, err := backup.List(ctx, b)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	gens, err := backup.ListGenerations(ctx, b, l)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if genID != "" && genID != "latest" {
		var only []*backup.Generation
		for _, g := range gens {
			if g.ID() == genID {
				only = append(only, g)
			}
		}
		if len(only) == 0 {
			return usageErrorf("restore: %s is not a generation of a continuous backup in %s (see redkit backup list)", genID, url)
		}
		gens = only
	}
	g, segs, err := backup.PlanRestore(gens, cut)
	if err != nil {
		fmt.Fprintf(gopts.stderr, "redkit: restore: %s\n", withBackupHint(err))
		return reportedError(exitError, err)
	}
	m := g.Base
	ids, err := identitiesFromFlags(c)
	if err != nil {
		return err
	}
	if m.Encryption != nil && len(ids) == 0 {
		return usageErrorf("restore: generation %s is encrypted with age (to %v): give its identity with --identity-file", m.ID, m.Encryption.Recipients)
	}
	codec := storage.Codec{Identities: ids}
	logf := func(format string, a ...any) {
		if !opts.quiet {
			fmt.Fprintf(gopts.stderr, "redkit: restore: "+format+"\n", a...)
		}
	}
	var segBytes int64
	for _, s := range segs {
		segBytes += s.StoredBytes
	}
	logf("to %s: generation %s of %s, base taken %s (%d keys, %s), then %d segment(s) (%s)", cut, m.ID, sourceLabel(m.Source),
		g.From().Format(time.RFC3339Nano), m.TotalKeys(), bytesize.Format(m.StoredBytes), len(segs), bytesize.Format(segBytes))
	if len(m.Objects) != 1 {
		return fmt.Errorf("restore: generation %s has %d base objects, want 1", m.ID, len(m.Objects))
	}
	base := m.Objects[0]
	if opts.verifyFirst {
		// latest would stop at the gap: said before anything is read.
		if g.Gap != nil && (cut == backup.Cutoff{}) {
			fmt.Fprintf(gopts.stderr, "redkit: restore: %v\nnothing was written (--at with an instant up to %s restores what is before the gap)\n", g.Gap, g.Until().Format(time.RFC3339Nano))
			return reportedError(exitError, g.Gap)
		}
		if err := verifyObject(c, b, m, base, codec); err != nil {
			fmt.Fprintf(gopts.stderr, "redkit: restore: the base of generation %s does not verify: %v\nnothing was written\n", m.ID, err)
			return reportedError(exitError, err)
		}
		for _, si := range segs {
			if err := backup.VerifySegment(ctx, b, si, m.Compression, codec); err != nil {
				fmt.Fprintf(gopts.stderr, "redkit: restore: generation %s does not verify: %v\nnothing was written\n", m.ID, err)
				return reportedError(exitError, err)
			}
		}
		logf("verified the base and %d segment(s) (SHA-256, record CRCs and counts)", len(segs))
	}

	rp := backup.NewReplay(ctx, b, segs, m.Compression, codec, cut)
	rp.Gap = g.Gap
	defer rp.Close()
	var replayed, failed int64
	if opts.toFile != "" {
		if err := replayToFile(c, gopts, b, m, base, codec, rp, opts.toFile); err != nil {
			return err
		}
		replayed = rp.Commands
	} else {
		// The commands go to the target as they are, pipelined, after the
		// base: the target executes them, as a replica does its master's.
		var conn *rsync.Conn
		if len(segs) > 0 {
			t, err := resolveTarget(ctx, opts.to, opts.password, opts.tls, opts.timeout, func(string, ...any) {})
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			if t.info.Cluster {
				return usageErrorf("restore --at: %s is a cluster: the commands of a continuous backup are replayed onto a standalone server (restore the base alone with restore %s@%s, or --to-file)", rsync.Redact(opts.to), url, m.ID)
			}
			if conn, err = rsync.Dial(ctx, t.addr, &t.opts); err != nil {
				return fmt.Errorf("restore: %s: %w", t.ep, err)
			}
			defer conn.Close()
		}
		into := restoreInto(gopts, opts, func(backup.RestoreInput) string { return url + "@" + m.ID + " (base)" })
		err := backup.RestoreObject(ctx, b, m, base, 0, into, backup.RestoreOptions{Codec: codec, Filter: opts.filter, Replay: opts.replay})
		if err != nil {
			return backupRestoreError(gopts, m, url, err)
		}
		if conn != nil {
			// The commands go to the target as they are, pipelined, after
			// the base: the target executes them, as a replica does its
			// master's, and they follow their SELECTs.
			start := time.Now()
			var err error
			printed := 0
			if _, failed, err = conn.Pipe(rp, func(msg string) {
				if printed++; printed <= 5 {
					fmt.Fprintf(gopts.stderr, "redkit: restore: a replayed command failed: %s\n", msg)
				}
			}); err != nil {
				return fmt.Errorf("restore: replaying the commands: %w", err)
			}
			replayed = rp.Commands
			logf("replayed %d command(s) in %.1fs", replayed, time.Since(start).Seconds())
		} else if _, err := io.Copy(io.Discard, rp); err != nil { // no segment: a gap after the base is still told
			return fmt.Errorf("restore: %w", err)
		}
	}
	if rerr := rp.Err(); rerr != nil {
		upTo := rp.LastOffset
		if len(segs) == 0 && m.Replication != nil {
			upTo = m.Replication.Offset
		}
		fmt.Fprintf(gopts.stderr, "redkit: restore: %v\nrestored: the base and %d command(s), up to offset %d; the rest of the generation was not\n", rerr, rp.Commands, upTo)
		return reportedError(exitError, rerr)
	}
	last := "none"
	if rp.Commands > 0 {
		last = fmt.Sprintf("offset %d, received %s", rp.LastOffset, rp.LastReceived.UTC().Format(time.RFC3339Nano))
	}
	logf("restored to %s: the base and %d command(s); the last: %s", cut, replayed, last)
	if failed > 0 {
		err := fmt.Errorf("%d of %d replayed command(s) failed on the target", failed, replayed)
		fmt.Fprintf(gopts.stderr, "redkit: restore: %s\n", withBackupHint(err))
		return reportedError(exitProblems, err)
	}
	return nil
}

// replayToFile replays a generation's base and commands into memory
// (the whole data set is held) and writes the keys as one RDB file
// (atomically).
func replayToFile(c *cli.Context, gopts globalOptions, b storage.Backend, m *backup.Manifest, base backup.ObjectEntry, codec storage.Codec, rp *backup.Replay, path string) error {
	ctx := c.Context
	var baseReader *storage.ObjectReader
	am := &aof.Manifest{Base: &aof.ManifestFile{Name: "base", Seq: 1, Type: aof.TypeBase},
		Incrs: []aof.ManifestFile{{Name: "segments", Seq: 1, Type: aof.TypeIncr}}}
	ar, err := aof.NewMultiReader(ctx, am, func(name string) (io.ReadCloser, error) {
		if name == "segments" {
			return io.NopCloser(replayReader{rp}), nil
		}
		or, err := backup.OpenObject(ctx, b, m, base, codec)
		if err != nil {
			return nil, err
		}
		baseReader = or
		return or, nil
	})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer ar.Close()
	// The data set is held whole.
	liftMemoryLimit()
	o, err := openOutput(path, gopts.stdout)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer o.abort()
	co := convertOptions{to: "rdb", rdbVersion: m.Source.RDBVersion}
	if _, err := rdb.NewWriter(io.Discard, rdb.WriterOptions{Version: co.rdbVersion}); err != nil {
		co.rdbVersion = 10 // a version redkit does not write: the one every Redis 7 loads
	}
	sink, err := newConvertSink(&co, o)
	if err != nil {
		return err
	}
	err = pipeline.Copy(ctx, pipeline.NewAOFSource(ar, &rdb.Filter{}, true), sink, pipeline.Options{})
	if err == nil {
		err = sink.Close()
	}
	if baseReader != nil {
		if verr := baseReader.Verify(); errors.Is(verr, storage.ErrChecksum) {
			fmt.Fprintf(gopts.stderr, "redkit: restore: %v\n%s was not written\n", verr, path)
			return reportedError(exitError, verr)
		}
	}
	if rerr := rp.Err(); rerr != nil {
		// A damaged or missing segment: the file would hold only what is
		// before it, so nothing is written (an existing file is left as
		// it was).
		fmt.Fprintf(gopts.stderr, "redkit: restore: %v\n%s was not written\n", rerr, path)
		return reportedError(exitError, rerr)
	}
	if err != nil {
		return fmt.Errorf("restore: replay: %w", err)
	}
	if err := o.commit(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if path != "-" {
		fmt.Fprintf(gopts.stderr, "redkit: restore: %d keys written to %s\n", sink.Stats().Keys, path)
	}
	return nil
}

// replayReader ends with the replay's error instead of io.EOF when it
// stopped early (a damaged or missing segment), so that the replay into
// memory fails before a key is written.
type replayReader struct{ rp *backup.Replay }

func (r replayReader) Read(p []byte) (int, error) {
	n, err := r.rp.Read(p)
	if err == io.EOF && r.rp.Err() != nil {
		err = r.rp.Err()
	}
	return n, err
}
