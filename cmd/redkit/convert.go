package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/dumpfile"
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
--quiet is not set; a one-line summary follows unless --quiet.

` + exitCodesHelp + `
   Here 1 also covers an input that is truncated or corrupt: with -o no
   file is written.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "to", Aliases: []string{"t"}, EnvVars: []string{"REDKIT_TO"}, Usage: "output `FORMAT`: resp, aof, json, jsonl or rdb [$REDKIT_TO]"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` (atomically: temporary file and rename) instead of stdout"},
			&cli.IntFlag{Name: "batch", Value: 512, EnvVars: []string{"REDKIT_BATCH"}, Usage: "at most `N` elements per RPUSH, SADD, ZADD or HSET [$REDKIT_BATCH]"},
			&cli.IntFlag{Name: "rdb-version", Value: 10, EnvVars: []string{"REDKIT_RDB_VERSION"}, Usage: "--to rdb: the RDB `VERSION` written: 10 loads in Redis 7.0 and later; hash field expiries need 12 (Redis 7.4) [$REDKIT_RDB_VERSION]"},
			&cli.BoolFlag{Name: "replay", Usage: "--to json|jsonl|rdb from an AOF with an RDB preamble: replay its commands into the keys (plain and multi-part AOFs always are)"},
			&cli.StringFlag{Name: "now", Usage: "resolve relative expiries (EXPIRE, SET EX) in AOF commands without a #TS annotation against `TIME` (RFC 3339 or Unix seconds) instead of refusing them"},
			&cli.BoolFlag{Name: "restore-payloads", EnvVars: []string{"REDKIT_RESTORE_PAYLOADS"}, Usage: "one RESTORE ... ABSTTL per key instead of the commands that build it [$REDKIT_RESTORE_PAYLOADS]"},
			&cli.StringSliceFlag{Name: "db-map", Usage: "write keys of database `SRC=DST` to database DST (repeatable)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"REDKIT_QUIET"}, Usage: "no progress bar and no summary [$REDKIT_QUIET]"},
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
				replay: c.Bool("replay"),
				filter: f, dbMap: dbMap,
			}
			return runConvert(c.Context, gopts, opts, c.Args().Slice())
		},
	}
}

// parseDBMap parses SRC=DST pairs.
func parseDBMap(pairs []string) (map[int]int, error) {
	m := map[int]int{}
	for _, p := range pairs {
		src, dst, ok := strings.Cut(p, "=")
		s, err1 := strconv.Atoi(strings.TrimSpace(src))
		d, err2 := strconv.Atoi(strings.TrimSpace(dst))
		if !ok || err1 != nil || err2 != nil || s < 0 || d < 0 {
			return nil, usageErrorf("invalid --db-map %q: want SRC=DST with database numbers, such as 3=0", p)
		}
		if s > rdb.MaxDB || d > rdb.MaxDB {
			return nil, usageErrorf("invalid --db-map %q: no server holds database %d (0 to %d)", p, max(s, d), rdb.MaxDB)
		}
		if prev, dup := m[s]; dup && prev != d {
			return nil, usageErrorf("invalid --db-map: database %d mapped twice (to %d and %d)", s, prev, d)
		}
		m[s] = d
	}
	return m, nil
}

// convertItem is one thing an input holds that outputs write: a key, a
// function library's code, or a module's auxiliary data.
type convertItem struct {
	key       *rdb.KeyValue
	function  []byte
	moduleAux *rdb.Record // a KindModuleAux record
	command   [][]byte    // an AOF command, to run in db
	db        int
}

// convertSource reads items from one input kind, filtered; next returns
// io.EOF at the end. Items are valid until the next call.
type convertSource interface {
	next() (convertItem, error)
}

// convertSink writes items in one output format; close flushes it.
type convertSink interface {
	// needsKeyspace tells that AOF commands must be replayed into a
	// keyspace before this sink can write keys.
	needsKeyspace() bool
	key(kv *rdb.KeyValue) error
	function(code []byte) error
	// moduleAux writes a module's auxiliary data (a KindModuleAux
	// record), or notes in the stats that the format cannot carry it.
	moduleAux(rec *rdb.Record) error
	// command passes an AOF command through; sinks that need a keyspace
	// (json, rdb) cannot take them yet.
	command(args [][]byte, db int) error
	close() error
}

// convertStats counts what a sink wrote, for the summary.
type convertStats struct {
	keys, functions, commands int64
	auxLeftOut                []string // modules whose auxiliary data the format could not carry
}

// leaveOutAux notes a module whose auxiliary data is not written.
func (st *convertStats) leaveOutAux(rec *rdb.Record) {
	if name := rec.Module.Name(); !slices.Contains(st.auxLeftOut, name) {
		st.auxLeftOut = append(st.auxLeftOut, name)
	}
}

// newConvertSink returns the sink for a format: adding a format is one
// case here and one function.
func newConvertSink(opts *convertOptions, w io.Writer, st *convertStats) (convertSink, error) {
	switch opts.to {
	case "resp", "aof":
		return newRESPSink(opts, w, st), nil
	case "json", "jsonl":
		return &jsonSink{w: rdb.NewJSONWriter(w, rdb.JSONOptions{Array: opts.to == "json"}), st: st}, nil
	case "rdb":
		rw, err := rdb.NewWriter(w, rdb.WriterOptions{Version: opts.rdbVersion})
		if err != nil {
			return nil, usageErrorf("convert: --rdb-version %d: %v", opts.rdbVersion, err)
		}
		return &rdbSink{w: rw, st: st}, nil
	case "":
		return nil, usageErrorf("convert: --to is required: resp, aof, json, jsonl or rdb")
	default:
		return nil, usageErrorf("convert: unknown --to %q: want resp, aof, json, jsonl or rdb", opts.to)
	}
}

// jsonSink writes keys and function libraries as JSON (rdb.JSONWriter).
type jsonSink struct {
	w  *rdb.JSONWriter
	st *convertStats
}

func (s *jsonSink) key(kv *rdb.KeyValue) error {
	s.st.keys++
	return s.w.WriteKey(kv)
}

func (s *jsonSink) function(code []byte) error {
	s.st.functions++
	return s.w.WriteFunction(code)
}

func (s *jsonSink) moduleAux(rec *rdb.Record) error {
	return s.w.WriteModuleAux(rec.Module, rec.When, rec.Data)
}

func (s *jsonSink) close() error { return s.w.Close() }

func (s *jsonSink) command([][]byte, int) error { return errNeedsReplay }

func (s *jsonSink) needsKeyspace() bool { return true }

// errNeedsReplay stops a streamed conversion to json or rdb that meets
// AOF commands after an RDB part: they change keys already written.
var errNeedsReplay = errors.New("AOF commands follow the RDB part (an AOF with an RDB preamble): run again with --replay to replay them into the keys")

// rdbSink writes an RDB file (rdb.Writer).
type rdbSink struct {
	w  *rdb.Writer
	st *convertStats
}

func (s *rdbSink) key(kv *rdb.KeyValue) error {
	s.st.keys++
	return s.w.WriteKey(kv)
}

func (s *rdbSink) function(code []byte) error {
	s.st.functions++
	return s.w.WriteFunction(code)
}

func (s *rdbSink) moduleAux(rec *rdb.Record) error {
	return s.w.WriteModuleAux(rec.Module, rec.When, rec.Data)
}

func (s *rdbSink) close() error { return s.w.Close() }

func (s *rdbSink) command([][]byte, int) error { return errNeedsReplay }

func (s *rdbSink) needsKeyspace() bool { return true }

// openConvertSource detects the input's kind from its first bytes (after
// decompression): adding an input kind is one case here and one type.
func openConvertSource(path string, in io.Reader, f *rdb.Filter) (convertSource, error) {
	br := bufio.NewReaderSize(in, 64<<10)
	head, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	first := bytes.TrimLeft(head, " \t\r\n")
	switch {
	case bytes.HasPrefix(head, []byte("REDIS")), bytes.HasPrefix(head, []byte("VALKEY")):
		// An RDB dump or an AOF with an RDB preamble: the AOF reader
		// yields the RDB part and any commands after it.
		return &aofSource{rd: aof.NewReader(br), filter: f}, nil
	case len(head) > 0 && (head[0] == '*' || head[0] == '#'):
		return &aofSource{rd: aof.NewReader(br), filter: f, commands: true}, nil
	case len(first) > 0 && (first[0] == '{' || first[0] == '['):
		return &jsonSource{rd: rdb.NewJSONReader(br), filter: f}, nil
	case len(head) == 0:
		return nil, fmt.Errorf("convert %s: input is empty", path)
	default:
		return nil, fmt.Errorf("convert %s: input is neither an RDB dump (REDIS or VALKEY magic), an AOF (RESP commands) nor redkit JSON (first bytes %q)", path, head)
	}
}

// jsonSource reads keys, function libraries and module auxiliary data
// from redkit's JSON or JSON Lines.
type jsonSource struct {
	rd     *rdb.JSONReader
	filter *rdb.Filter
	aux    rdb.Record // the last module-aux object, as a record
}

func (s *jsonSource) next() (convertItem, error) {
	for {
		rec, err := s.rd.NextRecord()
		if err != nil {
			return convertItem{}, err
		}
		switch rec.Kind {
		case rdb.KindFunction:
			return convertItem{function: rec.Data}, nil
		case rdb.KindModuleAux:
			s.aux = rdb.Record{Kind: rdb.KindModuleAux, Module: rec.Module, When: rec.When, Data: rec.Data}
			return convertItem{moduleAux: &s.aux}, nil
		case rdb.KindKey:
			kv := rec.Key
			r := rdb.Record{Kind: rdb.KindKey, DB: kv.DB, Key: kv.Key, Type: kv.Type, ExpireAt: kv.ExpireAt}
			if s.filter.MatchKey(&r) {
				return convertItem{key: kv}, nil
			}
		}
	}
}

// openInput opens anything convert reads: a multi-part AOF (directory or
// manifest), or a file or "-" holding an RDB dump, an AOF or redkit JSON,
// compressed or not. in is nil for a multi-part AOF; call closeInput when
// done.
func openInput(ctx context.Context, stdin io.Reader, cmd, path string, filter *rdb.Filter) (src convertSource, in *dumpfile.File, closeInput func(), err error) {
	if isAOFSet(path) {
		ar, err := aof.Open(ctx, path)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", cmd, err)
		}
		return &aofSource{rd: ar, filter: filter, commands: true}, nil, func() { ar.Close() }, nil
	}
	if path == "-" {
		in, err = dumpfile.NewReader(ctx, "-", stdin)
	} else {
		in, err = dumpfile.Open(ctx, path)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if src, err = openConvertSource(path, in, filter); err != nil {
		in.Close()
		if ctx.Err() != nil {
			return nil, nil, nil, ctx.Err()
		}
		return nil, nil, nil, err
	}
	return src, in, func() { in.Close() }, nil
}

// isAOFSet tells a multi-part AOF: a directory or a manifest file.
func isAOFSet(path string) bool {
	if strings.HasSuffix(path, ".manifest") {
		return true
	}
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// aofSource reads an RDB dump or any AOF form: the keys and function
// libraries of its RDB part, then its commands.
type aofSource struct {
	rd       *aof.Reader
	filter   *rdb.Filter
	part     *rdb.Reader // the RDB part being read, if any
	commands bool        // the input is known to hold commands (a plain or multi-part AOF)
	// keysRead, when set, counts the keys of the RDB parts per
	// database, filtered out or not.
	keysRead map[int]int64
}

func (s *aofSource) next() (convertItem, error) {
	for {
		if s.part != nil {
			rec, err := s.part.Next()
			if errors.Is(err, io.EOF) {
				s.part = nil
				continue
			}
			if err != nil {
				return convertItem{}, err
			}
			if rec.Kind == rdb.KindKey && s.keysRead != nil {
				s.keysRead[rec.DB]++
			}
			switch {
			case rec.Kind == rdb.KindFunction:
				return convertItem{function: rec.Data}, nil
			case rec.Kind == rdb.KindModuleAux:
				return convertItem{moduleAux: rec}, nil
			case rec.Kind == rdb.KindKey && s.filter.MatchKey(rec):
				return convertItem{key: s.part.KeyValue()}, nil
			}
			continue
		}
		e, err := s.rd.Next()
		if err != nil {
			return convertItem{}, err
		}
		if e.Kind == aof.KindRDB {
			s.part = e.RDB
			continue
		}
		if f := s.filter; f != nil && (f.Match != "" || f.Regex != nil || len(f.Types) > 0 || f.Expired != rdb.ExpiredInclude) {
			return convertItem{}, fmt.Errorf("%s offset %d: AOF commands cannot be filtered by key, type or expiry (only --db applies to them)", e.File, e.Offset)
		}
		if f := s.filter; f != nil && len(f.DBs) > 0 && !slices.Contains(f.DBs, e.DB) {
			continue
		}
		return convertItem{command: e.Args, db: e.DB}, nil
	}
}

// respSink writes RESP commands through an aof.Rewriter.
type respSink struct {
	db int // database of the last passed-through command, -1 unknown
	w  *aof.Writer
	rw *aof.Rewriter
	st *convertStats
}

func newRESPSink(opts *convertOptions, w io.Writer, st *convertStats) *respSink {
	return &respSink{
		db: -1,
		w:  aof.NewWriter(w),
		rw: aof.NewRewriter(aof.RewriteOptions{Batch: opts.batch, RestorePayloads: opts.restorePayloads}),
		st: st,
	}
}

func (s *respSink) key(kv *rdb.KeyValue) error {
	s.st.keys++
	s.db = -1 // the rewriter may select another database
	return s.rw.Key(kv, s.w.WriteCommand)
}

func (s *respSink) function(code []byte) error {
	s.st.functions++
	return s.rw.Function(code, s.w.WriteCommand)
}

func (s *respSink) moduleAux(rec *rdb.Record) error {
	s.st.leaveOutAux(rec)
	return nil
}

func (s *respSink) needsKeyspace() bool { return false }

func (s *respSink) command(args [][]byte, db int) error {
	if db != s.db {
		s.rw.Reset() // the next key selects its database again
		if err := s.w.WriteCommand([]byte("SELECT"), []byte(strconv.Itoa(db))); err != nil {
			return err
		}
		s.db = db
	}
	return s.w.WriteCommand(args...)
}

func (s *respSink) close() error {
	s.st.commands = s.w.Commands()
	return s.w.Flush()
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
	var st convertStats
	// Validate the format before touching input or output.
	if _, err := newConvertSink(&opts, io.Discard, &st); err != nil {
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
	sink, err := newConvertSink(&opts, cw, &st)
	if err != nil {
		return err
	}
	bar := startProgress(gopts.stderr, opts.quiet, "convert", totalSize(args))
	if in != nil {
		bar.track(in)
	}
	if as, ok := src.(*aofSource); ok && sink.needsKeyspace() && (as.commands || opts.replay) {
		err = convertReplay(ctx, as, sink, opts)
	} else {
		err = convert(ctx, src, sink, opts.dbMap)
	}
	if err == nil {
		err = sink.close()
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
		res := inputResult{path: path, err: err}
		printInputError(gopts.stderr, "convert", &res)
		return reportedError(exitError, err)
	}
	if err := out.commit(); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	if len(st.auxLeftOut) > 0 {
		fmt.Fprintf(gopts.stderr, "redkit: convert %s: warning: module auxiliary data of %s left out: --to %s cannot carry it (--to rdb and json do)\n",
			path, strings.Join(st.auxLeftOut, ", "), opts.to)
	}
	if !opts.quiet {
		fmt.Fprintf(gopts.stderr, "redkit: convert %s: %d keys, %d function libraries, %d commands, %d bytes\n",
			path, st.keys, st.functions, st.commands, cw.n)
	}
	return nil
}

// writeError marks a failure of the output, as opposed to the input.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// convertReplay replays an AOF (its RDB part and its commands) into an
// in-memory keyspace, then writes the keyspace's function libraries and
// keys to sink, filtered and moved to the databases dbMap names.
func convertReplay(ctx context.Context, src *aofSource, sink convertSink, opts convertOptions) error {
	ks, err := replayAOF(ctx, src, opts.now)
	if err != nil {
		return err
	}
	if err := ks.Functions(sink.function); err != nil {
		return err
	}
	return ks.Keys(func(kv *rdb.KeyValue) error {
		r := rdb.Record{Kind: rdb.KindKey, DB: kv.DB, Key: kv.Key, Type: kv.Type, ExpireAt: kv.ExpireAt}
		if !src.filter.MatchKey(&r) {
			return nil
		}
		if db, ok := opts.dbMap[kv.DB]; ok {
			kv.DB = db
		}
		return sink.key(kv)
	})
}

// replayAOF replays an AOF (its RDB part and its commands) into an
// in-memory keyspace. now resolves relative times (0: refuse them).
func replayAOF(ctx context.Context, src *aofSource, now int64) (*aof.Keyspace, error) {
	ks := aof.NewKeyspace(aof.KeyspaceOptions{Now: now})
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := src.rd.Next()
		if errors.Is(err, io.EOF) {
			return ks, nil
		}
		if err != nil {
			return nil, err
		}
		if e.Kind == aof.KindRDB {
			err = ks.LoadRDB(e.RDB)
		} else {
			err = ks.Apply(e)
		}
		// A command Redis itself would refuse changes nothing, as when
		// Redis loads the file.
		if err != nil && !errors.Is(err, aof.ErrRejected) {
			return nil, err
		}
	}
}

// convert copies every item of src to sink, moving keys to the
// databases dbMap names.
func convert(ctx context.Context, src convertSource, sink convertSink, dbMap map[int]int) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		it, err := src.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case it.key != nil:
			if db, ok := dbMap[it.key.DB]; ok {
				it.key.DB = db
			}
			err = sink.key(it.key)
		case it.moduleAux != nil:
			err = sink.moduleAux(it.moduleAux)
		case it.command != nil:
			db := it.db
			if d, ok := dbMap[db]; ok {
				db = d
			}
			err = sink.command(it.command, db)
		default:
			err = sink.function(it.function)
		}
		if err != nil {
			return err
		}
	}
}
