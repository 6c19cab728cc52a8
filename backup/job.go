package backup

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
	"sync/atomic"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/countio"
	"github.com/redkit/redkit/rdb"
	"github.com/redkit/redkit/storage"
	rsync "github.com/redkit/redkit/sync"
)

// logOrDiscard is log, or a logger that drops everything.
func logOrDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
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
	// A live source's master: how it was read (set by open), and the
	// key scan's statistics (read once the job's close returned).
	mode  SourceMode
	scan  *rsync.ScanStats
	entry ObjectEntry
	err   error
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
	ow, err := storage.CreateObject(ctx, backend, Key(id, j.name), codec)
	if err != nil {
		return &jobError{job: j, err: err}
	}
	var src io.Reader = snap
	if j.master != "" {
		what := "the snapshot"
		if j.mode == SourceScan {
			what = "the keys"
		}
		src = SourceReader(snap, what) // the job's error names the master
	}
	keys, version, cmds, err := CopySnapshot(src, ow, "upload to "+backend.URL(), j.role != "", j.read)
	if err != nil {
		ow.Abort(err)
		return &jobError{job: j, err: err}
	}
	if err := ow.Close(); err != nil {
		return &jobError{job: j, err: fmt.Errorf("upload: %w", err)}
	}
	j.entry = NewObjectEntry(j.name, ow)
	j.entry.Keys, j.entry.RDBVersion = keys, version
	j.entry.Master, j.entry.Slots = j.master, j.slots
	if len(j.slots) == 0 {
		j.entry.Master = ""
	}
	j.entry.File, j.entry.Role, j.entry.Commands = j.file, j.role, cmds
	return nil
}

// CopySnapshot copies r to w, parsing it on the way: an RDB
// (ScanSnapshot), or, when aofFile, a file of a multi-part AOF
// (ScanAOFFile). It returns the keys per database, the RDB version and
// the commands counted. A failed write is an *IOError saying "<what>:
// <the write's error>" (what names w: "write /var/backups/dump.rdb",
// "upload to s3://bucket/prefix/"). read, when not nil, counts the bytes
// read from r, for a progress display.
func CopySnapshot(r io.Reader, w io.Writer, what string, aofFile bool, read *atomic.Int64) (keys map[int]int64, version int, cmds int64, err error) {
	if read == nil {
		read = new(atomic.Int64)
	}
	counted := &countio.Reader{R: r, N: read}
	out := Tee(counted, w, what)
	if aofFile {
		keys, version, cmds, err = ScanAOFFile(out)
	} else {
		keys, version, err = ScanSnapshot(out)
	}
	if err == nil {
		// The rest of the stream, if the parser left any, through the
		// tee: a write that failed on the last bytes the parser read
		// comes out there (a parser that read its input whole in one
		// buffer never asks for more, and never sees it).
		_, err = io.Copy(io.Discard, out)
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

// ScanAOFFile reads a file of a multi-part AOF to its end and checks it:
// an RDB (a base, maybe with commands after it: ScanRDB) or commands,
// which it counts. It returns the RDB's keys per database and version
// (nil and 0 without one) and the commands.
func ScanAOFFile(r io.Reader) (map[int]int64, int, int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var keys map[int]int64
	version := 0
	var rest io.Reader = br
	if head, err := br.Peek(5); err == nil && string(head) == "REDIS" {
		var err error
		if keys, version, rest, err = ScanRDB(br); err != nil {
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
			if ioe, ok := errors.AsType[*IOError](err); ok {
				return nil, 0, n, ioe
			}
			return nil, 0, n, fmt.Errorf("not a valid AOF: %w", err)
		}
		n++
	}
}

// IOError is a failure of the output a scan's input is copied to (a
// file, a storage), or of the source it reads (a replication link), as
// opposed to bytes that do not parse: reported as what failed, not as a
// snapshot that is not valid.
type IOError struct{ Err error }

func (e *IOError) Error() string { return e.Err.Error() }
func (e *IOError) Unwrap() error { return e.Err }

// Tee is io.TeeReader whose failed writes come out as an *IOError
// saying "<what>: <the write's error>", what naming the output ("write
// /var/backups/dump.rdb", "upload to s3://bucket/prefix/"). The error is
// sticky: every later Read returns it, so that a reader that stops
// before asking again (a parser with its input whole in its buffer)
// leaves it to whoever reads the rest.
func Tee(r io.Reader, w io.Writer, what string) io.Reader {
	return &tee{r: r, w: w, what: what}
}

var (
	_ io.Reader = (*tee)(nil)
	_ io.Reader = (*sourceReader)(nil)
	_ error     = (*IOError)(nil)
)

type tee struct {
	r    io.Reader
	w    io.Writer
	what string
	err  error // the first failed write's
}

func (t *tee) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.r.Read(p)
	if n > 0 {
		if _, werr := t.w.Write(p[:n]); werr != nil {
			// The file's own name is the temporary one: what names it.
			if pe, ok := werr.(*fs.PathError); ok {
				werr = pe.Err
			}
			t.err = &IOError{Err: fmt.Errorf("%s: %w", t.what, werr)}
			return n, t.err
		}
	}
	return n, err
}

// SourceReader marks the failed reads of a snapshot's source (not its
// end) as *IOError, "read <what>: ...".
func SourceReader(r io.Reader, what string) io.Reader {
	return &sourceReader{r: r, what: what}
}

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
		err = &IOError{Err: fmt.Errorf("read %s: the link closed before its end (%v)", s.what, err)}
	default:
		err = &IOError{Err: fmt.Errorf("read %s: %w", s.what, err)}
	}
	return n, err
}

// ScanSnapshot reads an RDB stream to its end, checking it (CRC64
// included) and counting keys per database; it returns them and the RDB
// version.
func ScanSnapshot(r io.Reader) (map[int]int64, int, error) {
	keys, version, _, err := ScanRDB(r)
	return keys, version, err
}

// ScanRDB is ScanSnapshot, and what follows the RDB in r.
func ScanRDB(r io.Reader) (map[int]int64, int, io.Reader, error) {
	rr := rdb.NewReader(r)
	keys := map[int]int64{}
	for {
		rec, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return keys, rr.Version(), rr.Rest(), nil
		}
		if err != nil {
			if ioe, ok := errors.AsType[*IOError](err); ok {
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
