package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/pipeline"
	"github.com/redkit/redkit/rdb"
	"github.com/urfave/cli/v2"
)

type convertOptions struct {
	to              string // resp, aof, json, jsonl or rdb
	rdbVersion      int    // --to rdb: RDB version written
	replay          bool   // replay AOF commands even after an RDB part
	now             int64  // Unix ms that relative expiries in AOF commands count from, 0 = from #TS only
	output          string // file written atomically; "" or "-" = stdout
	batch           int
	restorePayloads bool
	quiet           bool
	format          string // of the summary: text or json
	filter          *rdb.Filter
	dbMap           map[int]int // source database -> target database
}

func newConvertCommand(gopts globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "convert between RDB, AOF/RESP and JSON: commands for redis-cli --pipe, JSON to read, RDB to load",
		ArgsUsage: "INPUT",
		UsageText: `redkit convert --to resp|aof|json|jsonl|rdb [-o FILE] [--batch N] [--restore-payloads] [--rdb-version V] [--db-map SRC=DST] [filters] INPUT

examples:
   redkit convert --to resp dump.rdb | redis-cli --pipe        # load a dump into a running server
   redkit convert --to aof -o appendonly.aof dump.rdb.zst
   redkit convert --to resp --restore-payloads -o cmds.resp dump.rdb
   redkit convert --to resp --db 3 --db-map 3=0 --match 'user:*' dump.rdb.gz | redis-cli --pipe
   redis-cli --rdb - | redkit convert --to resp - | redis-cli -h target --pipe
   redkit convert --to jsonl dump.rdb | jq -c 'select(.type == "hash")'
   redkit convert --to rdb -o dump.rdb keys.jsonl                # JSON back to a dump
   redkit convert --to resp /var/lib/redis/appendonlydir > all.aof  # merge a multi-part AOF`,
		Description: `Reads INPUT as a stream and writes, key by key, the commands that recreate
each key exactly, as Redis's own AOF rewrite does: SET, RPUSH, SADD, ZADD
(scores that parse back to the same bits), HSET, and XADD with exact IDs
then XSETID, XGROUP CREATE, XGROUP CREATECONSUMER and XCLAIM ... FORCE for
streams' consumer groups and pending entries; RESTORE for module values;
function libraries as FUNCTION LOAD REPLACE; SELECT when the database
changes. Expiries stay absolute: PEXPIREAT after the key's data, never a
relative TTL, so a slow load does not stretch them. Big collections are
split into commands of at most --batch elements. Hash field expiries
(Redis 7.4+ dumps) become HPEXPIREAT, which servers before 7.4 reject.

--restore-payloads writes one RESTORE key ms payload ABSTTL REPLACE per
key instead (plus IDLETIME or FREQ when the dump has them): faster to load
and exact for everything, but the target must understand the dump's RDB
version (same or newer Redis), and one whole value is held in memory at a
time.

Not recreated by commands: consumers' seen and active times (they become
the load time) and pending entries whose stream entry was deleted (XCLAIM
drops them, as it does in Redis's own AOF). Empty lists, sets, sorted sets
and hashes, which Redis drops on load, produce nothing.

Formats (--to):
  resp   RESP command arrays, what redis-cli --pipe reads.
  aof    the same bytes, a file Redis loads as an append-only file: as a
         base file (appendonly.aof.1.base.aof named in the manifest) or as a
         pre-7.0 single appendonly.aof, which Redis 7 upgrades on start.
  json   one JSON array of keys (and function libraries), streamed.
  jsonl  one JSON object per line: keys, function libraries. Lossless:
         strings that are not UTF-8 are {"base64": ...}, scores read back
         bit-exact, expiries are absolute Unix ms ("expire_at_ms"), streams
         keep their IDs, groups, pending entries and consumers, module
         values their DUMP payload. Field names follow HDT3213/rdb's JSON.
  rdb    an RDB file (--rdb-version, 10 by default: Redis 7.0 loads it).
         Each key's elements are gathered before it is written.
Modules' auxiliary data (MODULE_AUX) is carried by rdb, json and jsonl
("module-aux" objects); resp and aof cannot carry it: a warning on stderr
names the modules left out.

INPUT is detected from its content, gzip or zstd compressed or not; "-"
reads standard input:
  an RDB dump;
  an AOF: plain, with an RDB preamble, or a Redis 7 multi-part AOF given as
  its directory or manifest (the base, then the incr files in order);
  redkit's JSON or JSON Lines.
AOF commands pass through to resp and aof output, with SELECT as needed
(only --db filters them). For json, jsonl and rdb output an AOF is
replayed into an in-memory keyspace first (the whole data set is held in
memory), then written out: AOF -> RDB compaction. Commands Redis 7.0
writes to AOFs for strings, bitmaps (BITOP, BITFIELD), HyperLogLogs,
lists, sets, sorted sets (GEOADD too), hashes, streams, keys, expiries,
SORT ... STORE, transactions, functions (FUNCTION RESTORE too) and Redis
7.4 hash field expiries (HPEXPIREAT, HPERSIST; written with --rdb-version
12) are replayed with Redis's semantics; anything else (EVAL,
GEOSEARCHSTORE, Redis 8's HSETEX, module commands, ...) is refused with
its name and offset, never skipped. Relative expiries
count from the #TS annotation in force, or from --now. An RDB file with
commands after it (an AOF with an RDB preamble) is streamed as a dump
unless --replay is given.

Key filters choose keys by their database in the dump; --db-map then moves
them (repeatable: --db-map 3=0 --db-map 4=1). --min-size does not apply to
convert. Function libraries are always written.

With -o the output is written to a temporary file renamed into place only
when the conversion succeeded; on failure nothing is left. On standard
output, what was written before a failure stays written.

The progress bar is drawn on stderr only when stderr is a terminal and
--quiet and --log-format json are not set; a one-line summary follows on
stderr unless --quiet. --format json writes the summary instead as one
JSON object on standard output, for scripts:
  {"input":INPUT,"to":"resp","output":FILE,"keys":N,"functions":N,
   "commands":N,"bytes":N,"aux_left_out":[...],"seconds":S}
which needs -o FILE (standard output carries the data otherwise).
--log-format json makes everything on stderr a JSON line: warnings, the
summary (message "convert done", the same fields), errors and hints.

` + exitCodesHelp + `
   Here 1 also covers an input that is truncated or corrupt: with -o no
   file is written.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "to", Aliases: []string{"t"}, EnvVars: []string{"REDKIT_TO"}, Usage: "output `FORMAT`: resp, aof, json, jsonl or rdb"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` (atomically: temporary file and rename) instead of stdout"},
			&cli.IntFlag{Name: "batch", Value: 512, EnvVars: []string{"REDKIT_BATCH"}, Usage: "at most `N` elements per RPUSH, SADD, ZADD or HSET"},
			&cli.IntFlag{Name: "rdb-version", Value: 10, EnvVars: []string{"REDKIT_RDB_VERSION"}, Usage: "--to rdb: the RDB `VERSION` written: 10 loads in Redis 7.0 and later; hash field expiries need 12 (Redis 7.4)"},
			&cli.BoolFlag{Name: "replay", Usage: "--to json|jsonl|rdb from an AOF with an RDB preamble: replay its commands into the keys (plain and multi-part AOFs always are)"},
			&cli.StringFlag{Name: "now", Usage: "resolve relative expiries (EXPIRE, SET EX) in AOF commands without a #TS annotation against `TIME` (RFC 3339 or Unix seconds) instead of refusing them"},
			&cli.BoolFlag{Name: "restore-payloads", EnvVars: []string{"REDKIT_RESTORE_PAYLOADS"}, Usage: "one RESTORE ... ABSTTL per key instead of the commands that build it"},
			&cli.StringSliceFlag{Name: "db-map", Usage: "`SRC=DST`: write the keys of database SRC to database DST (repeatable)"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "summary `FORMAT`: text (a line on stderr) or json (one object on standard output; needs -o FILE)"},
			logFormatFlag(),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"REDKIT_QUIET"}, Usage: "no progress bar and no summary on stderr (warnings and errors only)"},
		}, filterFlags()...),
		Action: func(c *cli.Context) error {
			f, err := filterFromFlags(c, gopts.now)
			if err != nil {
				return err
			}
			if f.NeedsStats() {
				return usageErrorf("convert: --min-size is not supported: it needs a pass over each value before writing it")
			}
			dbMap, err := parseDBMap(c.StringSlice("db-map"))
			if err != nil {
				return err
			}
			var now int64
			if v := c.String("now"); v != "" {
				t, ok := parseTime(v)
				if !ok {
					return usageErrorf("convert: --now %q: want positive Unix seconds or an RFC 3339 time", v)
				}
				now = t.UnixMilli()
			}
			opts := convertOptions{
				now: now,
				to:  c.String("to"), output: c.String("output"), batch: c.Int("batch"),
				restorePayloads: c.Bool("restore-payloads"), quiet: c.Bool("quiet"), rdbVersion: c.Int("rdb-version"),
				replay: c.Bool("replay"), format: c.String("format"),
				filter: f, dbMap: dbMap,
			}
			return runConvert(c.Context, gopts, opts, c.Args().Slice())
		},
	}
}

// convertSink is a sink of a file format, with its counts.
type convertSink interface {
	pipeline.Sink
	Stats() pipeline.Stats
}

// newConvertSink returns the sink for a format: adding a format is one
// case here and one sink in package pipeline.
func newConvertSink(opts *convertOptions, w io.Writer) (convertSink, error) {
	switch opts.to {
	case "resp", "aof":
		return pipeline.NewRESPSink(w, pipeline.RESPOptions{Batch: opts.batch, RestorePayloads: opts.restorePayloads}), nil
	case "json", "jsonl":
		return pipeline.NewJSONSink(w, rdb.JSONOptions{Array: opts.to == "json"}), nil
	case "rdb":
		s, err := pipeline.NewRDBSink(w, rdb.WriterOptions{Version: opts.rdbVersion})
		if err != nil {
			return nil, usageErrorf("convert: --rdb-version %d: %v", opts.rdbVersion, err)
		}
		return s, nil
	case "":
		return nil, usageErrorf("convert: --to is required: resp, aof, json, jsonl or rdb")
	default:
		return nil, usageErrorf("convert: unknown --to %q: want resp, aof, json, jsonl or rdb", opts.to)
	}
}

// countingWriter counts bytes written, for the summary, and marks its
// errors as the output's.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

func runConvert(ctx context.Context, gopts globalOptions, opts convertOptions, args []string) error {
	switch {
	case len(args) == 0:
		return usageErrorf("convert: no input given")
	case len(args) > 1:
		return usageErrorf("convert: one input at a time (got %d)", len(args))
	case opts.batch < 1:
		return usageErrorf("convert: --batch must be at least 1")
	}
	if err := summaryFormatOK("convert", opts.format, opts.output); err != nil {
		return err
	}
	log := newLogger(gopts.stderr, gopts.logFormat, opts.quiet)
	start := time.Now()
	// Validate the format before touching input or output.
	if _, err := newConvertSink(&opts, io.Discard); err != nil {
		return err
	}
	path := args[0]
	src, in, closeInput, err := openInput(ctx, gopts.stdin, "convert", path, opts.filter)
	if err != nil {
		return err
	}
	defer closeInput()

	out, err := openOutput(opts.output, gopts.stdout)
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	defer out.abort()
	cw := &countingWriter{w: out}
	sink, err := newConvertSink(&opts, cw)
	if err != nil {
		return err
	}
	bar := startProgress(gopts.stderr, opts.quiet || gopts.logFormat == "json", "convert", totalSize(args))
	if in != nil {
		bar.track(in)
	}
	err = pipeline.Copy(ctx, src, sink, pipeline.Options{DBMap: opts.dbMap, Replay: opts.replay, Now: opts.now})
	if err == nil {
		err = sink.Close()
	}
	bar.stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		var werr *writeError
		if errors.As(err, &werr) {
			return fmt.Errorf("convert: write output: %w", werr.err)
		}
		res := inputResult{path: path, err: withAdvice(err)}
		if gopts.logFormat != "json" {
			printInputError(gopts.stderr, "convert", &res)
		} else {
			var text bytes.Buffer
			printInputError(&text, "convert", &res)
			logLines(log, slog.LevelError, text.String(), "exit_code", exitError)
		}
		return reportedError(exitError, err)
	}
	if err := out.commit(); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	st := sink.Stats()
	if len(st.AuxLeftOut) > 0 {
		say(gopts, log, slog.LevelWarn, fmt.Sprintf("convert %s: warning: module auxiliary data of %s left out: --to %s cannot carry it (--to rdb and json do)",
			path, strings.Join(st.AuxLeftOut, ", "), opts.to), "input", path, "modules", st.AuxLeftOut)
	}
	sum := convertSummary{Input: path, To: opts.to, Output: opts.output, Keys: st.Keys, Functions: st.Functions, Commands: st.Commands,
		Bytes: cw.n, AuxLeftOut: st.AuxLeftOut, Seconds: math.Round(time.Since(start).Seconds()*1000) / 1000}
	if sum.Output == "" {
		sum.Output = "-"
	}
	if sum.AuxLeftOut == nil {
		sum.AuxLeftOut = []string{}
	}
	if opts.format == "json" {
		return writeJSON(gopts.stdout, sum)
	}
	if !opts.quiet {
		// Only RESP output counts commands (resp, aof); json and rdb hold keys.
		cmds := ""
		if opts.to == "resp" || opts.to == "aof" {
			cmds = fmt.Sprintf(", %d commands", st.Commands)
		}
		say(gopts, log, slog.LevelInfo, fmt.Sprintf("convert %s: %d keys, %d function libraries%s, %s", path, st.Keys, st.Functions, cmds, bytesize.Format(cw.n)),
			"input", sum.Input, "to", sum.To, "output", sum.Output, "keys", sum.Keys, "functions", sum.Functions, "commands", sum.Commands,
			"bytes", sum.Bytes, "seconds", sum.Seconds)
	}
	return nil
}

// convertSummary is convert's summary, as --format json writes it.
type convertSummary struct {
	Input      string   `json:"input"`
	To         string   `json:"to"`
	Output     string   `json:"output"`
	Keys       int64    `json:"keys"`
	Functions  int64    `json:"functions"`
	Commands   int64    `json:"commands"`
	Bytes      int64    `json:"bytes"`
	AuxLeftOut []string `json:"aux_left_out"`
	Seconds    float64  `json:"seconds"`
}

// writeError marks a failure of the output, as opposed to the input.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }
