package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/analysis"
	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/redkit/redkit/pipeline"
	"github.com/redkit/redkit/rdb"
)

// inputResult is what reading one dump produced.
type inputResult struct {
	path        string
	meta        analysis.Meta
	size        int64 // stored size, -1 if unknown
	compression dumpfile.Compression
	err         error
	object      bool // an object of a backup, read from its storage
	replayed    bool // an AOF replayed into memory, its keys scanned as an RDB

	// Read to the end (err nil):
	storedCRC, computedCRC uint64 // the trailer's CRC64 (0: saved without) and the content's
	trailing               int64  // bytes after the checksum (counted when asked)
	trailingStart          byte   // the first of them
	// Redis Enterprise opcodes read past (RAM_LRU, SLOT_NUM).
	skipped []rdb.SkippedOpcode
}

// scanInputTail reads one dump through Scan, counting its bytes in p;
// with countTail it also reads and counts the bytes after the RDB's
// checksum, which Redis ignores when it loads it.
// An object of a backup is read from its storage and its SHA-256 checked
// once the RDB is read (openScan).
func scanInputTail(ctx context.Context, spec inputSpec, stdin io.Reader, p *progress, f *rdb.Filter, fn func(*rdb.Record, rdb.ValueStats) error, countTail bool) (res inputResult) {
	res = inputResult{path: spec.name, size: -1}
	in, finish, err := openScan(ctx, spec, stdin, &res)
	if err != nil {
		res.err = err
		return res
	}
	defer func() { res.err = finish(res.err) }()
	p.track(in)
	rd := rdb.NewReader(in)
	if res.err = rd.SetMemoryModel(spec.model); res.err != nil {
		return res
	}
	if res.err = analysis.Scan(ctx, rd, f, &res.meta, fn); res.err != nil {
		return res
	}
	res.storedCRC, res.computedCRC = rd.Checksum()
	res.skipped = rd.Skipped()
	if countTail {
		rest := bufio.NewReader(rd.Rest())
		if b, err := rest.Peek(1); err == nil {
			res.trailingStart = b[0]
		}
		if res.size >= 0 && res.compression == dumpfile.None {
			// A plain file: its size tells, without reading an AOF tail.
			res.trailing = res.size - res.meta.Bytes
		} else if res.trailing, res.err = io.Copy(io.Discard, rest); res.err != nil {
			res.err = fmt.Errorf("read after the checksum at offset %d: %w", res.meta.Bytes, res.err)
		}
	}
	return res
}

// openScan opens an input to scan, setting res's size and compression:
// a file (or stdin) as dumpfile opens it, or an object of a backup
// streamed from its storage. finish closes it and returns the input's
// error: for an object, its checksum's verdict comes first, since
// damaged bytes explain whatever the parser said (a *backup.ChecksumError).
func openScan(ctx context.Context, spec inputSpec, stdin io.Reader, res *inputResult) (*dumpfile.File, func(error) error, error) {
	if spec.obj == nil {
		in, err := dumpfile.OpenArg(ctx, spec.name, stdin)
		if err != nil {
			return nil, nil, err
		}
		res.size, res.compression = in.Size, in.Compression
		return in, func(err error) error { in.Close(); return err }, nil
	}
	st, err := openBackupObject(ctx, spec.obj)
	if err != nil {
		return nil, nil, err
	}
	finish := func(err error) error { return objectVerdict(st.Close(), err) }
	in, err := dumpfile.NewReader(ctx, spec.name, st)
	if err != nil {
		return nil, nil, finish(err)
	}
	res.object = true
	res.size, res.compression = spec.obj.e.StoredBytes, spec.obj.compression()
	return in, func(err error) error { in.Close(); return finish(err) }, nil
}

// objectVerdict combines an object's checksum verdict (its Close) with
// the error reading it: a damaged object is its checksum error, whatever
// the parser said.
func objectVerdict(closeErr, readErr error) error {
	switch {
	case closeErr == nil:
		return readErr
	case readErr == nil:
		return closeErr
	case errors.As(readErr, new(*backup.ChecksumError)):
		return readErr
	case errors.As(closeErr, new(*backup.ChecksumError)):
		return fmt.Errorf("%w (reading it: %v)", closeErr, readErr)
	}
	return readErr
}

// scanReplayed replays an AOF (a file, a multi-part AOF's directory or
// manifest, or a backup of one) into memory and scans its keys as the
// RDB a server would save of them (pipeline.ReplayedRDB); now counts
// relative expiries without a #TS annotation (Unix ms).
func scanReplayed(ctx context.Context, spec inputSpec, stdin io.Reader, p *progress, f *rdb.Filter, now int64, fn func(*rdb.Record, rdb.ValueStats) error) inputResult {
	res := inputResult{path: spec.name, size: -1, replayed: true}
	var src *pipeline.AOFSource
	var closeInput func() error
	if spec.aof != nil {
		ar, closeAll, err := openBackupAOF(ctx, spec.aof)
		if err != nil {
			res.err = err
			return res
		}
		src, closeInput = pipeline.NewAOFSource(ar, nil, true), closeAll
		res.object, res.size = true, spec.aof.m.StoredBytes
		res.compression = (&backupObject{m: spec.aof.m}).compression()
	} else {
		inp, err := pipeline.Open(ctx, spec.name, stdin, nil)
		if err != nil {
			res.err = err
			return res
		}
		as, ok := inp.Source.(*pipeline.AOFSource)
		if !ok {
			inp.Close()
			res.err = fmt.Errorf("%s: redkit JSON is not an AOF nor a dump: analyze reads dumps and AOFs", spec.name)
			return res
		}
		src, closeInput = as, inp.Close
		if inp.File != nil {
			p.track(inp.File)
			res.size, res.compression = inp.File.Size, inp.File.Compression
		}
	}
	rc, version, err := pipeline.ReplayedRDB(ctx, src, now)
	if err == nil {
		rd := rdb.NewReader(rc)
		if err = rd.SetMemoryModel(spec.model); err == nil {
			err = analysis.Scan(ctx, rd, f, &res.meta, fn)
		}
		rc.Close()
		res.meta.Version = version
	}
	if spec.aof != nil {
		res.err = objectVerdict(closeInput(), err)
	} else {
		closeInput()
		res.err = err
	}
	return res
}

// forEachInput calls fn for 0 <= i < n on up to runtime.NumCPU()
// goroutines, stopping early once ctx is done.
func forEachInput(ctx context.Context, n int, fn func(i int)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(n, runtime.NumCPU()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				fn(i)
			}
		}()
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

// totalSize is the sum of the paths' sizes, or -1 if one is unknown.
func totalSize(paths []string) int64 {
	var total int64
	for _, path := range paths {
		fi, err := os.Stat(path)
		if path == "-" || err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		total += fi.Size()
	}
	return total
}

// totalInputSize is totalSize of inputs: -1 with a backup among them,
// whose progress counts its content, not its stored bytes.
func totalInputSize(specs []inputSpec) int64 {
	paths := make([]string, len(specs))
	for i, spec := range specs {
		if spec.obj != nil || spec.aof != nil {
			return -1
		}
		paths[i] = spec.name
	}
	return totalSize(paths)
}

// describeError classifies a failure to read a dump and says what to do.
func describeError(err error) (kind, hint string) {
	if isAOFError(err) {
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			return "truncated", "the AOF ends inside a command or a MULTI block: Redis was stopped while writing it, or the copy was cut short. 'redkit check --fix FILE' cuts it at its last complete command, keeping a backup, as redis-check-aof --fix does (Redis itself loads it only with aof-load-truncated yes)."
		case errors.Is(err, aof.ErrProtocol), errors.Is(err, aof.ErrMulti):
			return "corrupt", "the AOF's commands are not valid at that offset: the file is damaged, and Redis refuses to load it. Use another copy; 'redkit check FILE' reports what it holds up to the damage."
		}
	}
	if kind, hint, ok := describeBackupError(err); ok {
		return kind, hint
	}
	switch {
	case errors.Is(err, analysis.ErrDuplicateKey):
		return "corrupt", "Redis writes each key once: another tool wrote this file, or merged dumps. Redis refuses to load it; restore and convert would write the key twice, the last copy winning."
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated", "the file ends before the RDB end marker: it was cut short (copied while Redis was still writing it, a full disk, or an interrupted transfer). Copy it again or take a fresh BGSAVE; keys before the cut can still be listed with 'redkit analyze'."
	case errors.Is(err, rdb.ErrChecksum):
		return "corrupt", "every record decoded but the CRC64 checksum at the end does not match: bytes were altered on disk or in transit. Use another copy (a replica's dump or a backup) before trusting this one."
	case errors.Is(err, rdb.ErrBadMagic):
		return "not-rdb", "the file does not start with REDIS or VALKEY: is it an AOF, or compressed with something other than gzip or zstd?"
	case errors.Is(err, rdb.ErrUnsupportedVersion):
		return "unsupported", "the dump was written by a server newer than this redkit understands: upgrade redkit."
	case errors.Is(err, rdb.ErrCorrupt):
		return "corrupt", "the data at that offset is not valid RDB encoding: the file is damaged. Use another copy; keys before the damage can still be listed with 'redkit analyze'."
	case errors.Is(err, os.ErrNotExist), errors.Is(err, os.ErrPermission):
		return "unreadable", ""
	default:
		return "error", ""
	}
}

// isAOFError tells an error in an AOF's commands (not in its RDB part).
func isAOFError(err error) bool {
	var ape *aof.ParseError
	var rpe *rdb.ParseError
	return errors.As(err, &ape) && !errors.As(err, &rpe)
}

// isInputError tells an error in the input's content: a parse error of
// an RDB or an AOF.
func isInputError(err error) bool {
	var ape *aof.ParseError
	var rpe *rdb.ParseError
	return errors.As(err, &ape) || errors.As(err, &rpe)
}

// printInputError prints "redkit: <cmd> <path>: <err>" and a hint.
func printInputError(w io.Writer, cmd string, res *inputResult) {
	logInputError(newCmdLogTo(w, "text"), cmd, res)
}

// logInputError is printInputError through l: with --log-format json one
// JSON line with the file, the kind of damage, its offset and the hint.
func logInputError(l *cmdLog, cmd string, res *inputResult) {
	msg := fmt.Sprintf("%s %s: %v", cmd, res.path, res.err)
	kind, hint := describeError(res.err)
	attrs := []any{"file", res.path, "kind", kind}
	var pe *rdb.ParseError
	if errors.As(res.err, &pe) {
		attrs = append(attrs, "offset", pe.Offset)
	}
	if ve := (*rdb.VersionError)(nil); errors.As(res.err, &ve) {
		l.error(msg, fmt.Sprintf("write a newer RDB with --rdb-version %d (only servers that read RDB %d can load it)", ve.Need, ve.Need), attrs...)
		return
	}
	if hint != "" {
		hint = fmt.Sprintf("%s is %s: %s", res.path, kindPhrase(kind), hint)
	}
	l.error(msg, hint, attrs...)
}

func kindPhrase(kind string) string {
	switch kind {
	case "not-rdb":
		return "not an RDB file"
	case "unsupported":
		return "of an unsupported version"
	default:
		return kind
	}
}

// openInput opens anything convert reads (pipeline.Open): a multi-part
// AOF (directory or manifest), or a file or "-" holding an RDB dump, an
// AOF or redkit JSON, compressed or not. in is nil for a multi-part AOF;
// call closeInput when done. Errors are labelled as they always were.
func openInput(ctx context.Context, stdin io.Reader, cmd, path string, filter *rdb.Filter) (src pipeline.Source, in *dumpfile.File, closeInput func(), err error) {
	inp, err := pipeline.Open(ctx, path, stdin, filter)
	if err != nil {
		switch {
		case aof.IsMultiPart(path):
			err = fmt.Errorf("%s: %w", cmd, err)
		case isSniffError(err):
			err = labelSniffError(err)
		}
		return nil, nil, nil, err
	}
	return inp.Source, inp.File, func() { inp.Close() }, nil
}

// isSniffError tells an input that is neither a dump, an AOF nor JSON.
func isSniffError(err error) bool {
	return errors.Is(err, pipeline.ErrEmptyInput) || errors.As(err, new(*pipeline.FormatError))
}

// labelSniffError labels an input that is neither a dump, an AOF nor
// JSON as it always was, whatever the command: "convert PATH: ...".
func labelSniffError(err error) error { return fmt.Errorf("convert %w", err) }
