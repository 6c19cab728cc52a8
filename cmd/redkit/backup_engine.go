package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/countio"
	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/redkit/redkit/rdb"
	"github.com/redkit/redkit/storage"
	rsync "github.com/redkit/redkit/sync"
)

// The backup engine: snapshot jobs, retention, verification. It knows
// no flag and draws no bar; the commands turn its errors into messages.

// lockError is a failure to take the storage's lock for an operation.
type lockError struct {
	op  string // backup, prune
	err error
}

func (e *lockError) Error() string { return e.op + ": " + e.err.Error() }
func (e *lockError) Unwrap() error { return e.err }

// connectError is a failure to reach a live source (addr: its URL, or a
// master's address).
type connectError struct {
	addr string
	err  error
}

func (e *connectError) Error() string { return e.addr + ": " + e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// runError is the failure of a backup that has an id.
type runError struct {
	id  string
	err error
}

func (e *runError) Error() string { return "backup " + e.id + ": " + e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// liveSource is a live server to back up, resolved: its URL (without
// secrets), its address, what it is and how to connect.
type liveSource struct {
	url         string
	addr        string
	info        *rsync.ServerInfo
	conn        rsync.Options
	linkTimeout time.Duration
}

// backupRunOptions configure a backup.
type backupRunOptions struct {
	backend    storage.Backend
	codec      storage.Codec
	recipients []string // the age public keys, for the manifest
	// The source: live (resolved once the storage's lock is held; its
	// error is returned as it is), else an AOF directory (or manifest),
	// else an RDB file.
	live        func(ctx context.Context) (*liveSource, error)
	aofDir      string
	rdbFile     string
	lockTimeout time.Duration
	version     string // redkit's, for the manifest
	log         *slog.Logger
	// read, when not nil, counts the bytes read from the sources; started,
	// when not nil, is told how many snapshots are about to be read.
	read    *atomic.Int64
	started func(snapshots int)
}

// runBackupJobs takes a backup: the storage's lock held, every snapshot
// read, parsed and stored at once (the first failure cancels the
// others), then the manifest. Its errors: *lockError, *connectError,
// *runError (once the backup has an id), the source's own, or others.
func runBackupJobs(ctx context.Context, o backupRunOptions) (*backup.Manifest, error) {
	log := o.log
	lock, err := lockStorage(ctx, o.backend, "backup", o.lockTimeout, log)
	if err != nil {
		return nil, err
	}
	defer releaseLock(ctx, lock, log)

	start := time.Now()
	m := &backup.Manifest{
		ID:            backup.NewID(start),
		Started:       start.UTC(),
		RedkitVersion: o.version,
		Compression:   o.codec.Compression,
		Level:         o.codec.Level,
	}
	if len(o.recipients) > 0 {
		m.Encryption = &backup.Encryption{Kind: "age", Recipients: o.recipients}
	}
	codec, backend := o.codec, o.backend
	read := o.read
	if read == nil {
		read = new(atomic.Int64)
	}

	// The snapshots: a live server's over the replication protocol (one
	// per master of a cluster), or a file.
	var jobs []*snapshotJob
	switch {
	case o.live != nil:
		src, err := o.live(ctx)
		if err != nil {
			return nil, err
		}
		info := src.info
		m.Source = backup.SourceInfo{Kind: "live", URL: src.url, Host: src.addr, Role: info.Role, Server: info.Server, Version: info.Version, Cluster: info.Cluster}
		liveJob := func(name, master string) *snapshotJob {
			return &snapshotJob{name: name, master: master, open: func(ctx context.Context) (io.Reader, int64, func(), error) {
				l, err := rsync.OpenLink(ctx, master, rsync.ReplicaOptions{Conn: src.conn, RDBOnly: true, Timeout: src.linkTimeout})
				if err != nil {
					return nil, 0, nil, err
				}
				stop := context.AfterFunc(ctx, func() { l.Close() })
				snap, err := l.Snapshot()
				if err != nil {
					l.Close()
					return nil, 0, nil, fmt.Errorf("snapshot of %s: %w", master, err)
				}
				return snap, l.SnapshotSize(), func() { stop(); l.Close() }, nil
			}}
		}
		if !info.Cluster {
			jobs = append(jobs, liveJob("dump"+codec.Ext(), src.addr))
		} else {
			copts := src.conn
			shards, err := rsync.ClusterShards(ctx, src.addr, &copts)
			if err != nil {
				return nil, &connectError{addr: src.url, err: err}
			}
			for _, sh := range shards {
				j := liveJob(fmt.Sprintf("shard-%05d%s", sh.FirstSlot, codec.Ext()), sh.Master)
				for _, r := range sh.Ranges {
					j.slots = append(j.slots, [2]int{r.Start, r.End})
				}
				jobs = append(jobs, j)
			}
		}
		log.Info("backup: snapshots started", "id", m.ID, "from", src.url, "to", backend.URL(), "snapshots", len(jobs), "cluster", info.Cluster)
	case o.aofDir != "":
		aofJobs, manifest, closeAll, err := openAOFSet(o.aofDir, codec)
		if err != nil {
			return nil, err
		}
		defer closeAll()
		jobs = aofJobs
		m.AOFManifest = manifest
		m.Source = backup.SourceInfo{Kind: "aof-dir", URL: o.aofDir}
		log.Info("backup: reading a multi-part AOF", "id", m.ID, "from", o.aofDir, "files", len(jobs), "to", backend.URL())
	default:
		from := o.rdbFile
		jobs = append(jobs, &snapshotJob{name: "dump" + codec.Ext(), open: func(ctx context.Context) (io.Reader, int64, func(), error) {
			f, err := dumpfile.Open(ctx, from)
			if err != nil {
				return nil, 0, nil, err
			}
			return f, f.Size, func() { f.Close() }, nil
		}})
		m.Source = backup.SourceInfo{Kind: "rdb-file", URL: from}
		log.Info("backup: reading a file", "id", m.ID, "from", from, "to", backend.URL())
	}

	if o.started != nil {
		o.started(len(jobs))
	}
	// All snapshots at once; the first failure cancels the others.
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg gosync.WaitGroup
	for _, j := range jobs {
		j.read = read
		wg.Go(func() {
			if j.err = j.run(jctx, backend, m.ID, codec); j.err != nil {
				cancel(j.err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(jctx); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: the upload was aborted, nothing stored", ctx.Err())
		}
		var je *jobError
		if errors.As(err, &je) && je.connect {
			return nil, &connectError{addr: je.job.master, err: je.err}
		}
		return nil, &runError{id: m.ID, err: fmt.Errorf("%w: the upload was aborted, nothing stored", err)}
	}
	m.Keys = map[int]int64{}
	for _, j := range jobs {
		m.Objects = append(m.Objects, j.entry)
		for db, n := range j.entry.Keys {
			m.Keys[db] += n
		}
		m.RawBytes += j.entry.RawBytes
		m.StoredBytes += j.entry.StoredBytes
		m.Source.RDBVersion = max(m.Source.RDBVersion, j.entry.RDBVersion)
	}
	m.Completed = time.Now().UTC()
	m.Duration = time.Since(start).Seconds()
	if err := backup.WriteManifest(ctx, backend, m); err != nil {
		return nil, &runError{id: m.ID, err: err}
	}
	return m, nil
}

// lockStorage takes the storage's lock, then removes what runs that
// died before this one left (pending multipart uploads, temporary files):
// with the lock held, nothing else writes there.
func lockStorage(ctx context.Context, b storage.Backend, op string, timeout time.Duration, log *slog.Logger) (*storage.Lock, error) {
	lock, err := storage.AcquireLock(ctx, b, op, timeout, log)
	if err != nil {
		return nil, &lockError{op: op, err: err}
	}
	if cl, ok := b.(storage.Cleaner); ok {
		n, err := cl.Cleanup(ctx, backup.BackupsDir, lock.Created())
		if err == nil {
			// A segment's PUT cut short by a continuous backup that died.
			var k int
			k, err = cl.Cleanup(ctx, backup.ContinuousDir, lock.Created())
			n += k
		}
		switch {
		case err != nil:
			log.Warn("could not look for uploads interrupted by a run that died", "err", err)
		case n > 0:
			log.Warn("removed uploads interrupted by a run that died", "count", n)
		}
	}
	return lock, nil
}

// releaseLock removes the storage's lock, on every return (an error
// and an interruption too), and says so when it cannot.
func releaseLock(ctx context.Context, lock *storage.Lock, log *slog.Logger) {
	if err := lock.Release(ctx); err != nil {
		log.Warn("could not release the storage lock: the next run on this machine takes it over (on Linux), others after --lock-timeout", "err", rsync.Redact(err.Error()))
	}
}

// snapshotJob is one snapshot of a backup: opened, parsed on the way and
// uploaded as one object.
type snapshotJob struct {
	name   string
	master string   // a live source's address
	slots  [][2]int // a cluster master's slot ranges
	file   string   // a multi-part AOF's file
	role   string   // its role: base or incr
	open   func(ctx context.Context) (r io.Reader, size int64, closeFn func(), err error)
	read   *atomic.Int64 // the bytes read (nil: not counted)
	entry  backup.ObjectEntry
	err    error
}

// jobError is a snapshot's failure.
type jobError struct {
	job     *snapshotJob
	connect bool // could not open the snapshot
	err     error
}

func (e *jobError) Error() string {
	if e.job.master != "" {
		return e.job.master + ": " + e.err.Error()
	}
	return e.err.Error()
}
func (e *jobError) Unwrap() error { return e.err }

func (j *snapshotJob) run(ctx context.Context, backend storage.Backend, id string, codec storage.Codec) error {
	snap, _, closeFn, err := j.open(ctx)
	if err != nil {
		return &jobError{job: j, connect: true, err: err}
	}
	defer closeFn()
	ow, err := storage.CreateObject(ctx, backend, backup.Key(id, j.name), codec)
	if err != nil {
		return &jobError{job: j, err: err}
	}
	var src io.Reader = snap
	if j.master != "" {
		src = &sourceReader{r: snap, what: "the snapshot"} // the job's error names the master
	}
	keys, version, cmds, err := copySnapshot(src, ow, "upload to "+backend.URL(), j.role != "", j.read)
	if err != nil {
		ow.Abort(err)
		return &jobError{job: j, err: err}
	}
	if err := ow.Close(); err != nil {
		return &jobError{job: j, err: fmt.Errorf("upload: %w", err)}
	}
	j.entry = backup.NewObjectEntry(j.name, ow)
	j.entry.Keys, j.entry.RDBVersion = keys, version
	j.entry.Master, j.entry.Slots = j.master, j.slots
	if len(j.slots) == 0 {
		j.entry.Master = ""
	}
	j.entry.File, j.entry.Role, j.entry.Commands = j.file, j.role, cmds
	return nil
}

// copySnapshot copies r to w (what names w in its errors), parsing it
// on the way: an RDB (scanSnapshot), or a file of a multi-part AOF
// (scanAOFFile). read, when not nil, counts the bytes read.
func copySnapshot(r io.Reader, w io.Writer, what string, aofFile bool, read *atomic.Int64) (keys map[int]int64, version int, cmds int64, err error) {
	if read == nil {
		read = new(atomic.Int64)
	}
	counted := &countio.Reader{R: r, N: read}
	out := teeOutput(counted, w, what)
	if aofFile {
		keys, version, cmds, err = scanAOFFile(out)
	} else {
		keys, version, err = scanSnapshot(out)
	}
	if err == nil {
		// The rest of the stream, if the parser left any.
		_, err = io.Copy(w, counted)
	}
	return keys, version, cmds, err
}

// openAOFSet opens every file a multi-part AOF's manifest lists, before
// reading any: a rewrite that ends meanwhile deletes files, but open
// ones stay readable, so the set stays the one the manifest describes.
// An incr file is taken up to its last complete command when it was
// opened (Redis may be appending to it). A file that vanished between
// the manifest and its opening makes it start over, three times at most.
func openAOFSet(path string, codec storage.Codec) ([]*snapshotJob, string, func(), error) {
	for attempt := 0; ; attempt++ {
		jobs, manifest, closeAll, err := openAOFSetOnce(path, codec)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == 2 {
			return jobs, manifest, closeAll, err
		}
	}
}

func openAOFSetOnce(path string, codec storage.Codec) ([]*snapshotJob, string, func(), error) {
	mpath := path
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		found, _ := filepath.Glob(filepath.Join(path, "*.manifest"))
		if len(found) != 1 {
			return nil, "", nil, fmt.Errorf("%s: want exactly one *.manifest, found %d: %w", path, len(found), fs.ErrNotExist)
		}
		mpath = found[0]
	}
	text, err := os.ReadFile(mpath)
	if err != nil {
		return nil, "", nil, err
	}
	am, err := aof.ParseManifest(bytes.NewReader(text))
	if err != nil {
		return nil, "", nil, fmt.Errorf("%s: %w", mpath, err)
	}
	dir := filepath.Dir(mpath)
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	var jobs []*snapshotJob
	add := func(mf aof.ManifestFile, role string) error {
		f, err := os.Open(filepath.Join(dir, mf.Name))
		if err != nil {
			return fmt.Errorf("file listed in %s: %w", mpath, err)
		}
		files = append(files, f)
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		size := fi.Size()
		if role == "incr" {
			// Up to the last complete command.
			rr := aof.NewRESPReader(io.LimitReader(f, size))
			for {
				if _, err := rr.ReadCommand(); err != nil {
					break
				}
			}
			size = rr.Offset()
		}
		jobs = append(jobs, &snapshotJob{name: "aof/" + mf.Name + codec.Suffix(), file: mf.Name, role: role,
			open: func(context.Context) (io.Reader, int64, func(), error) {
				return io.NewSectionReader(f, 0, size), size, func() {}, nil
			}})
		return nil
	}
	if am.Base != nil {
		if err := add(*am.Base, "base"); err != nil {
			closeAll()
			return nil, "", nil, err
		}
	}
	for _, mf := range am.Incrs {
		if err := add(mf, "incr"); err != nil {
			closeAll()
			return nil, "", nil, err
		}
	}
	return jobs, string(text), closeAll, nil
}

// scanAOFFile checks a file of a multi-part AOF: an RDB (a base, maybe
// with commands after it) or commands, which it counts.
func scanAOFFile(r io.Reader) (map[int]int64, int, int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var keys map[int]int64
	version := 0
	var rest io.Reader = br
	if head, err := br.Peek(5); err == nil && string(head) == "REDIS" {
		var err error
		if keys, version, rest, err = scanRDB(br); err != nil {
			return nil, 0, 0, err
		}
	}
	cr := aof.NewRESPReader(rest)
	var n int64
	for {
		_, err := cr.ReadCommand()
		if errors.Is(err, io.EOF) {
			return keys, version, n, nil
		}
		if err != nil {
			if ioe, ok := errors.AsType[*ioError](err); ok {
				return nil, 0, n, ioe
			}
			return nil, 0, n, fmt.Errorf("not a valid AOF: %w", err)
		}
		n++
	}
}

// ioError is a failure of the output a scan's input is copied to (a
// file, a storage), or of the source it reads (a replication link), as
// opposed to bytes that do not parse: reported as what failed, not as a
// snapshot that is not valid.
type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

// teeOutput is io.TeeReader whose failed writes come out as an *ioError
// saying "<what>: <the write's error>", what naming the output ("write
// /var/backups/dump.rdb", "upload to s3://bucket/prefix/").
func teeOutput(r io.Reader, w io.Writer, what string) io.Reader {
	return &tee{r: r, w: w, what: what}
}

type tee struct {
	r    io.Reader
	w    io.Writer
	what string
}

func (t *tee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		if _, werr := t.w.Write(p[:n]); werr != nil {
			// The file's own name is the temporary one: what names it.
			if pe, ok := werr.(*fs.PathError); ok {
				werr = pe.Err
			}
			return n, &ioError{err: fmt.Errorf("%s: %w", t.what, werr)}
		}
	}
	return n, err
}

// sourceReader marks the failed reads of a snapshot's source (not its
// end) as *ioError, naming the source.
type sourceReader struct {
	r    io.Reader
	what string
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	switch {
	case err == nil || err == io.EOF:
	case errors.Is(err, io.ErrUnexpectedEOF):
		// Not wrapped: the RDB reader would call it a truncated input.
		err = &ioError{err: fmt.Errorf("read %s: the link closed before its end (%v)", s.what, err)}
	default:
		err = &ioError{err: fmt.Errorf("read %s: %w", s.what, err)}
	}
	return n, err
}

// scanSnapshot reads an RDB stream to its end, checking it (CRC64
// included) and counting keys per database.
func scanSnapshot(r io.Reader) (map[int]int64, int, error) {
	keys, version, _, err := scanRDB(r)
	return keys, version, err
}

// scanRDB is scanSnapshot, and what follows the RDB in r.
func scanRDB(r io.Reader) (map[int]int64, int, io.Reader, error) {
	rr := rdb.NewReader(r)
	keys := map[int]int64{}
	for {
		rec, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return keys, rr.Version(), rr.Rest(), nil
		}
		if err != nil {
			if ioe, ok := errors.AsType[*ioError](err); ok {
				return nil, 0, nil, ioe // the output or the source failed, not the snapshot
			}
			if ne := net.Error(nil); errors.As(err, &ne) {
				return nil, 0, nil, fmt.Errorf("reading the snapshot: %w", err) // the link, not the RDB
			}
			return nil, 0, nil, fmt.Errorf("the snapshot is not a valid RDB: %w", err)
		}
		if rec.Kind == rdb.KindKey {
			keys[rec.DB]++
		}
	}
}

// pruneOptions configure a prune.
type pruneOptions struct {
	policy      backup.Policy
	dryRun      bool // decide, delete nothing (and take no lock)
	lockTimeout time.Duration
	log         *slog.Logger
}

// pruneAction is what a prune did, or would do (a dry run), with a
// backup, or with segments left without their base.
type pruneAction struct {
	id      string
	backup  *backup.Manifest // nil: segments without their base
	keep    bool
	reasons []string
}

// pruneReport is a prune's outcome: its actions, in order, and the
// incomplete backups it left alone.
type pruneReport struct {
	actions    []pruneAction
	incomplete []string
}

// pruneBackups deletes the backups p does not keep, a continuous base's
// generation whole, then segments left without a base (a prune cut
// short), the storage's lock held (unless a dry run). A deletion that
// fails stops it: its error says how many were deleted before.
func pruneBackups(ctx context.Context, b storage.Backend, o pruneOptions) (*pruneReport, error) {
	if !o.dryRun {
		lock, err := lockStorage(ctx, b, "prune", o.lockTimeout, o.log)
		if err != nil {
			return nil, err
		}
		defer releaseLock(ctx, lock, o.log)
	}
	l, err := backup.List(ctx, b)
	if err != nil {
		return nil, err
	}
	gens, err := backup.ListGenerations(ctx, b, l)
	if err != nil {
		return nil, err
	}
	until := map[string]time.Time{}
	for _, g := range gens {
		until[g.ID()] = g.Until()
	}
	rep := &pruneReport{incomplete: l.Incomplete}
	deleted := 0
	for _, d := range o.policy.Apply(l.Backups, until) {
		if !d.Keep && !o.dryRun {
			if err := backup.DeleteBackup(ctx, b, d.Backup); err != nil {
				return nil, fmt.Errorf("%w (%d deleted before it)", err, deleted)
			}
			deleted++
		}
		rep.actions = append(rep.actions, pruneAction{id: d.Backup.ID, backup: d.Backup, keep: d.Keep, reasons: d.Reasons})
	}
	// Segments whose base is gone (a prune cut short) restore nothing.
	orphans, err := backup.OrphanGenerations(ctx, b, l)
	if err != nil {
		return nil, err
	}
	for _, gen := range orphans {
		if !o.dryRun {
			if err := backup.DeleteSegments(ctx, b, gen); err != nil {
				return nil, fmt.Errorf("%w (%d deleted before it)", err, deleted)
			}
		}
		rep.actions = append(rep.actions, pruneAction{id: gen, reasons: []string{"segments without their base"}})
	}
	return rep, nil
}

// verifyBackupObject reads an object of a backup whole: SHA-256,
// decryption, decompression and a full parse (an RDB's CRC64
// included), and compares its keys with the manifest's.
func verifyBackupObject(ctx context.Context, b storage.Backend, m *backup.Manifest, e backup.ObjectEntry, codec storage.Codec) error {
	or, err := backup.OpenObject(ctx, b, m, e, codec)
	if err != nil {
		return err
	}
	defer or.Close()
	return checkObject(or, e, nil, "")
}

// generationCheck sums up the segments of a verified generation.
type generationCheck struct {
	segments             int
	records, storedBytes int64
}

// verifyGeneration reads every segment of a continuous base's generation
// whole (SHA-256, each record's CRC-32C, the record count); a segment
// missing from the generation is an error too, after those listed are
// read.
func verifyGeneration(ctx context.Context, b storage.Backend, m *backup.Manifest, codec storage.Codec) (generationCheck, error) {
	segs, gerr := backup.GenerationSegments(ctx, b, m)
	for _, si := range segs {
		if err := backup.VerifySegment(ctx, b, si, m.Compression, codec); err != nil {
			return generationCheck{}, err
		}
	}
	g := generationCheck{segments: len(segs)}
	for _, s := range segs {
		g.records, g.storedBytes = g.records+s.Records, g.storedBytes+s.StoredBytes
	}
	return g, gerr
}

// resumeGeneration finds the generation a continuous backup of source
// (its URL) continues: the newest of this source's, unless a segment is
// missing from it (nil: a new one starts).
func resumeGeneration(ctx context.Context, b storage.Backend, source string, log *slog.Logger) (*backup.Generation, error) {
	l, err := backup.List(ctx, b)
	if err != nil {
		return nil, err
	}
	gens, err := backup.ListGenerations(ctx, b, l)
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

// baseOptions configure the store of a continuous backup's base.
type baseOptions struct {
	backend     storage.Backend
	codec       storage.Codec
	recipients  []string // the age public keys, for the manifest
	source      backup.SourceInfo
	lockTimeout time.Duration
	version     string // redkit's, for the manifest
	log         *slog.Logger
}

// storeBase stores a generation's base, read from r, as a backup: the
// storage's lock held meanwhile (a prune waits; so does the base, while
// another run holds it), the manifest marked Continuous with the
// snapshot's place in the stream.
func storeBase(ctx context.Context, o baseOptions, r io.Reader, pos backup.ReplPosition) (*backup.Manifest, error) {
	backend, codec, log := o.backend, o.codec, o.log
	var lock *storage.Lock
	for {
		var err error
		lock, err = lockStorage(ctx, backend, "backup", o.lockTimeout, log)
		if err == nil {
			break
		}
		if !errors.Is(err, storage.ErrLocked) {
			return nil, err
		}
		log.Warn("the storage is locked by another run: waiting to store the base", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
	defer lock.Release(context.WithoutCancel(ctx))
	start := time.Now()
	m := &backup.Manifest{
		ID:            backup.NewID(start),
		Started:       start.UTC(),
		RedkitVersion: o.version,
		Source:        o.source,
		Compression:   codec.Compression,
		Level:         codec.Level,
		Continuous:    true,
		Replication:   &pos,
	}
	if len(o.recipients) > 0 {
		m.Encryption = &backup.Encryption{Kind: "age", Recipients: o.recipients}
	}
	j := &snapshotJob{name: "dump" + codec.Ext(), open: func(context.Context) (io.Reader, int64, func(), error) {
		return r, 0, func() {}, nil
	}}
	if err := j.run(ctx, backend, m.ID, codec); err != nil {
		return nil, err
	}
	m.Objects = []backup.ObjectEntry{j.entry}
	m.Keys, m.RawBytes, m.StoredBytes = j.entry.Keys, j.entry.RawBytes, j.entry.StoredBytes
	m.Source.RDBVersion = j.entry.RDBVersion
	m.Completed = time.Now().UTC()
	m.Duration = time.Since(start).Seconds()
	if err := backup.WriteManifest(ctx, backend, m); err != nil {
		return nil, err
	}
	log.Info("base stored", "id", m.ID, "keys", m.TotalKeys(), "stored_bytes", m.StoredBytes, "offset", pos.Offset, "seconds", m.Duration)
	return m, nil
}
