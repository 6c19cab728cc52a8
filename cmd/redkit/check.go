package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redkit/redkit/internal/analysis"
	"github.com/redkit/redkit/rdb"
	"github.com/urfave/cli/v2"
)

type checkOptions struct {
	format string // text or json
	quiet  bool
	aof    aofCheckOptions
}

func newCheckCommand(gopts globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "verify RDB dumps (structure, CRC64) and AOFs; cut an AOF's incomplete tail",
		ArgsUsage: "FILE...",
		UsageText: `redkit check [--format text|json] [--quiet] [--fix | --truncate-to-timestamp TIME] FILE...

examples:
   redkit check /var/lib/redis/dump.rdb
   redkit check --format json backups/*.rdb.zst     # one JSON object per line
   redis-cli --rdb - | redkit check -                # a live snapshot on stdin
   redkit check --fix /var/lib/redis/appendonlydir   # cut a multi-part AOF's incomplete tail`,
		Description: `Reads every record and walks every value, then verifies the checksum; a
key held twice in a database, which Redis refuses to load, is an error too.
For a good file it prints a summary: RDB version and magic, AUX fields
(redis-ver, ctime, ...), keys per database and per type, expiring keys,
functions, the module types its module values and AUX data need, sizes, the
checksum (or that it was saved disabled), bytes after the checksum (which
Redis ignores), and time taken. For a bad file it prints where reading
failed, whether the file is truncated or corrupt, and what to do next.
Several files are checked in parallel and reported in argument order once
all are done. gzip and zstd
input is decompressed transparently; "-" is standard input.

` + checkAOFHelp + `

` + exitCodesHelp + `
   With several files, 1 if any file is bad.
   3 if every file is sound but some hold empty lists, sets, sorted sets or
   hashes: Redis skips such keys when it loads the file.
` + checkAOFExitHelp,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "text", EnvVars: []string{"REDKIT_FORMAT"}, Usage: "output `FORMAT`: text, or json (one object per line per file)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"REDKIT_QUIET"}, Usage: "no progress bar, and no summary for good files in text format"},
			logFormatFlag(),
		}, aofFlags()...),
		Action: func(c *cli.Context) error {
			if err := checkLogFormat(c, "check"); err != nil {
				return err
			}
			opts := checkOptions{format: c.String("format"), quiet: c.Bool("quiet")}
			var err error
			if opts.aof, err = parseAOFFlags(c.Bool("fix"), c.String("truncate-to-timestamp")); err != nil {
				return err
			}
			return runCheck(c.Context, gopts, opts, c.Args().Slice())
		},
	}
}

// checkResult is one file's check.
type checkResult struct {
	inputResult
	sum     *analysis.Summary
	elapsed time.Duration
	// Empty collections: Redis skips them when it loads the file (and
	// redis-check-rdb calls the file broken), so they are reported.
	emptyKeys int64
	emptyList []string // the first few, printable

	aof *aofResult // set for AOF inputs, reported by check_aof.go
}

// maxEmptyListed is how many empty keys check names.
const maxEmptyListed = 5

// noteEmpty counts an empty collection and reports whether rec is one.
func (r *checkResult) noteEmpty(rec *rdb.Record, st rdb.ValueStats) bool {
	switch rec.Type {
	case rdb.TypeList, rdb.TypeSet, rdb.TypeZSet, rdb.TypeHash:
	default:
		return false // empty strings and streams are valid
	}
	if st.Elements != 0 {
		return false
	}
	r.emptyKeys++
	if len(r.emptyList) < maxEmptyListed {
		r.emptyList = append(r.emptyList, fmt.Sprintf("db%d:%s", rec.DB, analysis.Printable(string(rec.Key))))
	}
	return true
}

func runCheck(ctx context.Context, gopts globalOptions, opts checkOptions, args []string) error {
	if len(args) == 0 {
		return usageErrorf("check: no file given")
	}
	if opts.format != "text" && opts.format != "json" {
		return usageErrorf("check: unknown --format %q: want text or json", opts.format)
	}
	l := newCmdLog(gopts)
	bar := startProgress(gopts.stderr, opts.quiet || l.isJSON(), "check", totalSize(args))
	results := make([]checkResult, len(args))
	forEachInput(ctx, len(args), func(i int) {
		start := time.Now()
		sum := analysis.NewSummary(analysis.SummaryOptions{Now: gopts.now})
		r := &results[i]
		if isAOFInput(args[i]) {
			r.aof = checkAOF(ctx, opts.aof, args[i])
			return
		}
		keys := analysis.NewKeySet()
		res := scanInputTail(ctx, args[i], gopts.stdin, bar, nil, func(rec *rdb.Record, st rdb.ValueStats) error {
			sum.Add(rec, st)
			if r.noteEmpty(rec, st) {
				return nil // Redis skips it before looking for duplicates
			}
			if keys.Add(rec.DB, rec.Key) {
				return &rdb.ParseError{Offset: rec.Offset, Key: bytes.Clone(rec.Key),
					Err: fmt.Errorf("%w in db %d: the key is there twice, and Redis refuses to load the file (\"Duplicated key found in RDB file\")", analysis.ErrDuplicateKey, rec.DB)}
			}
			return nil
		}, true)
		r.inputResult, r.sum, r.elapsed = res, sum, time.Since(start)
		if hasRESPTail(&res) { // an AOF with an RDB preamble
			r.aof = checkAOF(ctx, opts.aof, args[i])
		}
	})
	bar.stop()
	if err := ctx.Err(); err != nil {
		return err
	}
	bad, withEmpty, fixed := 0, 0, 0
	for i := range results {
		res := &results[i]
		if res.aof != nil {
			switch res.aof.status {
			case aofBad:
				bad++
			case aofFixed:
				fixed++
			}
			if err := reportAOF(gopts, l, opts, res.aof); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			continue
		}
		if res.err != nil {
			bad++
			logInputError(l, "check", &res.inputResult)
		} else if res.emptyKeys > 0 {
			withEmpty++
			l.warn(fmt.Sprintf("check %s: %d empty collections (%s): Redis skips them when it loads this file, and redis-check-rdb rejects it",
				res.path, res.emptyKeys, strings.Join(res.emptyList, ", ")), "", "file", res.path, "empty_keys", res.emptyKeys, "keys", res.emptyList)
		}
		var err error
		switch {
		case opts.format == "json":
			err = writeCheckJSON(gopts.stdout, res)
		case res.err == nil && !opts.quiet:
			err = writeCheckText(gopts.stdout, res)
		}
		if err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	if bad > 0 {
		return reportedError(exitError, fmt.Errorf("%d of %d files bad", bad, len(args)))
	}
	if withEmpty > 0 {
		return reportedError(exitProblems, fmt.Errorf("%d of %d files hold empty collections", withEmpty, len(args)))
	}
	if fixed > 0 {
		return reportedError(exitProblems, fmt.Errorf("%d of %d AOFs had an incomplete tail, now cut", fixed, len(args)))
	}
	return nil
}

func writeCheckText(w io.Writer, r *checkResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	m, s := &r.meta, r.sum
	fmt.Fprintf(tw, "%s: ok\n", r.path)
	fmt.Fprintf(tw, "  format\t%s, RDB version %d\n", m.Magic, m.Version)
	for _, a := range m.Aux {
		fmt.Fprintf(tw, "  aux %s\t%s%s\n", analysis.Printable(a.Name), analysis.Printable(a.Value), auxNote(a))
	}
	fmt.Fprintf(tw, "  keys\t%d (%d with an expiry, %d already expired)\n", s.Total.Keys, s.Total.Keys-s.Expiry.None.Keys, s.Expiry.Expired.Keys)
	var dbs, types []string
	for _, g := range analysis.Sorted(s.ByDB) {
		dbs = append(dbs, fmt.Sprintf("db%d=%d", g.Name, g.Keys))
	}
	for _, g := range analysis.Sorted(s.ByType) {
		types = append(types, fmt.Sprintf("%s=%d", g.Name, g.Keys))
	}
	fmt.Fprintf(tw, "  databases\t%s\n", orNone(dbs))
	fmt.Fprintf(tw, "  types\t%s\n", orNone(types))
	fmt.Fprintf(tw, "  functions\t%s\n", countList(m.Functions))
	fmt.Fprintf(tw, "  modules\t%s\n", countList(m.Modules))
	fmt.Fprintf(tw, "  size\t%s\n", sizeLine(r.size, r.compression, m.Bytes))
	fmt.Fprintf(tw, "  checksum\t%s\n", checksumLine(r))
	if r.trailing > 0 {
		fmt.Fprintf(tw, "  trailing\t%s\n", trailingLine(r))
	}
	for _, op := range r.skipped {
		fmt.Fprintf(tw, "  skipped\t%d Redis Enterprise %s records (opcode %d): read past, as Redis and librdb do\n", op.Count, op.Name, op.Opcode)
	}
	fmt.Fprintf(tw, "  time\t%s\n", r.elapsed.Round(time.Microsecond))
	return tw.Flush()
}

// checksumState names how the CRC64 trailer was found: "verified",
// "disabled" (saved as zero: rdbchecksum no) or "none" (RDB 1 to 4).
func checksumState(r *checkResult) string {
	switch {
	case r.meta.Version < 5:
		return "none"
	case r.storedCRC == 0:
		return "disabled"
	}
	return "verified"
}

func checksumLine(r *checkResult) string {
	switch checksumState(r) {
	case "none":
		return fmt.Sprintf("none (RDB %d files have no CRC64)", r.meta.Version)
	case "disabled":
		return "none: saved with the checksum disabled (rdbchecksum no): Redis loads it unchecked, and the content is unverified"
	}
	return fmt.Sprintf("CRC64 %016x verified", r.storedCRC)
}

// trailingLine describes the bytes after the checksum.
func trailingLine(r *checkResult) string {
	what := fmt.Sprintf("%d bytes after the checksum at offset %d", r.trailing, r.meta.Bytes)
	if c := r.trailingStart; c == '*' || c == '#' {
		return what + ": AOF commands (an AOF with an RDB preamble), checked only in an uncompressed file given by its path"
	}
	return what + ": not part of the dump, ignored as Redis ignores them when it loads the file (redis-cli --rdb - writes its 40-byte EOF marker there)"
}

// auxNote renders Unix-time AUX fields as dates too.
func auxNote(a analysis.Aux) string {
	if a.Name != "ctime" {
		return ""
	}
	sec, err := strconv.ParseInt(a.Value, 10, 64)
	if err != nil {
		return ""
	}
	return " (" + time.Unix(sec, 0).UTC().Format(time.RFC3339) + ")"
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

func countList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	shown := make([]string, len(names))
	for i, n := range names {
		shown[i] = analysis.Printable(n)
		if n == "" {
			shown[i] = "(unnamed)"
		}
	}
	return fmt.Sprintf("%d: %s", len(names), strings.Join(shown, ", "))
}

// checkJSON is one line of check --format json.
type checkJSON struct {
	File        string           `json:"file"`
	OK          bool             `json:"ok"`
	Error       *checkErrorJSON  `json:"error,omitempty"`
	Magic       string           `json:"magic,omitempty"`
	Version     int              `json:"rdb_version,omitempty"`
	Aux         []analysis.Aux   `json:"aux"`
	Keys        int64            `json:"keys"`
	EmptyKeys   int64            `json:"empty_keys"`
	Expiring    int64            `json:"expiring_keys"`
	Expired     int64            `json:"expired_keys"`
	Databases   []dbCountJSON    `json:"databases"`
	Types       map[string]int64 `json:"types"`
	Functions   []string         `json:"functions"`
	Modules     []string         `json:"modules"`
	FileBytes   int64            `json:"file_bytes"`
	RDBBytes    int64            `json:"rdb_bytes"`
	Compression string           `json:"compression"`
	// Checksum is "verified", "disabled" (saved as zero) or "none" (RDB
	// before 5); set for a good file.
	Checksum       string `json:"checksum,omitempty"`
	TrailingBytes  int64  `json:"trailing_bytes"`            // bytes after the checksum
	TrailingOffset int64  `json:"trailing_offset,omitempty"` // where they start
	// Skipped counts Redis Enterprise records read past, by name
	// (RAM_LRU, SLOT_NUM); absent when there are none.
	Skipped map[string]int64 `json:"skipped_opcodes,omitempty"`
	Seconds float64          `json:"seconds"`
}

type checkErrorJSON struct {
	Kind    string `json:"kind"` // truncated, corrupt, not-rdb, unsupported, unreadable, error
	Message string `json:"message"`
	Offset  *int64 `json:"offset,omitempty"`
	Hint    string `json:"hint,omitempty"`
}

type dbCountJSON struct {
	DB   int   `json:"db"`
	Keys int64 `json:"keys"`
}

func writeCheckJSON(w io.Writer, r *checkResult) error {
	s, m := r.sum, &r.meta
	out := checkJSON{
		File: r.path, OK: r.err == nil, Magic: m.Magic, Version: m.Version,
		Aux: m.Aux, Keys: s.Total.Keys, EmptyKeys: r.emptyKeys, Expiring: s.Total.Keys - s.Expiry.None.Keys, Expired: s.Expiry.Expired.Keys,
		Databases: []dbCountJSON{}, Types: map[string]int64{},
		Functions: m.Functions, Modules: m.Modules,
		FileBytes: r.size, RDBBytes: m.Bytes, Compression: string(r.compression), Seconds: r.elapsed.Seconds(),
	}
	if out.Aux == nil {
		out.Aux = []analysis.Aux{}
	}
	if out.Functions == nil {
		out.Functions = []string{}
	}
	if out.Modules == nil {
		out.Modules = []string{}
	}
	for _, g := range analysis.Sorted(s.ByDB) {
		out.Databases = append(out.Databases, dbCountJSON{g.Name, g.Keys})
	}
	for t, g := range s.ByType {
		out.Types[t.String()] = g.Keys
	}
	for _, op := range r.skipped {
		if out.Skipped == nil {
			out.Skipped = map[string]int64{}
		}
		out.Skipped[op.Name] = op.Count
	}
	if r.err == nil {
		out.Checksum = checksumState(r)
		if r.trailing > 0 {
			out.TrailingBytes, out.TrailingOffset = r.trailing, m.Bytes
		}
	}
	if r.err != nil {
		kind, hint := describeError(r.err)
		out.Error = &checkErrorJSON{Kind: kind, Message: r.err.Error(), Hint: hint}
		var pe *rdb.ParseError
		if errors.As(r.err, &pe) {
			out.Error.Offset = &pe.Offset
		}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
