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
	"strings"

	"github.com/redkit/redkit/rdb"
)

// EntryKind tells what an Entry holds.
type EntryKind uint8

const (
	// KindCommand is a command: Entry.Args.
	KindCommand EntryKind = iota
	// KindRDB is the RDB part of a file, an RDB preamble or an RDB base:
	// Entry.RDB, positioned at its start.
	KindRDB
)

// Tx places a command relative to a MULTI/EXEC transaction.
type Tx uint8

const (
	TxNone   Tx = iota // not in a transaction
	TxMulti            // the MULTI that opens a transaction
	TxQueued           // a command inside a transaction
	TxExec             // the EXEC that ends it
)

// Entry is one item of an AOF in replay order. It and its Args are valid
// until the next call to Next.
type Entry struct {
	Kind EntryKind
	// Args is the command (KindCommand), name first. Never SELECT: the
	// reader consumes SELECT commands and reports their effect in DB.
	Args [][]byte
	// DB is the database the command applies to. Each file starts in
	// database 0, as Redis loads each file with a new client.
	DB int
	// Tx places the command in a MULTI/EXEC transaction. MULTI and EXEC
	// are passed through, so that replaying the commands in order
	// replays the transactions; a replayer issues SELECT itself when DB
	// changes, inside a transaction too.
	Tx Tx
	// Timestamp is the Unix time in seconds of the last #TS annotation
	// (aof-timestamp-enabled) seen, 0 before the first. It carries over
	// from file to file: Redis writes one only when the second changes,
	// so an incr file may start with commands of the second the base's
	// annotation gave.
	Timestamp int64
	// RDB reads the RDB part (KindRDB). Call its Next until io.EOF to get
	// the records; whatever is left unread is read and checked by the
	// next call to the AOF Reader's Next, which then goes on with the
	// commands that follow the RDB in the same file, if any.
	RDB *rdb.Reader
	// File is the base name of the file the entry comes from ("" for a
	// stream given to NewReader) and Offset the offset in it of the
	// entry's first byte.
	File   string
	Offset int64
}

// source is one file to read.
type source struct {
	name string
	open func() (io.ReadCloser, error)
	// dump tells a stream that may be a plain RDB dump rather than an
	// AOF: bytes after its RDB's checksum that do not start a command end
	// it, as Redis ignores them when it loads the file as a dump.
	dump bool
}

// Reader reads the entries of an AOF in replay order: for a multi-part
// AOF, the base then each incr file (history files are skipped); within a
// file, the RDB part if there is one, then the commands.
type Reader struct {
	ctx      context.Context
	manifest *Manifest
	sources  []source

	name string        // current file
	dump bool          // the current file may be an RDB dump (source.dump)
	cur  io.ReadCloser // current file, nil between files
	rd   *rdb.Reader   // RDB part of the current file until drained
	resp *RESPReader   // commands of the current file

	trailing   int64 // offset of bytes ignored after a dump's checksum
	trailingOK bool  // there were such bytes

	db         int
	ts         int64
	inMulti    bool
	multiStart int64
	valid      int64 // end of the last complete entry outside a transaction
	n          int
	err        error
	entry      Entry
}

// NewReader returns a Reader of one AOF stream: plain commands, or an
// RDB preamble followed by commands. The stream may also be an RDB dump
// with bytes after its checksum that are no commands (redis-cli --rdb -
// writes its 40-byte EOF marker there): those end the stream, as Redis
// ignores them when it loads a dump, and Trailing reports them.
func NewReader(r io.Reader) *Reader {
	return &Reader{
		ctx: context.Background(),
		sources: []source{{dump: true, open: func() (io.ReadCloser, error) {
			return io.NopCloser(r), nil
		}}},
	}
}

// Open opens the AOF at path: a single-file AOF (plain or with an RDB
// preamble), a multi-part AOF's manifest (a name ending in ".manifest"),
// or the directory holding one (appendonlydir; it must hold exactly one
// manifest). Every file a manifest lists as base or incr must exist. Next
// returns ctx.Err() once ctx is done. Close the Reader when done.
func Open(ctx context.Context, path string) (*Reader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open aof: %w", err)
	}
	if fi.IsDir() {
		if path, err = findManifest(path); err != nil {
			return nil, fmt.Errorf("open aof: %w", err)
		}
	}
	r := &Reader{ctx: ctx}
	if !strings.HasSuffix(path, ".manifest") {
		r.sources = []source{fileSource(filepath.Dir(path), filepath.Base(path))}
		return r, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open aof manifest: %w", err)
	}
	m, err := ParseManifest(f)
	f.Close()
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			pe.File = filepath.Base(path)
		}
		return nil, fmt.Errorf("open aof manifest: %w", err)
	}
	files := m.Incrs
	if m.Base != nil {
		files = append([]ManifestFile{*m.Base}, files...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("open aof manifest %s: %w: no base or incr file", path, ErrManifest)
	}
	dir := filepath.Dir(path)
	for _, mf := range files {
		if _, err := os.Stat(filepath.Join(dir, mf.Name)); err != nil {
			return nil, fmt.Errorf("open aof: file listed in manifest: %w", err)
		}
		r.sources = append(r.sources, fileSource(dir, mf.Name))
	}
	r.manifest = m
	return r, nil
}

// NewMultiReader returns a Reader of a multi-part AOF whose files come
// from open (a backup's objects, say) rather than a directory: the base,
// then each incr file of m, in load order. open is called for each file
// when its turn comes.
func NewMultiReader(ctx context.Context, m *Manifest, open func(name string) (io.ReadCloser, error)) (*Reader, error) {
	files := m.Incrs
	if m.Base != nil {
		files = append([]ManifestFile{*m.Base}, files...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("aof manifest: %w: no base or incr file", ErrManifest)
	}
	r := &Reader{ctx: ctx, manifest: m}
	for _, mf := range files {
		r.sources = append(r.sources, source{name: mf.Name, open: func() (io.ReadCloser, error) { return open(mf.Name) }})
	}
	return r, nil
}

func fileSource(dir, name string) source {
	return source{name: name, open: func() (io.ReadCloser, error) {
		return os.Open(filepath.Join(dir, name))
	}}
}

// findManifest returns the path of the one *.manifest file in dir.
func findManifest(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var found []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".manifest") {
			found = append(found, e.Name())
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no *.manifest in %s: %w", dir, os.ErrNotExist)
	case 1:
		return filepath.Join(dir, found[0]), nil
	}
	return "", fmt.Errorf("%w: several manifests in %s: %s", ErrManifest, dir, strings.Join(found, ", "))
}

// Manifest returns the manifest of a multi-part AOF, nil otherwise.
func (r *Reader) Manifest() *Manifest { return r.manifest }

// ValidOffset returns the current file and the offset in it up to which
// it is known good: the end of its RDB part or of its last complete
// command outside a transaction. After Next failed on a truncated last
// file, cutting that file there gives what Redis's aof-load-truncated
// loads (redis-check-aof --fix cuts at the same place).
func (r *Reader) ValidOffset() (file string, offset int64) { return r.name, r.valid }

// Close closes the file being read.
func (r *Reader) Close() error {
	if r.err == nil {
		r.err = errors.New("aof reader closed")
	}
	return r.closeFile()
}

func (r *Reader) closeFile() error {
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	r.cur, r.rd, r.resp = nil, nil, nil
	return err
}

// fail makes err sticky, naming the file in a *ParseError.
func (r *Reader) fail(err error) error {
	var pe *ParseError
	var rpe *rdb.ParseError
	switch {
	case errors.As(err, &pe):
		c := *pe
		c.File = r.name
		err = &c
	case errors.As(err, &rpe):
		err = &ParseError{File: r.name, Offset: rpe.Offset, Err: err}
	case r.name != "":
		err = fmt.Errorf("%s: %w", r.name, err)
	}
	r.err = err
	r.closeFile()
	return err
}

// Next returns the next entry, or io.EOF after the last file. Truncated
// input is an error wrapping io.ErrUnexpectedEOF, a transaction left open
// at the end of a file included (Redis reverts it).
func (r *Reader) Next() (*Entry, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.n++; r.n%1024 == 0 {
		if err := r.ctx.Err(); err != nil {
			return nil, r.fail(err)
		}
	}
	for {
		if r.rd != nil {
			if err := r.finishRDB(); err != nil {
				return nil, r.fail(err)
			}
		}
		if r.resp == nil {
			if len(r.sources) == 0 {
				r.err = io.EOF
				return nil, io.EOF
			}
			if err := r.ctx.Err(); err != nil {
				return nil, r.fail(err)
			}
			isRDB, err := r.openNext()
			if err != nil {
				return nil, r.fail(err)
			}
			if isRDB {
				r.entry = Entry{Kind: KindRDB, RDB: r.rd, File: r.name}
				return &r.entry, nil
			}
		}
		e, err := r.command()
		if err == io.EOF {
			if r.inMulti {
				return nil, r.fail(&ParseError{Offset: r.multiStart,
					Err: fmt.Errorf("MULTI without EXEC at the end of the file: %w", io.ErrUnexpectedEOF)})
			}
			if err := r.closeFile(); err != nil {
				return nil, r.fail(err)
			}
			continue
		}
		if err != nil {
			return nil, r.fail(err)
		}
		if e != nil {
			return e, nil
		}
	}
}

// openNext opens the next file and tells whether it starts with an RDB.
func (r *Reader) openNext() (bool, error) {
	s := r.sources[0]
	r.sources = r.sources[1:]
	r.name, r.dump = s.name, s.dump
	r.db, r.inMulti, r.valid = 0, false, 0
	f, err := s.open()
	if err != nil {
		return false, err
	}
	r.cur = f
	br := bufio.NewReaderSize(f, readerBufSize)
	magic, _ := br.Peek(6)
	// Redis checks for "REDIS" only; Valkey's RDB magic is accepted too.
	if bytes.HasPrefix(magic, []byte("REDIS")) || bytes.Equal(magic, []byte("VALKEY")) {
		r.rd = rdb.NewReader(br)
		return true, nil
	}
	r.resp = NewRESPReader(br)
	return false, nil
}

// finishRDB reads what the caller left of the RDB part, then sets up
// reading the commands after it.
func (r *Reader) finishRDB() error {
	for {
		_, err := r.rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	r.resp = NewRESPReader(r.rd.Rest())
	r.resp.pos = r.rd.Offset()
	r.resp.off, r.valid = r.resp.pos, r.resp.pos
	r.rd = nil
	if c, ok := r.resp.peekByte(); ok && r.dump && c != '*' && c != '#' {
		// Not commands: a dump with bytes after its checksum.
		r.trailing, r.trailingOK = r.resp.pos, true
		return r.closeFile()
	}
	return nil
}

// Trailing reports the offset of bytes that followed the RDB dump read
// from a NewReader stream and were ignored because they start no command
// (ok is false when there were none). Valid once Next returned io.EOF.
func (r *Reader) Trailing() (offset int64, ok bool) {
	return r.trailing, r.trailingOK
}

// peekByte returns the next byte, if any, without consuming it.
func (r *RESPReader) peekByte() (byte, bool) {
	b, err := r.br.Peek(1)
	if err != nil || r.err != nil {
		return 0, false
	}
	return b[0], true
}

// maxAnnotation is Redis's AOF_ANNOTATION_LINE_MAX_LEN.
const maxAnnotation = 1024

// readAnnotation reads a '#' line, without its line ending.
func (r *RESPReader) readAnnotation() ([]byte, error) {
	at := r.pos
	line, err := r.br.ReadSlice('\n')
	r.pos += int64(len(line))
	switch {
	case err == io.EOF:
		err = &ParseError{Offset: r.pos, Err: io.ErrUnexpectedEOF}
	case err == bufio.ErrBufferFull || err == nil && len(line) > maxAnnotation:
		err = &ParseError{Offset: at, Err: protocolf("annotation longer than %d bytes", maxAnnotation)}
	case err != nil:
		err = &ParseError{Offset: r.pos, Err: err}
	}
	if err != nil {
		return nil, r.fail(at, err)
	}
	r.off = r.pos
	line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
	return line, nil
}

// command reads up to the next command to yield. It returns a nil entry
// for an annotation or a SELECT, which it consumes.
func (r *Reader) command() (*Entry, error) {
	if c, ok := r.resp.peekByte(); ok && c == '#' {
		at := r.resp.pos
		line, err := r.resp.readAnnotation()
		if err != nil {
			return nil, err
		}
		if ts, ok := bytes.CutPrefix(line, []byte("#TS:")); ok {
			n, ok := parseInt(ts)
			if !ok || n < 0 {
				return nil, &ParseError{Offset: at, Err: protocolf("invalid timestamp annotation %q", clip(line))}
			}
			r.ts = n
		}
		if !r.inMulti {
			r.valid = r.resp.Offset()
		}
		return nil, nil
	}
	args, err := r.resp.ReadCommand()
	if err != nil {
		return nil, err
	}
	at := r.resp.ValueOffset()
	tx := TxNone
	if r.inMulti {
		tx = TxQueued
	}
	switch {
	case ascii(args[0], "select"):
		n, ok := int64(0), len(args) == 2
		if ok {
			n, ok = parseInt(args[1])
		}
		if !ok || n < 0 || n > 1<<31-1 {
			return nil, &ParseError{Offset: at, Err: protocolf("invalid SELECT")}
		}
		r.db = int(n)
		if !r.inMulti {
			r.valid = r.resp.Offset()
		}
		return nil, nil
	case ascii(args[0], "multi"):
		if r.inMulti {
			return nil, &ParseError{Offset: at, Err: fmt.Errorf("%w: MULTI inside a transaction", ErrMulti)}
		}
		r.inMulti, r.multiStart, tx = true, at, TxMulti
	case ascii(args[0], "exec"):
		if !r.inMulti {
			return nil, &ParseError{Offset: at, Err: fmt.Errorf("%w: EXEC without MULTI", ErrMulti)}
		}
		r.inMulti, tx = false, TxExec
	}
	if !r.inMulti {
		r.valid = r.resp.Offset()
	}
	r.entry = Entry{Kind: KindCommand, Args: args, DB: r.db, Tx: tx, Timestamp: r.ts, File: r.name, Offset: at}
	return &r.entry, nil
}

// ascii reports whether b equals the lower-case ASCII name, ignoring case.
func ascii(b []byte, name string) bool {
	if len(b) != len(name) {
		return false
	}
	for i := range len(b) {
		if b[i]|0x20 != name[i] {
			return false
		}
	}
	return true
}
