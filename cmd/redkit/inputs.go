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

	// Read to the end (err nil):
	storedCRC, computedCRC uint64 // the trailer's CRC64 (0: saved without) and the content's
	trailing               int64  // bytes after the checksum (counted when asked)
	trailingStart          byte   // the first of them
	// Redis Enterprise opcodes read past (RAM_LRU, SLOT_NUM).
	skipped []rdb.SkippedOpcode
}

// scanInput reads one dump through Scan, counting its bytes in p; model
// is the memory model the stats use ("" = chosen from the dump).
func scanInput(ctx context.Context, path string, stdin io.Reader, p *progress, f *rdb.Filter, model string, fn func(*rdb.Record, rdb.ValueStats) error) inputResult {
	return scanInputModel(ctx, path, stdin, p, f, model, fn, false)
}

// scanInputTail is scanInput; with countTail it also reads and counts the
// bytes after the RDB's checksum, which Redis ignores when it loads it.
func scanInputTail(ctx context.Context, path string, stdin io.Reader, p *progress, f *rdb.Filter, fn func(*rdb.Record, rdb.ValueStats) error, countTail bool) inputResult {
	return scanInputModel(ctx, path, stdin, p, f, "", fn, countTail)
}

func scanInputModel(ctx context.Context, path string, stdin io.Reader, p *progress, f *rdb.Filter, model string, fn func(*rdb.Record, rdb.ValueStats) error, countTail bool) inputResult {
	res := inputResult{path: path, size: -1}
	in, err := dumpfile.OpenArg(ctx, path, stdin)
	if err != nil {
		res.err = err
		return res
	}
	defer in.Close()
	p.track(in)
	res.size, res.compression = in.Size, in.Compression
	rd := rdb.NewReader(in)
	if res.err = rd.SetMemoryModel(model); res.err != nil {
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
