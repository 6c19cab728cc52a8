package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/analysis"
	"github.com/redkit/redkit/rdb"
	"github.com/urfave/cli/v2"
)

type analyzeOptions struct {
	report    string // summary, keys, bigkeys, prefixes, flamegraph
	format    string // text, json, csv, table, html; "" = the report's default
	output    string // file written atomically; "" or "-" = stdout
	top       int
	separator string
	depth     int
	quiet     bool
	filter    *rdb.Filter
	model     string             // memory model; "" = chosen from each dump
	backups   backupInputOptions // inputs that are backups: --identity-file, s3:// access
}

var reportFormats = map[string][]string{
	"summary":    {"text", "json"},
	"keys":       {"csv", "json", "table"},
	"bigkeys":    {"csv", "json", "table"},
	"prefixes":   {"csv", "json", "table"},
	"flamegraph": {"html"},
}

func newAnalyzeCommand(gopts globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "analyze",
		Usage:     "estimate memory use by key, type, database, prefix and expiry, offline",
		ArgsUsage: "FILE|STORAGE_URL@ID...",
		UsageText: `redkit analyze [--report R] [--format F] [-o FILE] [filters] FILE...
   redkit analyze [options] STORAGE_URL[/ID|@ID|@latest] | @ID | @latest

examples:
   redkit analyze dump.rdb                                  # summary
   redkit analyze s3://backups/orders@latest --identity-file key.txt   # a backup, read from its storage
   redkit analyze /var/lib/redis/appendonlydir              # an AOF, replayed
   redkit analyze dump.rdb --report keys > keys.csv         # one row per key
   redkit analyze --report bigkeys --top 20 --type hash dump.rdb.gz
   redkit analyze --report prefixes --separator : --depth 2 dump.rdb
   redkit analyze --report flamegraph -o memory.html node-*.rdb.zst
   redkit analyze --report keys --min-size 1mb --format json - < dump.rdb`,
		Description: `Reads dumps as a stream (never all keys in memory) and reports memory as
the server that wrote the dump would use it once loaded (estimated, like
MEMORY USAGE, by that server's model: --memory-model for another).

Reports (--report):
  summary     totals per database, type and encoding; expiry profile (already
              expired, < 1 h, < 1 day, < 7 days, later, none); the --top biggest
              keys and prefixes; estimated memory vs dump size. text or json.
  keys        one row per key with the redis-rdb-tools memory columns:
              database,type,key,size_in_bytes,encoding,num_elements,
              len_largest_element,expiry (RFC 3339 UTC with milliseconds, empty
              when none). csv (default), json or table.
  bigkeys     the --top biggest keys, same columns, biggest first.
  prefixes    memory and key count per key prefix at each level 1..--depth,
              the --top biggest (0 = all): database,prefix,size,size_readable,
              key_count. A prefix ends with the separator ("user:", "user:42:");
              keys count only for prefixes that end in a separator inside them.
              --separator "" makes every byte a level (as HDT3213/rdb).
  flamegraph  one self-contained HTML page (no network) with memory by prefix
              as a zoomable icicle graph; write it with -o memory.html.

Formats: json is JSON Lines (one object per line, streamed) for keys, bigkeys
and prefixes, and one object for summary. Keys that are not valid UTF-8 are
written as "key_base64" (standard base64) instead of "key", so no byte is lost;
CSV writes the raw bytes with standard quoting; table shows Go-escaped text.

Several files (a cluster's dumps) are read in parallel, one reader each, and
reported together: totals and prefixes are merged; keys and bigkeys rows get a
leading "file" column, only when there is more than one file. With several
files the order of keys rows interleaves between files.

A backup (STORAGE_URL@ID or @latest, as restore takes it; @ID alone
names one of REDKIT_STORAGE's) is read from its storage as a stream,
without a temporary file: each object through its SHA-256 (checked
against the manifest at its end), decryption (--identity-file) and
decompression. A cluster's backup is analyzed as all its objects, one
input each. An object whose SHA-256 does not match is reported FAILED
VERIFICATION (json: "error") and the exit code is 1.

An AOF (a file of RESP commands, *.aof, or a multi-part AOF's directory
or manifest, or a backup of one) is replayed into memory, as convert
replays it, and its keys are reported as the RDB a server of its version
would save of them: memory is estimated as for that RDB, and the summary
says "AOF replayed". The whole data set is held in memory while it is
analyzed. Relative expiries without a #TS annotation count from now.

Prefix memory is bounded: at most 524288 distinct prefixes are held per file;
beyond that the smallest half is dropped and the report says it is approximate.

The progress bar (bytes read of the stored, possibly compressed files, rate and
ETA) is drawn on stderr only when stderr is a terminal, --quiet is not set and
--log-format is text.

` + exitCodesHelp + `
   1 here also when some file is truncated or corrupt (as in check): the
   report of the keys read before the damage is still written, its files
   marked INCOMPLETE (json: "error"), and stderr says which file and where;
   and when an object of a backup fails verification (FAILED VERIFICATION),
   is missing, or cannot be decrypted.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "report", Aliases: []string{"r"}, Value: "summary", Usage: "`REPORT`: summary, keys, bigkeys, prefixes or flamegraph"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, EnvVars: []string{"REDKIT_FORMAT"}, Usage: "output `FORMAT`: text or json for summary; csv, json or table for keys, bigkeys and prefixes; html for flamegraph"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the report to `FILE` (atomically: temporary file and rename) instead of stdout"},
			&cli.IntFlag{Name: "top", Value: 10, Usage: "`N` biggest keys and prefixes to show (prefixes: 0 = all)"},
			&cli.StringFlag{Name: "separator", Value: ":", Usage: "key prefix separator `SEP`; empty: every byte is a level"},
			&cli.IntFlag{Name: "depth", Value: 3, Usage: "prefix levels `N` to aggregate (1..N)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"REDKIT_QUIET"}, Usage: "no progress bar"},
			&cli.StringFlag{Name: "memory-model", EnvVars: []string{"REDKIT_MEMORY_MODEL"}, Usage: "estimate memory as the server `MODEL` lays keys out: " + strings.Join(rdb.MemoryModelNames(), ", ") + "; default: the one matching the redis-ver or valkey-ver the dump names"},
			logFormatFlag(),
		}, append(filterFlags(), backupInputFlags()...)...),
		Action: func(c *cli.Context) error {
			if err := checkLogFormat(c, "analyze"); err != nil {
				return err
			}
			f, err := filterFromFlags(c, gopts.now)
			if err != nil {
				return err
			}
			opts := analyzeOptions{
				report: c.String("report"), format: c.String("format"), output: c.String("output"),
				top: c.Int("top"), separator: c.String("separator"), depth: c.Int("depth"),
				quiet: c.Bool("quiet"), filter: f, model: c.String("memory-model"), backups: backupInputOptionsFromFlags(c),
			}
			return runAnalyze(c.Context, gopts, opts, c.Args().Slice())
		},
	}
}

// validate checks the options and fills in the report's default format.
func (o *analyzeOptions) validate(nfiles int) error {
	formats, ok := reportFormats[o.report]
	if !ok {
		return usageErrorf("analyze: unknown --report %q: want summary, keys, bigkeys, prefixes or flamegraph", o.report)
	}
	if o.format == "" {
		o.format = formats[0]
	}
	if o.format == "text" && o.report != "summary" && o.report != "flamegraph" {
		o.format = "table"
	}
	if !slices.Contains(formats, o.format) {
		return usageErrorf("analyze: --format %q does not apply to --report %s: want %s", o.format, o.report, strings.Join(formats, " or "))
	}
	if nfiles == 0 {
		return usageErrorf("analyze: no file given")
	}
	if o.top < 0 || (o.top == 0 && o.report != "prefixes") {
		return usageErrorf("analyze: --top must be at least 1")
	}
	if o.depth < 1 {
		return usageErrorf("analyze: --depth must be at least 1")
	}
	if o.model != "" && rdb.CheckMemoryModel(o.model) != nil {
		return usageErrorf("analyze: unknown --memory-model %q: want %s", o.model, strings.Join(rdb.MemoryModelNames(), ", "))
	}
	return nil
}

// summaryOptions returns what the report needs aggregated.
func (o *analyzeOptions) summaryOptions(gopts globalOptions) analysis.SummaryOptions {
	so := analysis.SummaryOptions{Now: gopts.now}
	if o.report == "summary" || o.report == "bigkeys" || o.report == "flamegraph" {
		so.Top = o.top
	}
	if o.report == "summary" || o.report == "prefixes" || o.report == "flamegraph" {
		so.Prefixes = analysis.PrefixOptions{Separator: o.separator, Depth: o.depth}
	}
	return so
}

// analyzeResult is one file's analysis.
type analyzeResult struct {
	inputResult
	sum *analysis.Summary
}

func runAnalyze(ctx context.Context, gopts globalOptions, opts analyzeOptions, args []string) error {
	if err := opts.validate(len(args)); err != nil {
		return err
	}
	inputs, err := expandInputs(ctx, gopts, "analyze", opts.backups, args)
	if err != nil {
		return err
	}
	out, err := openOutput(opts.output, gopts.stdout)
	if err != nil {
		return err
	}
	defer out.abort()
	w := bufio.NewWriterSize(out, 64<<10)
	multi := len(inputs) > 1

	var rows *keyWriter
	if opts.report == "keys" {
		if rows, err = newKeyWriter(w, opts.format, multi); err != nil {
			return err
		}
	}
	var rowsMu sync.Mutex
	l := newCmdLog(gopts)
	bar := startProgress(gopts.stderr, opts.quiet || l.isJSON(), "analyze", totalInputSize(inputs))
	results := make([]analyzeResult, len(inputs))
	forEachInput(ctx, len(inputs), func(i int) {
		so := opts.summaryOptions(gopts)
		if multi {
			so.Source = inputs[i].name
		}
		sum := analysis.NewSummary(so)
		spec := inputs[i]
		spec.model = opts.model
		res := analyzeInput(ctx, gopts, spec, bar, opts.filter, func(rec *rdb.Record, st rdb.ValueStats) error {
			sum.Add(rec, st)
			if rows == nil {
				return nil
			}
			rowsMu.Lock()
			defer rowsMu.Unlock()
			return rows.write(analysis.KeyOf(so.Source, rec, st))
		})
		results[i] = analyzeResult{inputResult: res, sum: sum}
	})
	bar.stop()
	if err := ctx.Err(); err != nil {
		return err
	}
	if rows != nil && rows.err != nil {
		return fmt.Errorf("write report: %w", rows.err)
	}

	failed, unverified, usable := 0, 0, 0
	total := analysis.NewSummary(opts.summaryOptions(gopts))
	for i := range results {
		r := &results[i]
		if r.replayed {
			l.info(fmt.Sprintf("analyze %s: an AOF, replayed into memory: its keys are reported as the RDB a server would save of them", r.path), "file", r.path, "replayed", true)
		}
		if r.err != nil {
			failed++
			if errors.As(r.err, new(*backup.ChecksumError)) {
				unverified++
			}
			logInputError(l, "analyze", &r.inputResult)
		}
		if r.err == nil || r.meta.Version > 0 {
			usable++
			total.Merge(r.sum)
		}
	}
	if usable == 0 {
		return reportedError(exitError, fmt.Errorf("no readable input"))
	}

	switch opts.report {
	case "summary":
		err = writeSummary(w, opts, total, results)
	case "keys":
		err = rows.flush()
	case "bigkeys":
		err = writeKeys(w, opts.format, multi, total.Biggest.Keys())
	case "prefixes":
		err = writePrefixes(w, opts.format, total.Prefixes.Top(opts.top))
	case "flamegraph":
		err = writeFlameGraph(w, total, results, args)
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = out.commit()
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if total.Prefixes != nil && total.Prefixes.Approximate() && opts.report != "summary" {
		l.warn("analyze: too many distinct prefixes: prefix figures are approximate (try a smaller --depth)", "")
	}
	if failed > 0 {
		// A corrupt or truncated input is an error, as in check; the
		// report of what could be read was written all the same.
		err := fmt.Errorf("analyze: %d of %d files could not be read to the end: the report covers the keys read before the damage", failed, len(inputs))
		if unverified > 0 {
			err = fmt.Errorf("analyze: %d of %d inputs could not be read to the end or failed verification (%d backup objects whose SHA-256 does not match the manifest's): the report covers the keys read, from damaged bytes", failed, len(inputs), unverified)
		}
		l.error(err.Error(), "", "files_failed", failed, "files", len(inputs))
		return reportedError(exitError, err)
	}
	return nil
}

// analyzeInput reads one input of analyze: a dump or an object of a
// backup scanned as it streams, or an AOF replayed into memory: a plain
// AOF, a multi-part AOF's directory or manifest, a file named *.aof (an
// AOF with an RDB preamble, from Redis before 7), or a backup of a
// multi-part AOF.
func analyzeInput(ctx context.Context, gopts globalOptions, spec inputSpec, p *progress, f *rdb.Filter, fn func(*rdb.Record, rdb.ValueStats) error) inputResult {
	if spec.aof != nil || spec.obj == nil && (isAOFInput(spec.name) || isAOFName(spec.name)) {
		return scanReplayed(ctx, spec, gopts.stdin, p, f, gopts.now.UnixMilli(), fn)
	}
	res := scanInputTail(ctx, spec, gopts.stdin, p, f, fn, true)
	if res.err == nil && res.trailing > 0 && (res.trailingStart == '*' || res.trailingStart == '#') {
		// Its keys were reported as they came: replaying it now would
		// count them twice, so the report says it is short.
		res.err = fmt.Errorf("%s: an AOF with an RDB preamble: AOF commands follow the RDB part at offset %d, and they were not replayed: the report covers the RDB part only (analyze it under a name ending in .aof to replay it whole)", spec.name, res.meta.Bytes)
	}
	return res
}

// isAOFName tells a file named as an AOF: *.aof, compressed or not.
func isAOFName(path string) bool {
	for _, ext := range []string{".aof", ".aof.gz", ".aof.zst"} {
		if strings.HasSuffix(path, ext) {
			return true
		}
	}
	return false
}
