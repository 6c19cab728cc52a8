package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/bytesize"
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
func runRestoreAt(ctx context.Context, gopts globalOptions, opts restoreOptions, args []string) error {
	if len(args) != 1 {
		return usageErrorf("restore: one backup at a time (got %d)", len(args))
	}
	cut := opts.cut
	url, genID, err := backupRef("restore", args[0])
	if err != nil {
		return err
	}
	b, err := openStorageURL(ctx, opts.storage, url, newLogger(gopts.stderr, gopts.logFormat, opts.quiet))
	if err != nil {
		return err
	}
	p, err := backup.PlanAt(ctx, b, genID, cut)
	if ug := (*backup.UnknownGenerationError)(nil); errors.As(err, &ug) {
		return usageErrorf("restore: %s is not a generation of a continuous backup in %s (see redkit backup list)", ug.ID, url)
	}
	if errors.Is(err, backup.ErrNotRestorable) {
		return newRestoreStderr(gopts, false).failf(exitError, err, "%s", withAdvice(err))
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	g, m := p.Generation, p.Base
	ids, err := readIdentities(opts.identityFiles)
	if err != nil {
		return err
	}
	if m.Encryption != nil && len(ids) == 0 {
		return usageErrorf("restore: generation %s is encrypted with age (to %v): give its identity with --identity-file", m.ID, m.Encryption.Recipients)
	}
	codec := storage.Codec{Identities: ids}
	say := newRestoreStderr(gopts, opts.quiet)
	logf := say.infof
	logf("to %s: generation %s of %s, base taken %s (%d keys, %s), then %d segment(s) (%s)", cut, m.ID, sourceLabel(m.Source),
		g.From().Format(time.RFC3339Nano), m.TotalKeys(), bytesize.Format(m.StoredBytes), len(p.Segments), bytesize.Format(p.SegmentBytes()))
	if _, err := p.BaseObject(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if opts.verifyFirst {
		if err := backup.VerifyAt(ctx, b, p, codec); err != nil {
			ve := &backup.AtVerifyError{What: backup.AtSegment, Err: err}
			errors.As(err, &ve)
			switch ve.What {
			case backup.AtGap:
				// latest would stop at the gap: said before anything is read.
				return say.failf(exitError, ve.Err, "%v\nnothing was written (--at with an instant up to %s restores what is before the gap)", ve.Err, g.Until().Format(time.RFC3339Nano))
			case backup.AtBase:
				return say.failf(exitError, ve.Err, "the base of generation %s does not verify: %v\nnothing was written", m.ID, ve.Err)
			default:
				return say.failf(exitError, ve.Err, "generation %s does not verify: %v\nnothing was written", m.ID, ve.Err)
			}
		}
		logf("verified the base and %d segment(s) (SHA-256, record CRCs and counts)", len(p.Segments))
	}

	var res *backup.AtResult
	if opts.toFile != "" {
		if res, err = restoreAtToFile(ctx, gopts, b, p, codec, opts.toFile); err != nil {
			return err
		}
	} else {
		// The commands go to the target as they are, pipelined, after the
		// base: the target executes them, as a replica does its master's.
		var conn *rsync.Conn
		if len(p.Segments) > 0 {
			t, err := resolveTarget(ctx, opts.to, opts.password, opts.tls, opts.timeout, func(string, ...any) {})
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			if t.Info.Cluster {
				return usageErrorf("restore --at: %s is a cluster: the commands of a continuous backup are replayed onto a standalone server (restore the base alone with restore %s@%s, or --to-file)", rsync.Redact(opts.to), url, m.ID)
			}
			if conn, err = rsync.Dial(ctx, t.Addr, &t.Opts); err != nil {
				return fmt.Errorf("restore: %s: %w", t.Endpoint, err)
			}
			defer conn.Close()
		}
		printed := 0
		ao := backup.AtOptions{
			Restore: backup.RestoreOptions{Codec: codec, Filter: opts.filter, Replay: opts.replay},
			Into:    restoreInto(gopts, opts, func(backup.RestoreInput) string { return url + "@" + m.ID + " (base)" }),
			OnCommandError: func(msg string) {
				if printed++; printed <= 5 {
					say.warnf("a replayed command failed: %s", msg)
				}
			},
		}
		if conn != nil { // a nil *rsync.Conn is not a nil Piper
			ao.Conn = conn
		}
		res, err = backup.RestoreAt(ctx, b, p, ao)
		var pe *backup.PipeError
		switch {
		case errors.As(err, &pe):
			return fmt.Errorf("restore: replaying the commands: %w", pe.Err)
		case err != nil && !errors.As(err, new(*backup.SegmentsError)):
			return backupRestoreError(gopts, m, url, err)
		}
		if res.Piped {
			logf("replayed %d command(s) in %.1fs", res.Commands, res.PipeTime.Seconds())
		}
	}
	if se := (*backup.SegmentsError)(nil); errors.As(err, &se) {
		return say.failf(exitError, se.Err, "%v\nrestored: the base and %d command(s), up to offset %d; the rest of the generation was not", se.Err, se.Commands, se.UpTo)
	}
	replayed := res.Commands
	if opts.toFile == "" && !res.Piped {
		replayed = 0
	}
	last := "none"
	if res.Commands > 0 {
		last = fmt.Sprintf("offset %d, received %s", res.LastOffset, res.LastReceived.UTC().Format(time.RFC3339Nano))
	}
	logf("restored to %s: the base and %d command(s); the last: %s", cut, replayed, last)
	if res.Failed > 0 {
		err := fmt.Errorf("%d of %d replayed command(s) failed on the target", res.Failed, replayed)
		return say.failf(exitProblems, err, "%s", withAdvice(err))
	}
	return nil
}

// restoreAtToFile replays a plan into memory (the whole data set is
// held) and writes the keys as one RDB file, renamed into place only once
// everything was replayed.
func restoreAtToFile(ctx context.Context, gopts globalOptions, b storage.Backend, p *backup.AtPlan, codec storage.Codec, path string) (*backup.AtResult, error) {
	var o *output
	defer func() {
		if o != nil {
			o.abort()
		}
	}()
	res, err := backup.RestoreAtToFile(ctx, b, p, codec, liftMemoryLimit, func() (io.Writer, error) {
		var err error
		o, err = openOutput(path, gopts.stdout)
		return o, err
	})
	if ie := (*backup.IncompleteError)(nil); errors.As(err, &ie) {
		// A damaged base, or a damaged or missing segment: the file would
		// hold only what is before it, so nothing is written (an existing
		// file is left as it was).
		return nil, newRestoreStderr(gopts, false).failf(exitError, ie.Err, "%v\n%s was not written", ie.Err, path)
	}
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := o.commit(); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if path != "-" {
		newRestoreStderr(gopts, false).infof("%d keys written to %s", res.Keys, path)
	}
	return res, nil
}
