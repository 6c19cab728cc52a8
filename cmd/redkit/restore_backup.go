package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/aof"
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
func runRestoreBackup(c *cli.Context, gopts globalOptions, opts restoreOptions) error {
	ctx := c.Context
	ref := c.Args().First()
	url, id := splitBackupRef(ref)
	b, err := openStorage(ctx, c, url)
	if err != nil {
		return err
	}
	m, err := backup.Resolve(ctx, b, id)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	ids, err := identitiesFromFlags(c)
	if err != nil {
		return err
	}
	codec := storage.Codec{Identities: ids}
	if m.Encryption != nil && len(ids) == 0 {
		return usageErrorf("restore: backup %s is encrypted with age (to %v): give its identity with --identity-file", m.ID, m.Encryption.Recipients)
	}
	logf := func(format string, a ...any) {
		if !opts.quiet {
			fmt.Fprintf(gopts.stderr, "redkit: restore: "+format+"\n", a...)
		}
	}
	logf("backup %s of %s, taken %s: %d keys, %s in %d object(s)", m.ID, sourceLabel(m.Source), m.Started.Format("2006-01-02 15:04:05 UTC"),
		m.TotalKeys(), bytesize.Format(m.StoredBytes), len(m.Objects))
	// Every object must open (the identity decrypts it) before anything
	// is written.
	for _, e := range m.Objects {
		or, err := backup.OpenObject(ctx, b, m, e, codec)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		or.Close()
	}
	if opts.verifyFirst {
		for _, e := range m.Objects {
			if err := verifyObject(c, b, m, e, codec); err != nil {
				fmt.Fprintf(gopts.stderr, "redkit: restore: backup %s does not verify: %v\nnothing was written to the target\n", m.ID, err)
				return reportedError(exitError, err)
			}
			logf("verified %s (%s, SHA-256 and RDB CRC64)", e.Name, bytesize.Format(e.StoredBytes))
		}
	}
	if m.AOFManifest != "" {
		if opts.toFile != "" {
			return usageErrorf("restore: backup %s is of a multi-part AOF: --to-file writes one RDB; restore it into a server with --to (then redkit dump it)", m.ID)
		}
		return restoreAOFBackup(c, gopts, opts, b, url, m, codec)
	}
	if opts.toFile != "" {
		if len(m.Objects) != 1 {
			return usageErrorf("restore: backup %s holds %d snapshots (a cluster's): --to-file takes one; restore it onto a cluster with --to", m.ID, len(m.Objects))
		}
		return restoreToFile(c, gopts, b, m, m.Objects[0], codec, opts.toFile)
	}
	var problems error
	for i, e := range m.Objects {
		o := opts
		o.inputName = url + "/" + m.ID + "/" + e.Name
		o.flush = opts.flush && i == 0
		o.noFunctions = i > 0 // every master of a cluster has the same libraries
		err := restoreObject(ctx, gopts, o, b, m, e, codec, url)
		if ce := (*codedError)(nil); errors.As(err, &ce) && ce.code == exitProblems && ctx.Err() == nil {
			// Some keys failed, each reported: the other snapshots still go.
			problems = err
			continue
		}
		if err != nil {
			return err
		}
	}
	return problems
}

// restoreObject restores one of a backup's objects (an RDB) into the
// target, streamed through its checksum. The checksum is known only at
// the end: a mismatch then says the target may hold a partial restore.
func restoreObject(ctx context.Context, gopts globalOptions, opts restoreOptions, b storage.Backend, m *backup.Manifest, e backup.ObjectEntry, codec storage.Codec, url string) error {
	or, err := backup.OpenObject(ctx, b, m, e, codec)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	sub := gopts
	var readErr error
	sub.stdin = readErrs{r: or, first: &readErr}
	if !opts.replay { // --replay loads the keys into a keyspace first
		opts.keysRead = map[int]int64{}
	}
	rerr := runRestore(ctx, sub, opts, []string{"-"})
	if stoppedEarly(ctx, rerr, readErr) {
		// The target failed (or the store did) with the object read in
		// part: its checksum, known only at its end, says nothing.
		or.Close()
		if ctx.Err() != nil {
			return rerr
		}
		fmt.Fprintf(gopts.stderr, "redkit: restore: backup %s: the restore stopped early, after %s of the %s stored in %s, because of the error reported: the target may hold a partial restore (the rest of the backup was not read, nor its checksum checked)\n",
			m.ID, bytesize.Format(or.StoredBytes()), bytesize.Format(e.StoredBytes), e.Name)
		return rerr
	}
	verr := or.Verify()
	or.Close()
	if errors.Is(verr, storage.ErrChecksum) || errors.Is(rerr, storage.ErrChecksum) {
		if verr == nil {
			verr = rerr
		}
		fmt.Fprintf(gopts.stderr, "redkit: restore: %v\nthe target was written while the backup streamed in: it may now hold a partial restore. Use --verify-first to check a backup before writing, or restore another one (redkit backup list %s)\n", verr, url)
		return reportedError(exitError, verr)
	}
	if opts.keysRead != nil && (rerr == nil || exitCode(ctx, rerr) == exitProblems) {
		// The object was read to its end: it must hold what its
		// manifest counts.
		if err := e.CheckKeys(opts.keysRead); err != nil {
			return keyCountError(gopts, m, err, url)
		}
	}
	return rerr
}

// stoppedEarly tells whether a restore from a backup's object ended on
// an error that is not the object's own (the target's, an interrupt):
// the object was read in part, so its checksum says nothing. An error
// reading the object (readErr), or of its contents (a parse error), is
// the checksum's to explain.
func stoppedEarly(ctx context.Context, rerr, readErr error) bool {
	if rerr == nil || exitCode(ctx, rerr) == exitProblems {
		return false // read to its end
	}
	return readErr == nil && !errors.Is(rerr, storage.ErrChecksum) && !isInputError(rerr)
}

// readErrs keeps in *first the first error other than io.EOF that
// reading r returned, when *first is still nil (several readers can
// share one).
type readErrs struct {
	r     io.Reader
	first *error
}

func (r readErrs) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && *r.first == nil {
		*r.first = err
	}
	return n, err
}

// keyCountError reports a backup whose object read whole does not hold
// the keys its manifest counts, after the target was written.
func keyCountError(gopts globalOptions, m *backup.Manifest, err error, url string) error {
	fmt.Fprintf(gopts.stderr, "redkit: restore: backup %s: %v: the backup does not match its manifest\nthe target was written while the backup streamed in: it holds what the backup holds, not what its manifest counts. Check the backup with redkit backup verify %s/%s, or restore another one (redkit backup list %s)\n",
		m.ID, err, url, m.ID, url)
	return reportedError(exitError, err)
}

// restoreAOFBackup replays a backed-up multi-part AOF, its files read
// from their objects in the manifest's order, as Redis loads them.
func restoreAOFBackup(c *cli.Context, gopts globalOptions, opts restoreOptions, b storage.Backend, url string, m *backup.Manifest, codec storage.Codec) error {
	ctx := c.Context
	am, err := aof.ParseManifest(strings.NewReader(m.AOFManifest))
	if err != nil {
		return fmt.Errorf("restore: backup %s: its AOF manifest: %w", m.ID, err)
	}
	byFile := map[string]backup.ObjectEntry{}
	for _, e := range m.Objects {
		byFile[e.File] = e
	}
	var opened []*storage.ObjectReader
	var readErr error
	ar, err := aof.NewMultiReader(ctx, am, func(name string) (io.ReadCloser, error) {
		e, ok := byFile[name]
		if !ok {
			return nil, fmt.Errorf("backup %s has no object for the AOF file %s", m.ID, name)
		}
		or, err := backup.OpenObject(ctx, b, m, e, codec)
		if err != nil {
			return nil, err
		}
		opened = append(opened, or)
		return struct {
			io.Reader
			io.Closer
		}{readErrs{r: or, first: &readErr}, or}, nil
	})
	if err != nil {
		return fmt.Errorf("restore: backup %s: %w", m.ID, err)
	}
	o := opts
	o.aofReader, o.inputName = ar, url+"/"+m.ID
	rerr := runRestore(ctx, gopts, o, []string{"-"})
	if stoppedEarly(ctx, rerr, readErr) {
		for _, or := range opened {
			or.Close()
		}
		if ctx.Err() != nil {
			return rerr
		}
		fmt.Fprintf(gopts.stderr, "redkit: restore: backup %s: the restore stopped early because of the error reported: the target may hold a partial restore (the rest of the backup was not read, nor its checksum checked)\n", m.ID)
		return rerr
	}
	var verr error
	for _, or := range opened {
		if err := or.Verify(); err != nil && verr == nil {
			verr = err
		}
	}
	if errors.Is(verr, storage.ErrChecksum) || errors.Is(rerr, storage.ErrChecksum) {
		if verr == nil {
			verr = rerr
		}
		fmt.Fprintf(gopts.stderr, "redkit: restore: %v\nthe target was written while the backup streamed in: it may now hold a partial restore. Use --verify-first to check a backup before writing\n", verr)
		return reportedError(exitError, verr)
	}
	return rerr
}

// verifyObject reads an object whole: SHA-256, decryption,
// decompression and a full parse of the RDB (its CRC64 included), and
// compares the keys with the manifest's.
func verifyObject(c *cli.Context, b storage.Backend, m *backup.Manifest, e backup.ObjectEntry, codec storage.Codec) error {
	or, err := backup.OpenObject(c.Context, b, m, e, codec)
	if err != nil {
		return err
	}
	defer or.Close()
	return checkObject(or, e, nil, "")
}

// checkObject reads an opened object to its end and checks it: a full
// parse (an RDB's CRC64 included), its SHA-256, and its keys per
// database against the manifest's (a *backup.KeyCountError). When w is
// not nil, what is read is written to it too, its failures reported as
// "<what>: <error>".
func checkObject(or *storage.ObjectReader, e backup.ObjectEntry, w io.Writer, what string) error {
	var r io.Reader = or
	if w != nil {
		r = teeOutput(or, w, what)
	}
	var keys map[int]int64
	var err error
	if e.Role != "" {
		keys, _, _, err = scanAOFFile(r)
	} else {
		keys, _, err = scanSnapshot(r)
	}
	if err == nil && w != nil {
		// The rest of the stream, if the parser left any, through the tee.
		_, err = io.Copy(io.Discard, r)
	}
	if errors.As(err, new(*ioError)) {
		// The output failed, not the object: its checksum, on a stream
		// read in part (and still being decompressed), says nothing.
		return err
	}
	// The checksum comes first: damaged bytes explain a parse error.
	if verr := or.Verify(); verr != nil && (err == nil || errors.Is(verr, storage.ErrChecksum)) {
		err = verr
	}
	if err != nil {
		return err
	}
	return e.CheckKeys(keys)
}

// restoreToFile writes a backup's RDB to path: a temporary file beside
// it, renamed into place once checkObject's checks hold.
func restoreToFile(c *cli.Context, gopts globalOptions, b storage.Backend, m *backup.Manifest, e backup.ObjectEntry, codec storage.Codec, path string) error {
	or, err := backup.OpenObject(c.Context, b, m, e, codec)
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
	err = checkObject(or, e, &countio.Writer{W: o, N: &n}, writeWhat(path))
	if errors.Is(err, backup.ErrKeyCount) {
		err = fmt.Errorf("backup %s: %w: the backup does not match its manifest", m.ID, err)
	}
	if err != nil {
		fmt.Fprintf(gopts.stderr, "redkit: restore: %v\n%s was not written\n", err, path)
		return reportedError(exitError, err)
	}
	if err := o.commit(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(gopts.stderr, "redkit: restore: backup %s written to %s (%s, verified)\n", m.ID, path, bytesize.Format(n.Load()))
	return nil
}
