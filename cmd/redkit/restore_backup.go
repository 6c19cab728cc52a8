package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/internal/countio"
	"github.com/redkit/redkit/storage"
)

// runRestoreBackup restores a backup: STORAGE_URL[/ID|@ID|@latest].
// Each object streams from the store through its checksum, decryption
// and decompression into the target; the checksum is known only at the
// end, so a damaged object found then leaves a partial restore, and
// --verify-first reads everything once before writing anything.
func runRestoreBackup(ctx context.Context, gopts globalOptions, opts restoreOptions, args []string) error {
	if len(args) != 1 {
		return usageErrorf("restore: one backup at a time (got %d)", len(args))
	}
	url, id, err := backupRef("restore", args[0])
	if err != nil {
		return err
	}
	b, err := openStorageURL(ctx, opts.storage, url, newLogger(gopts.stderr, gopts.logFormat, opts.quiet))
	if err != nil {
		return err
	}
	m, err := backup.Resolve(ctx, b, id)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	ids, err := readIdentities(opts.identityFiles)
	if err != nil {
		return err
	}
	codec := storage.Codec{Identities: ids}
	if m.Encryption != nil && len(ids) == 0 {
		return usageErrorf("restore: backup %s is encrypted with age (to %v): give its identity with --identity-file", m.ID, m.Encryption.Recipients)
	}
	say := newRestoreStderr(gopts, opts.quiet)
	logf := say.infof
	logf("backup %s of %s, taken %s: %d keys, %s in %d object(s)", m.ID, sourceLabel(m.Source), m.Started.Format("2006-01-02 15:04:05 UTC"),
		m.TotalKeys(), bytesize.Format(m.StoredBytes), len(m.Objects))
	// Every object must open (the identity decrypts it) before anything
	// is written.
	if err := backup.CheckOpen(ctx, b, m, codec); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if opts.verifyFirst {
		for _, e := range m.Objects {
			if err := backup.VerifyObject(ctx, b, m, e, codec); err != nil {
				return say.failf(exitError, err, "backup %s does not verify: %v\nnothing was written to the target", m.ID, err)
			}
			logf("verified %s (%s, SHA-256 and RDB CRC64)", e.Name, bytesize.Format(e.StoredBytes))
		}
	}
	if m.AOFManifest != "" && opts.toFile != "" {
		return usageErrorf("restore: backup %s is of a multi-part AOF: --to-file writes one RDB; restore it into a server with --to (then redkit dump it)", m.ID)
	}
	if opts.toFile != "" {
		if len(m.Objects) != 1 {
			return usageErrorf("restore: backup %s holds %d snapshots (a cluster's): --to-file takes one; restore it onto a cluster with --to", m.ID, len(m.Objects))
		}
		return restoreToFile(ctx, gopts, b, m, m.Objects[0], codec, opts.toFile)
	}
	into := restoreInto(gopts, opts, func(in backup.RestoreInput) string {
		if in.Object == "" { // a multi-part AOF
			return url + "/" + m.ID
		}
		return url + "/" + m.ID + "/" + in.Object
	})
	err = backup.Restore(ctx, b, m, into, backup.RestoreOptions{Codec: codec, Filter: opts.filter, Replay: opts.replay})
	return backupRestoreError(gopts, m, url, err)
}

// restoreInto restores each input of a backup into the target as
// runRestore does an input, its summary named by name: a flush goes
// with the first snapshot, function libraries come from the first only.
// Its errors come back from package backup marked as the target's.
func restoreInto(gopts globalOptions, opts restoreOptions, name func(backup.RestoreInput) string) backup.RestoreFunc {
	return func(ctx context.Context, in backup.RestoreInput) error {
		o := opts
		o.flush = opts.flush && in.Index == 0
		ri := restoreInput{name: name(in), src: in.Source, count: in.BytesRead, total: -1,
			noFunctions: in.Index > 0} // every master of a cluster has the same libraries
		if err := restoreFrom(ctx, gopts, o, ri); err != nil {
			return &targetError{err}
		}
		return nil
	}
}

// targetError marks an error of restoreFrom, returned through package
// backup: it was reported, or is to be, as it is.
type targetError struct{ err error }

func (e *targetError) Error() string { return e.err.Error() }
func (e *targetError) Unwrap() error { return e.err }

// backupRestoreError prints what a restore from a backup's error needs
// said, and returns the error with its exit code.
func backupRestoreError(gopts globalOptions, m *backup.Manifest, url string, err error) error {
	say := newRestoreStderr(gopts, false)
	var (
		se *backup.StoppedEarlyError
		ce *backup.StreamedChecksumError
		me *backup.MismatchError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		// The target failed (or the store did) with the object read in
		// part: its checksum, known only at its end, says nothing.
		if se.Object == "" {
			say.warnf("backup %s: the restore stopped early because of the error reported: the target may hold a partial restore (the rest of the backup was not read, nor its checksum checked)", se.ID)
		} else {
			say.warnf("backup %s: the restore stopped early, after %s of the %s stored in %s, because of the error reported: the target may hold a partial restore (the rest of the backup was not read, nor its checksum checked)",
				se.ID, bytesize.Format(se.Read), bytesize.Format(se.Stored), se.Object)
		}
		return unmarkTarget(se.Err)
	case errors.As(err, &ce):
		if ce.AOF {
			return say.failf(exitError, ce.Err, "%v\nthe target was written while the backup streamed in: it may now hold a partial restore. Use --verify-first to check a backup before writing", ce.Err)
		}
		return say.failf(exitError, ce.Err, "%v\nthe target was written while the backup streamed in: it may now hold a partial restore. Use --verify-first to check a backup before writing, or restore another one (redkit backup list %s)", ce.Err, url)
	case errors.As(err, &me):
		return keyCountError(gopts, m, me.Err, url)
	}
	return unmarkTarget(err)
}

// unmarkTarget returns the target's error as restoreFrom returned it;
// any other is the backup's (opening an object, its AOF manifest, an
// input that is not a dump).
func unmarkTarget(err error) error {
	if te := (*targetError)(nil); errors.As(err, &te) {
		return te.err
	}
	if isSniffError(err) {
		return labelSniffError(err)
	}
	return fmt.Errorf("restore: %w", err)
}

// keyCountError reports a backup whose object read whole does not hold
// the keys its manifest counts, after the target was written.
func keyCountError(gopts globalOptions, m *backup.Manifest, err error, url string) error {
	return newRestoreStderr(gopts, false).failf(exitError, err, "backup %s: %v: the backup does not match its manifest\nthe target was written while the backup streamed in: it holds what the backup holds, not what its manifest counts. Check the backup with redkit backup verify %s/%s, or restore another one (redkit backup list %s)",
		m.ID, err, url, m.ID, url)
}

// restoreToFile writes a backup's RDB to path: a temporary file beside
// it, renamed into place once backup.CheckObject's checks hold.
func restoreToFile(ctx context.Context, gopts globalOptions, b storage.Backend, m *backup.Manifest, e backup.ObjectEntry, codec storage.Codec, path string) error {
	or, err := backup.OpenObject(ctx, b, m, e, codec)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer or.Close()
	o, err := openOutput(path, gopts.stdout)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer o.abort()
	var n atomic.Int64
	err = backup.CheckObject(or, e, &countio.Writer{W: o, N: &n}, writeWhat(path))
	if errors.Is(err, backup.ErrKeyCount) {
		err = fmt.Errorf("backup %s: %w: the backup does not match its manifest", m.ID, err)
	}
	if err != nil {
		return newRestoreStderr(gopts, false).failf(exitError, err, "%v\n%s was not written", err, path)
	}
	if err := o.commit(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	newRestoreStderr(gopts, false).infof("backup %s written to %s (%s, verified)", m.ID, path, bytesize.Format(n.Load()))
	return nil
}
