package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/urfave/cli/v2"
)

// checkAOFHelp is the part of check's help about AOFs.
const checkAOFHelp = `AOF inputs (a plain AOF, an AOF with an RDB preamble, a Redis 7
appendonlydir or its manifest) are recognized by their content and path:
RESP framing, MULTI/EXEC pairing, the manifest (listed files exist, sequence
numbers, one base, names inside the directory) and every RDB part (values
walked, CRC64) are checked; the summary gives files, commands,
transactions, databases, first and last #TS and the base. An RDB dump with
RESP after its checksum is checked as an AOF with a preamble.

--fix cuts an AOF whose last file ends inside a command or inside a MULTI
block at its last complete command, as redis-check-aof --fix does, after
copying the file whole to FILE.bak.<unix time> next to it. It never touches
a valid AOF, a file other than the last (in a multi-part AOF, the last incr
file), or corruption followed by more data: those are reported only.
--truncate-to-timestamp T cuts the last file before the first #TS
annotation later than T, with the same backup, and refuses AOFs without
annotations. Both refuse to cut a file that changed while it was checked.`

// checkAOFExitHelp adds to exitCodesHelp for AOFs.
const checkAOFExitHelp = `   For AOFs: 1 if an AOF is invalid and was not repaired (a cut-short
   tail without --fix included, as redis-check-aof exits 1); 3 if --fix cut
   an incomplete tail (the AOF is now valid, but the incomplete command or
   transaction is gone); 0 after --truncate-to-timestamp cut as asked.`

// aofFlags are check's flags for AOFs.
func aofFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "fix", Usage: "cut an AOF's incomplete tail at its last complete command, keeping a backup FILE.bak.<unix time> (AOFs only)"},
		&cli.StringFlag{Name: "truncate-to-timestamp", Usage: "cut an AOF before its first #TS annotation later than `TIME` (Unix seconds or RFC 3339), keeping a backup (AOFs only)"},
	}
}

// aofCheckOptions are the AOF part of checkOptions.
type aofCheckOptions struct {
	fix           bool
	truncateAfter time.Time // zero: no cut by time
}

// parseAOFFlags reads --fix and --truncate-to-timestamp.
func parseAOFFlags(fix bool, ts string) (aofCheckOptions, error) {
	o := aofCheckOptions{fix: fix}
	if ts == "" {
		return o, nil
	}
	if fix {
		return o, usageErrorf("check: --fix and --truncate-to-timestamp cannot be combined")
	}
	t, ok := parseTime(ts)
	if !ok {
		return o, usageErrorf("check: --truncate-to-timestamp %q: want positive Unix seconds or an RFC 3339 time", ts)
	}
	o.truncateAfter = t
	return o, nil
}

// isAOFInput tells whether path is an AOF by its path or first byte: a
// directory, a *.manifest, or a file starting with a command or an
// annotation. RDB-preamble AOFs start as RDBs: see hasRESPTail.
func isAOFInput(path string) bool {
	if path == "-" {
		return false
	}
	fi, err := os.Stat(path)
	if err != nil {
		return strings.HasSuffix(path, ".manifest")
	}
	if fi.IsDir() || strings.HasSuffix(path, ".manifest") {
		return true
	}
	c, ok := byteAt(path, 0)
	return ok && (c == '*' || c == '#')
}

// hasRESPTail tells whether a good RDB check read a plain file whose RDB
// is followed by RESP: an AOF with an RDB preamble.
func hasRESPTail(res *inputResult) bool {
	if res.err != nil || res.path == "-" || res.compression != dumpfile.None || res.size <= res.meta.Bytes {
		return false
	}
	c, ok := byteAt(res.path, res.meta.Bytes)
	return ok && (c == '*' || c == '#')
}

func byteAt(path string, off int64) (byte, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return 0, false
	}
	return b[0], true
}

// aofStatus is how one AOF input counts for the exit code.
type aofStatus int

const (
	aofOK    aofStatus = iota // valid, or cut by time as asked
	aofBad                    // invalid and not repaired, or a refused cut
	aofFixed                  // --fix cut an incomplete tail
)

// aofResult is one AOF input's check and what was done about it.
type aofResult struct {
	path    string
	rep     *aof.CheckReport
	err     error // the problem found
	cut     *aofCutDone
	cutErr  error // a cut asked for and refused or failed
	after   error // the check after a cut, if it failed
	status  aofStatus
	elapsed time.Duration
}

type aofCutDone struct {
	why    string // "fix" or "timestamp"
	cut    aof.Cut
	backup string
}

// checkAOF checks one AOF input and applies --fix or
// --truncate-to-timestamp.
func checkAOF(ctx context.Context, opts aofCheckOptions, path string) *aofResult {
	start := time.Now()
	res := &aofResult{path: path}
	defer func() { res.elapsed = time.Since(start) }()
	res.rep, res.err = aof.Check(ctx, path, aof.CheckOptions{TruncateAfter: opts.truncateAfter})
	rep := res.rep
	var cut *aof.Cut
	why := ""
	switch {
	case !opts.truncateAfter.IsZero():
		switch {
		case res.err != nil:
			res.status = aofBad
			return res
		case rep.TimestampErr != nil:
			res.status, res.cutErr = aofBad, rep.TimestampErr
			return res
		case rep.TimestampCut == nil:
			return res // nothing later than the time
		}
		cut, why = rep.TimestampCut, "timestamp"
	case res.err == nil:
		return res
	case opts.fix && rep.Fix != nil:
		cut, why = rep.Fix, "fix"
	default:
		res.status = aofBad
		return res
	}
	backup, err := aof.Truncate(ctx, cut, aof.TruncateOptions{})
	if err != nil {
		res.status, res.cutErr = aofBad, err
		return res
	}
	res.cut = &aofCutDone{why: why, cut: *cut, backup: backup}
	res.status = aofOK
	if why == "fix" {
		res.status = aofFixed
	}
	// Check again what was cut: it must now be valid.
	if _, err := aof.Check(ctx, path, aof.CheckOptions{}); err != nil {
		res.status, res.after = aofBad, err
	}
	return res
}

// reportAOF prints one AOF result: the summary on stdout (text unless
// quiet, or JSON), problems and hints on stderr through l.
func reportAOF(gopts globalOptions, l *cmdLog, opts checkOptions, res *aofResult) error {
	printAOFProblems(l, opts, res)
	switch {
	case opts.format == "json":
		return writeAOFJSON(gopts.stdout, res)
	case res.err == nil && res.status != aofBad && !opts.quiet:
		return writeAOFText(gopts.stdout, res)
	}
	return nil
}

func printAOFProblems(l *cmdLog, opts checkOptions, res *aofResult) {
	rep, p := res.rep, res.path
	if res.err != nil {
		hint := ""
		if res.cut == nil && res.after == nil && res.cutErr == nil {
			hint = aofHint(opts, res)
		}
		attrs := []any{"file", p, "kind", aofErrorKind(res.err)}
		var pe *aof.ParseError
		if errors.As(res.err, &pe) {
			attrs = append(attrs, "offset", pe.Offset)
		}
		l.error(fmt.Sprintf("check %s: %v", p, res.err), hint, attrs...)
	}
	if c := res.cut; c != nil {
		what := "the incomplete tail"
		if c.why == "timestamp" {
			what = "the commands after " + opts.aof.truncateAfter.UTC().Format(time.RFC3339)
		}
		msg := fmt.Sprintf("check %s: cut %s of %s: %d -> %d bytes (%d complete commands dropped); backup: %s",
			p, what, c.cut.File, c.cut.Size, c.cut.Offset, c.cut.Dropped, c.backup)
		attrs := []any{"file", p, "cut_file", c.cut.File, "offset", c.cut.Offset, "bytes", c.cut.Size, "dropped_commands", c.cut.Dropped, "backup", c.backup}
		if c.why == "fix" {
			l.warn(msg, "", attrs...)
		} else {
			l.info(msg, attrs...)
		}
	}
	switch {
	case res.after != nil:
		l.error(fmt.Sprintf("check %s: still invalid after the cut: %v", p, res.after),
			fmt.Sprintf("restore the backup %s and report this as a redkit bug", res.cut.backup), "file", p, "backup", res.cut.backup)
	case res.cutErr != nil:
		hint := ""
		if errors.Is(res.cutErr, aof.ErrNoTimestamps) {
			hint = fmt.Sprintf("%s was written without aof-timestamp-enabled: it cannot be cut by time", p)
		}
		l.error(fmt.Sprintf("check %s: not cut: %v", p, res.cutErr), hint, "file", p)
	case res.cut == nil && res.err == nil && !opts.aof.truncateAfter.IsZero() && rep.TimestampCut == nil:
		l.info(fmt.Sprintf("check %s: nothing after %s: unchanged", p, opts.aof.truncateAfter.UTC().Format(time.RFC3339)), "file", p)
	}
}

// aofHint says what to do about an invalid AOF.
func aofHint(opts checkOptions, res *aofResult) string {
	rep := res.rep
	switch {
	case rep.Fix != nil && !opts.aof.fix:
		return fmt.Sprintf("%s ends inside a command or an unclosed MULTI: run redkit check --fix %s to cut the incomplete tail of %s at offset %d (%d bytes, %d complete commands of an unclosed transaction; a backup is kept)",
			res.path, res.path, rep.Fix.File, rep.Fix.Offset, rep.Fix.Size-rep.Fix.Offset, rep.Fix.Dropped)
	case opts.aof.fix:
		return "not fixed, nothing was changed: " + rep.Unfixable
	}
	return rep.Unfixable
}

func writeAOFText(w io.Writer, res *aofResult) error {
	rep := res.rep
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s: ok\n", res.path)
	fmt.Fprintf(tw, "  format\t%s AOF\n", rep.Layout)
	for _, f := range rep.Files {
		var parts []string
		switch f.Type {
		case aof.TypeBase:
			parts = append(parts, "base")
		case aof.TypeIncr:
			parts = append(parts, "incr")
		}
		parts = append(parts, fmt.Sprintf("%d bytes", f.Size))
		if f.RDB {
			parts = append(parts, fmt.Sprintf("RDB of %d keys", f.RDBKeys))
		}
		parts = append(parts, fmt.Sprintf("%d commands", f.Commands))
		fmt.Fprintf(tw, "  file %s\t%s\n", f.Name, strings.Join(parts, ", "))
	}
	fmt.Fprintf(tw, "  commands\t%d (%d transactions)\n", rep.Commands, rep.Transactions)
	dbs := make([]string, len(rep.DBs))
	for i, db := range rep.DBs {
		dbs[i] = "db" + strconv.Itoa(db)
	}
	fmt.Fprintf(tw, "  databases\t%s\n", orNone(dbs))
	if rep.FirstTimestamp != 0 {
		fmt.Fprintf(tw, "  timestamps\t%d (%s) to %d (%s)\n", rep.FirstTimestamp, unixUTC(rep.FirstTimestamp), rep.LastTimestamp, unixUTC(rep.LastTimestamp))
	} else {
		fmt.Fprintf(tw, "  timestamps\tnone\n")
	}
	switch rep.Base {
	case "rdb":
		fmt.Fprintf(tw, "  base\tRDB, %d keys\n", rep.BaseKeys)
	case "aof":
		fmt.Fprintf(tw, "  base\tAOF\n")
	default:
		fmt.Fprintf(tw, "  base\tnone\n")
	}
	fmt.Fprintf(tw, "  time\t%s\n", res.elapsed.Round(time.Microsecond))
	return tw.Flush()
}

func unixUTC(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.RFC3339) }

// aofJSON is one line of check --format json for an AOF.
type aofJSON struct {
	File           string          `json:"file"`
	OK             bool            `json:"ok"` // valid as checked
	Layout         string          `json:"layout"`
	Error          *checkErrorJSON `json:"error,omitempty"`
	Files          []aofFileJSON   `json:"files"`
	Commands       int64           `json:"commands"`
	Transactions   int64           `json:"transactions"`
	Databases      []int           `json:"databases"`
	FirstTimestamp int64           `json:"first_timestamp"`
	LastTimestamp  int64           `json:"last_timestamp"`
	Base           string          `json:"base"`
	BaseKeys       int64           `json:"base_keys"`
	Fix            *aofCutJSON     `json:"fix,omitempty"` // where --fix cuts (or cut)
	Cut            *aofCutJSON     `json:"cut,omitempty"` // the cut made, with its backup
	CutError       string          `json:"cut_error,omitempty"`
	Seconds        float64         `json:"seconds"`
}

type aofFileJSON struct {
	Name     string `json:"name"`
	Type     string `json:"type,omitempty"` // base, incr
	Bytes    int64  `json:"bytes"`
	RDB      bool   `json:"rdb"`
	RDBKeys  int64  `json:"rdb_keys"`
	Commands int64  `json:"commands"`
}

type aofCutJSON struct {
	Reason  string `json:"reason,omitempty"` // fix, timestamp
	File    string `json:"file"`
	Offset  int64  `json:"offset"`
	Bytes   int64  `json:"bytes"` // size before the cut
	Dropped int64  `json:"dropped_commands"`
	Backup  string `json:"backup,omitempty"`
}

func writeAOFJSON(w io.Writer, res *aofResult) error {
	rep := res.rep
	out := aofJSON{
		File: res.path, OK: res.err == nil, Layout: string(rep.Layout), Files: []aofFileJSON{},
		Commands: rep.Commands, Transactions: rep.Transactions, Databases: rep.DBs,
		FirstTimestamp: rep.FirstTimestamp, LastTimestamp: rep.LastTimestamp, Base: rep.Base, BaseKeys: rep.BaseKeys,
		Seconds: res.elapsed.Seconds(),
	}
	if out.Databases == nil {
		out.Databases = []int{}
	}
	for _, f := range rep.Files {
		fj := aofFileJSON{Name: f.Name, Bytes: f.Size, RDB: f.RDB, RDBKeys: f.RDBKeys, Commands: f.Commands}
		switch f.Type {
		case aof.TypeBase:
			fj.Type = "base"
		case aof.TypeIncr:
			fj.Type = "incr"
		}
		out.Files = append(out.Files, fj)
	}
	if res.err != nil {
		out.Error = &checkErrorJSON{Kind: aofErrorKind(res.err), Message: res.err.Error(), Hint: rep.Unfixable}
		var pe *aof.ParseError
		if errors.As(res.err, &pe) {
			out.Error.Offset = &pe.Offset
		}
	}
	if f := rep.Fix; f != nil {
		out.Fix = &aofCutJSON{File: f.File, Offset: f.Offset, Bytes: f.Size, Dropped: f.Dropped}
		if out.Error != nil {
			out.Error.Hint = fmt.Sprintf("run redkit check --fix %s to cut the incomplete tail at offset %d (a backup is kept)", res.path, f.Offset)
		}
	}
	if c := res.cut; c != nil {
		out.Cut = &aofCutJSON{Reason: c.why, File: c.cut.File, Offset: c.cut.Offset, Bytes: c.cut.Size, Dropped: c.cut.Dropped, Backup: c.backup}
	}
	if res.cutErr != nil {
		out.CutError = res.cutErr.Error()
	} else if res.after != nil {
		out.CutError = "still invalid after the cut: " + res.after.Error()
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// aofErrorKind classifies an AOF check error as check's JSON does.
func aofErrorKind(err error) string {
	var pe *aof.ParseError
	switch {
	case errors.Is(err, aof.ErrManifest):
		return "manifest"
	case errors.Is(err, os.ErrNotExist), errors.Is(err, os.ErrPermission):
		return "unreadable"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated"
	case errors.As(err, &pe):
		return "corrupt"
	}
	return "error"
}
