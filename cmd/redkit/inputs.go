package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/redkit/redkit/internal/analysis"
	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/redkit/redkit/rdb"
)

// inputResult is what reading one dump produced.
type inputResult struct {
	path        string
	meta        analysis.Meta
	size        int64 // stored size, -1 if unknown
	compression dumpfile.Compression
	err         error
}

// scanInput reads one dump through Scan, counting its bytes in p.
func scanInput(ctx context.Context, path string, stdin io.Reader, p *progress, f *rdb.Filter, fn func(*rdb.Record, rdb.ValueStats) error) inputResult {
	res := inputResult{path: path, size: -1}
	var in *dumpfile.File
	var err error
	if path == "-" {
		in, err = dumpfile.NewReader(ctx, "-", stdin)
	} else {
		in, err = dumpfile.Open(ctx, path)
	}
	if err != nil {
		res.err = err
		return res
	}
	defer in.Close()
	p.track(in)
	res.size, res.compression = in.Size, in.Compression
	res.err = analysis.Scan(ctx, rdb.NewReader(in), f, &res.meta, fn)
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
	switch {
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

// printInputError prints "redkit: <cmd> <path>: <err>" and a hint.
func printInputError(w io.Writer, cmd string, res *inputResult) {
	fmt.Fprintf(w, "redkit: %s %s: %v\n", cmd, res.path, res.err)
	if ve := (*rdb.VersionError)(nil); errors.As(res.err, &ve) {
		fmt.Fprintf(w, "hint: write a newer RDB with --rdb-version %d (only servers that read RDB %d can load it)\n", ve.Need, ve.Need)
		return
	}
	if kind, hint := describeError(res.err); hint != "" {
		fmt.Fprintf(w, "hint: %s is %s: %s\n", res.path, kindPhrase(kind), hint)
	}
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
