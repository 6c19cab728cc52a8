package aof

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/redkit/redkit/rdb"
)

// ErrNoTimestamps means a cut by time was asked of an AOF without #TS
// annotations (aof-timestamp-enabled was off when it was written).
var ErrNoTimestamps = errors.New("no #TS annotations")

// Layout is the form an AOF takes on disk.
type Layout string

// AOF layouts.
const (
	LayoutPlain     Layout = "plain"        // one file of commands
	LayoutPreamble  Layout = "rdb-preamble" // one file: an RDB, then commands
	LayoutMultiPart Layout = "multi-part"   // Redis 7: a manifest, a base and incr files
)

// CheckOptions configure Check. The zero value checks only.
type CheckOptions struct {
	// TruncateAfter, when not zero, makes Check look for where to cut the
	// AOF so that it keeps only the commands written up to this time
	// (to the second), as redis-check-aof --truncate-to-timestamp does:
	// CheckReport.TimestampCut, or CheckReport.TimestampErr saying why it
	// cannot be cut. Default: zero, no such search.
	TruncateAfter time.Time
}

// FileReport is what Check read of one file.
type FileReport struct {
	Name string   // base name
	Path string   // path of the file
	Type FileType // TypeBase or TypeIncr in a multi-part AOF; 0 for a single-file AOF
	Size int64    // size before reading, in bytes
	// ModTime is the modification time before reading. Truncate refuses
	// to cut a file whose size or modification time changed since.
	ModTime  time.Time
	RDB      bool  // the file starts with an RDB (a preamble or an RDB base)
	RDBEnd   int64 // offset of the end of the RDB part, checksum included
	RDBKeys  int64 // keys in the RDB part
	Commands int64 // complete commands, as CheckReport.Commands counts them
}

// Cut is a place where an AOF file can be truncated.
type Cut struct {
	Path    string    // the file to truncate
	File    string    // its base name
	Offset  int64     // the size to truncate it to
	Size    int64     // its size when it was checked
	ModTime time.Time // its modification time when it was checked
	// Dropped is the number of complete commands the cut removes (an
	// unclosed transaction's, or those after the cut time).
	Dropped int64
}

// CheckReport is the result of Check.
type CheckReport struct {
	Path     string
	Layout   Layout
	Manifest *Manifest // for LayoutMultiPart, once parsed
	// Files are the files read in load order, the one holding the error
	// last. History files of a manifest are not read.
	Files []FileReport
	// Commands counts the complete commands, SELECT, MULTI and EXEC not
	// included (those of an unclosed transaction are not complete).
	Commands     int64
	Transactions int64 // complete MULTI ... EXEC blocks
	DBs          []int // databases the commands apply to, in increasing order
	// FirstTimestamp and LastTimestamp are the Unix times of the first
	// and last #TS annotations commands were written under; 0 without.
	FirstTimestamp, LastTimestamp int64
	// Base is "rdb" or "aof" for the base of a multi-part AOF, "rdb" for
	// a preamble, "" otherwise. BaseKeys counts the keys of an RDB base
	// or preamble.
	Base     string
	BaseKeys int64

	// Fix is where to cut the AOF to repair it, when the error Check
	// returned is an incomplete tail of the last file: the file ends
	// inside a command or inside a MULTI block, and what follows the last
	// complete command does not look like more commands. Cutting there is
	// what Redis's aof-load-truncated and redis-check-aof --fix do.
	Fix *Cut
	// Unfixable says, when Check returned an error and Fix is nil, why
	// cutting cannot repair the AOF.
	Unfixable string

	// TimestampCut is where to cut to keep only the commands up to
	// CheckOptions.TruncateAfter: the start of the first #TS annotation
	// after it (before the MULTI of a transaction it falls in). Nil when
	// no annotation is later, or when TimestampErr says why no cut is
	// possible (ErrNoTimestamps, a later annotation in a file other than
	// the last, nothing before the time at all).
	TimestampCut *Cut
	TimestampErr error
}

// Check reads the AOF at path (a file, with or without an RDB preamble,
// or a multi-part AOF's directory or manifest) as Redis would load it
// and reports what it holds. Every command's RESP framing, the pairing of
// MULTI and EXEC, the manifest (Redis's rules, plus: listed files exist,
// are regular files, and are listed once) and each RDB part (every
// record and value walked, CRC64 verified) are checked.
//
// Check returns a report of what it read, never nil, and the first
// problem found: a *ParseError (see Reader) for bad content, or an error
// from the file system or ctx. The report then says where the AOF can be
// cut to repair it (Fix) or why it cannot (Unfixable).
func Check(ctx context.Context, path string, opts CheckOptions) (*CheckReport, error) {
	rep := &CheckReport{Path: path}
	err := rep.check(ctx, path, opts)
	if err != nil && rep.Fix == nil && rep.Unfixable == "" {
		rep.Unfixable = "the AOF could not be read"
	}
	return rep, err
}

func (rep *CheckReport) check(ctx context.Context, path string, opts CheckOptions) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check aof: %w", err)
	}
	rep.Layout = LayoutPlain
	if fi.IsDir() || strings.HasSuffix(path, ".manifest") {
		rep.Layout = LayoutMultiPart
	} else if isRDBFile(path) {
		rep.Layout, rep.Base = LayoutPreamble, "rdb"
	}
	r, err := Open(ctx, path)
	if err != nil {
		if errors.Is(err, ErrManifest) {
			rep.Unfixable = "the manifest is invalid: correct it by hand (see the Redis documentation on multi-part AOF)"
		}
		return err
	}
	defer r.Close()
	if rep.Manifest = r.Manifest(); rep.Manifest != nil {
		dir := path
		if !fi.IsDir() {
			dir = filepath.Dir(path)
		}
		if err := rep.manifestFiles(dir); err != nil {
			return err
		}
	} else if err := rep.addFile(path, 0); err != nil {
		return err
	}
	return rep.read(r, opts)
}

// isRDBFile tells whether the file starts as an RDB does.
func isRDBFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [6]byte
	n, _ := io.ReadFull(f, magic[:])
	return bytes.HasPrefix(magic[:n], []byte("REDIS")) || string(magic[:n]) == "VALKEY"
}

// manifestFiles adds the base and incr files of the manifest, refusing
// a name listed twice and files that are not regular files.
func (rep *CheckReport) manifestFiles(dir string) error {
	m := rep.Manifest
	seen := map[string]bool{}
	all := slices.Concat(m.Incrs, m.History)
	if m.Base != nil {
		all = append([]ManifestFile{*m.Base}, all...)
	}
	for _, f := range all {
		if seen[f.Name] {
			rep.Unfixable = "the manifest is invalid: correct it by hand"
			return &ParseError{Err: fmt.Errorf("%w: file %q listed twice", ErrManifest, f.Name)}
		}
		seen[f.Name] = true
	}
	if m.Base != nil {
		rep.Base = "aof"
		if isRDBFile(filepath.Join(dir, m.Base.Name)) {
			rep.Base = "rdb"
		}
		if err := rep.addFile(filepath.Join(dir, m.Base.Name), TypeBase); err != nil {
			return err
		}
	}
	for _, f := range m.Incrs {
		if err := rep.addFile(filepath.Join(dir, f.Name), TypeIncr); err != nil {
			return err
		}
	}
	return nil
}

func (rep *CheckReport) addFile(path string, t FileType) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check aof: %w", err)
	}
	if !fi.Mode().IsRegular() {
		rep.Unfixable = "a file the manifest lists is not a regular file"
		return fmt.Errorf("check aof: %s is not a regular file", path)
	}
	rep.Files = append(rep.Files, FileReport{Name: filepath.Base(path), Path: path, Type: t, Size: fi.Size(), ModTime: fi.ModTime()})
	return nil
}

// read reads every entry, then classifies the error, if any.
func (rep *CheckReport) read(r *Reader, opts CheckOptions) error {
	var (
		cur      = -1  // index in rep.Files of the file being read
		pending  int64 // commands of the open transaction
		dbs      = map[int]bool{}
		sawTS    bool
		cutAfter       = opts.TruncateAfter.Unix()
		wantCut        = !opts.TruncateAfter.IsZero()
		kept     int64 = -1 // commands before the timestamp cut
	)
	err := func() error {
		for {
			prevFile, prevValid := r.ValidOffset()
			e, err := r.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			for cur < 0 || rep.Files[cur].Name != e.File {
				if cur++; cur == len(rep.Files) {
					return fmt.Errorf("check aof: entry of unexpected file %q", e.File)
				}
			}
			f := &rep.Files[cur]
			if e.Kind == KindRDB {
				f.RDB = true
				if err := walkRDB(e, f); err != nil {
					return err
				}
				rep.BaseKeys += f.RDBKeys
				continue
			}
			if e.Timestamp != 0 {
				sawTS = true
				if rep.FirstTimestamp == 0 {
					rep.FirstTimestamp = e.Timestamp
				}
				rep.LastTimestamp = e.Timestamp
			}
			if wantCut && rep.TimestampCut == nil && rep.TimestampErr == nil && e.Timestamp > cutAfter {
				off := f.RDBEnd
				if prevFile == e.File {
					off = max(off, prevValid)
				}
				kept = rep.Commands
				rep.timestampCut(cur, off)
			}
			switch e.Tx {
			case TxMulti:
				pending = 0
			case TxQueued:
				pending++
				dbs[e.DB] = true
			case TxExec:
				rep.Commands += pending
				f.Commands += pending
				rep.Transactions++
				pending = 0
			default:
				rep.Commands++
				f.Commands++
				dbs[e.DB] = true
			}
		}
	}()
	for db := range dbs {
		rep.DBs = append(rep.DBs, db)
	}
	slices.Sort(rep.DBs)
	if wantCut {
		switch {
		case err != nil:
			rep.TimestampCut, rep.TimestampErr = nil, fmt.Errorf("the AOF is not valid: %w", err)
		case !sawTS:
			rep.TimestampErr = ErrNoTimestamps
		case rep.TimestampCut != nil:
			rep.TimestampCut.Dropped = rep.Commands - kept
		}
	}
	if err != nil {
		file, off := r.ValidOffset()
		rep.classify(err, file, off, pending)
	}
	return err
}

// walkRDB reads the RDB part of an entry to its end, walking every value.
func walkRDB(e *Entry, f *FileReport) error {
	for {
		rec, err := e.RDB.Next()
		if err == io.EOF {
			f.RDBEnd = e.RDB.Offset()
			return nil
		}
		if err == nil && rec.Kind == rdb.KindKey {
			f.RDBKeys++
			_, err = e.RDB.Stats()
		}
		if err != nil {
			var rpe *rdb.ParseError
			if errors.As(err, &rpe) {
				return &ParseError{File: e.File, Offset: rpe.Offset, Err: err}
			}
			return fmt.Errorf("%s: %w", e.File, err)
		}
	}
}

// timestampCut sets the cut by time in file i at off, or says why not.
func (rep *CheckReport) timestampCut(i int, off int64) {
	f := &rep.Files[i]
	switch {
	case i != len(rep.Files)-1:
		rep.TimestampErr = fmt.Errorf("the first command after the time is in %s at offset %d, which is not the last file: "+
			"only the last file can be cut (to go further, remove the later files from the manifest by hand, then run again)", f.Name, off)
	case rep.Layout == LayoutMultiPart && f.Type != TypeIncr:
		rep.TimestampErr = fmt.Errorf("the first command after the time is in the base %s: only an incr file can be cut", f.Name)
	case i == 0 && off == 0:
		rep.TimestampErr = fmt.Errorf("%s has nothing before the time: cutting would leave it empty", f.Name)
	default:
		rep.TimestampCut = &Cut{Path: f.Path, File: f.Name, Offset: off, Size: f.Size, ModTime: f.ModTime}
	}
}

// classify sets Fix or Unfixable for err, which Reader.Next returned
// while reading file, valid up to off.
func (rep *CheckReport) classify(err error, file string, off int64, pending int64) {
	i := slices.IndexFunc(rep.Files, func(f FileReport) bool { return f.Name == file })
	var rpe *rdb.ParseError
	var pe *ParseError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		rep.Unfixable = "the check was interrupted"
	case errors.As(err, &rpe):
		rep.Unfixable = fmt.Sprintf("the RDB part of %s is damaged: cutting cannot repair it; use another copy (a replica's or a backup)", file)
	case !errors.As(err, &pe) || i < 0:
		rep.Unfixable = "the AOF could not be read"
	case !errors.Is(err, io.ErrUnexpectedEOF):
		rep.Unfixable = fmt.Sprintf("%s is corrupt at offset %d, not cut short: cutting there would drop every command after it. "+
			"Use another copy of the AOF; to keep only what precedes the damage, cut it by hand (truncate -s %d) after making a backup",
			file, pe.Offset, off)
	case i != len(rep.Files)-1:
		rep.Unfixable = fmt.Sprintf("%s is cut short but is not the last file: Redis accepts a truncated tail only in the last file, "+
			"and cutting this one would lose the files after it; use another copy", file)
	case rep.Layout == LayoutMultiPart && rep.Files[i].Type != TypeIncr:
		rep.Unfixable = fmt.Sprintf("the base %s is cut short: only an incr file can be cut; use another copy", file)
	default:
		f := &rep.Files[i]
		if at, ok, serr := moreCommandsAfter(f.Path, off); serr != nil {
			rep.Unfixable = fmt.Sprintf("reading the tail of %s: %v", file, serr)
		} else if ok {
			rep.Unfixable = fmt.Sprintf("%s ends inside a command, but the bytes after offset %d look like more commands (at offset %d): "+
				"a damaged length, not a cut-short tail; cutting would drop them. Use another copy", file, off, at)
		} else {
			rep.Fix = &Cut{Path: f.Path, File: f.Name, Offset: off, Size: f.Size, ModTime: f.ModTime, Dropped: pending}
		}
	}
}

// commandStart matches where a command or a #TS annotation starts after a
// line end.
var commandStart = regexp.MustCompile(`\r\n(\*[1-9][0-9]{0,8}\r\n\$[0-9]{1,10}\r\n|#TS:[0-9]{1,19}\r\n\*)`)

// moreCommandsAfter reads the file from off, where the reader found the
// last complete command to end: complete commands (an unclosed
// transaction's), then the command the file ends in. It reports whether
// what follows the start of that incomplete command holds the start of
// another command, and where: a clean truncation ends in one incomplete
// command, a corrupted length swallows the commands after it.
func moreCommandsAfter(path string, off int64) (int64, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, false, err
	}
	rr := NewRESPReader(io.NewSectionReader(f, off, fi.Size()-off))
	rr.pos, rr.off = off, off
	for {
		var err error
		if c, ok := rr.peekByte(); ok && c == '#' {
			_, err = rr.readAnnotation()
		} else {
			_, err = rr.ReadCommand()
		}
		if err == io.EOF {
			return 0, false, nil // only complete commands: an unclosed MULTI
		}
		if err != nil {
			break
		}
	}
	start := rr.Offset() // the incomplete command
	const chunk, overlap = 64 << 10, 64
	br := bufio.NewReaderSize(io.NewSectionReader(f, start, fi.Size()-start), chunk)
	buf := make([]byte, 0, chunk+overlap)
	base := start // file offset of buf[0]
	for {
		n, err := io.ReadFull(br, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if loc := commandStart.FindIndex(buf); loc != nil {
			return base + int64(loc[0]) + 2, true, nil
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		keep := min(overlap, len(buf))
		base += int64(len(buf) - keep)
		buf = append(buf[:0], buf[len(buf)-keep:]...)
	}
}

// TruncateOptions configure Truncate. The zero value works.
type TruncateOptions struct {
	// Now names the backup. Default: time.Now().
	Now time.Time
}

// Truncate cuts the file of cut to cut.Offset bytes, keeping a backup of
// it whole next to it, named <file>.bak.<Unix seconds> (".1", ".2"...
// appended when that name is taken), as redis-check-aof --fix and
// --truncate-to-timestamp cut, but never without a copy. The backup is
// written, synced and checked before the file is touched, and the file
// is cut in place (Redis's own ftruncate) then synced. Truncate refuses
// when the file's size or modification time changed since Check (a
// server may still be writing it) or when the cut would not shorten it.
// It returns the path of the backup.
func Truncate(ctx context.Context, cut *Cut, opts TruncateOptions) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := unchanged(cut); err != nil {
		return "", err
	}
	if cut.Offset < 0 || cut.Offset >= cut.Size {
		return "", fmt.Errorf("truncate %s: offset %d is not inside its %d bytes", cut.Path, cut.Offset, cut.Size)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	backup, err := copyBackup(ctx, cut, now)
	if err != nil {
		return "", err
	}
	if err := unchanged(cut); err != nil {
		return backup, err
	}
	f, err := os.OpenFile(cut.Path, os.O_WRONLY, 0)
	if err != nil {
		return backup, fmt.Errorf("truncate %s: %w", cut.Path, err)
	}
	err = f.Truncate(cut.Offset)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return backup, fmt.Errorf("truncate %s (its backup is %s): %w", cut.Path, backup, err)
	}
	return backup, nil
}

// unchanged checks that the file is as Check saw it.
func unchanged(cut *Cut) error {
	fi, err := os.Stat(cut.Path)
	if err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	if fi.Size() != cut.Size || !fi.ModTime().Equal(cut.ModTime) {
		return fmt.Errorf("truncate %s: the file changed since it was checked (%d bytes, now %d): is a server still writing it? Stop it and check again",
			cut.Path, cut.Size, fi.Size())
	}
	return nil
}

// copyBackup copies the file whole to a new backup file and syncs it and
// its directory.
func copyBackup(ctx context.Context, cut *Cut, now time.Time) (string, error) {
	src, err := os.Open(cut.Path)
	if err != nil {
		return "", fmt.Errorf("back up %s: %w", cut.Path, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return "", fmt.Errorf("back up %s: %w", cut.Path, err)
	}
	name := fmt.Sprintf("%s.bak.%d", cut.Path, now.Unix())
	var dst *os.File
	for i := 0; ; i++ {
		try := name
		if i > 0 {
			try = fmt.Sprintf("%s.%d", name, i)
		}
		dst, err = os.OpenFile(try, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
		if err == nil {
			name = try
			break
		}
		if !errors.Is(err, os.ErrExist) || i == 100 {
			return "", fmt.Errorf("back up %s: %w", cut.Path, err)
		}
	}
	n, err := io.Copy(dst, &ctxReader{ctx: ctx, r: src})
	if err == nil && n != cut.Size {
		err = fmt.Errorf("copied %d bytes, want %d", n, cut.Size)
	}
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(name))
	}
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("back up %s to %s: %w", cut.Path, name, err)
	}
	return name, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
