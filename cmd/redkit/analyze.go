package main

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

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
	model     string // memory model; "" = chosen from each dump
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
		ArgsUsage: "FILE...",
		UsageText: `redkit analyze [--report R] [--format F] [-o FILE] [filters] FILE...

examples:
   redkit analyze dump.rdb                                  # summary
   redkit analyze dump.rdb --report keys > keys.csv         # one row per key
   redkit analyze --report bigkeys --top 20 --type hash dump.rdb.gz
   redkit analyze --report prefixes --separator : --depth 2 dump.rdb
   redkit analyze --report flamegraph -o memory.html node-*.rdb.zst
   redkit analyze --report keys --min-size 1mb --format json - < dump.rdb`,
		Description: `Reads dumps as a stream (never all keys in memory) and reports memory as
Redis 7 would use it once loaded (estimated, like MEMORY USAGE).

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

Prefix memory is bounded: at most 524288 distinct prefixes are held per file;
beyond that the smallest half is dropped and the report says it is approximate.

The progress bar (bytes read of the stored, possibly compressed files, rate and
ETA) is drawn on stderr only when stderr is a terminal, --quiet is not set and
--log-format is text.

` + exitCodesHelp + `
   1 here also when some file is truncated or corrupt (as in check): the
   report of the keys read before the damage is still written, its files
   marked INCOMPLETE (json: "error"), and stderr says which file and where.`,
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
		}, filterFlags()...),
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
				quiet: c.Bool("quiet"), filter: f, model: c.String("memory-model"),
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
	out, err := openOutput(opts.output, gopts.stdout)
	if err != nil {
		return err
	}
	defer out.abort()
	w := bufio.NewWriterSize(out, 64<<10)
	multi := len(args) > 1

	var rows *keyWriter
	if opts.report == "keys" {
		if rows, err = newKeyWriter(w, opts.format, multi); err != nil {
			return err
		}
	}
	var rowsMu sync.Mutex
	l := newCmdLog(gopts)
	bar := startProgress(gopts.stderr, opts.quiet || l.isJSON(), "analyze", totalSize(args))
	results := make([]analyzeResult, len(args))
	forEachInput(ctx, len(args), func(i int) {
		so := opts.summaryOptions(gopts)
		if multi {
			so.Source = args[i]
		}
		sum := analysis.NewSummary(so)
		res := scanInput(ctx, args[i], gopts.stdin, bar, opts.filter, opts.model, func(rec *rdb.Record, st rdb.ValueStats) error {
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

	failed, usable := 0, 0
	total := analysis.NewSummary(opts.summaryOptions(gopts))
	for i := range results {
		r := &results[i]
		if r.err != nil {
			failed++
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
		err := fmt.Errorf("analyze: %d of %d files could not be read to the end: the report covers the keys read before the damage", failed, len(args))
		l.error(err.Error(), "", "files_failed", failed, "files", len(args))
		return reportedError(exitError, err)
	}
	return nil
}
