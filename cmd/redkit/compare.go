package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/redkit/redkit/internal/compare"
	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/redkit/redkit/pipeline"
	"github.com/redkit/redkit/rdb"
	rsync "github.com/redkit/redkit/sync"
	"github.com/urfave/cli/v2"
)

type compareOptions struct {
	format       string // text or json
	maxReport    int
	sample       int
	ttlTolerance time.Duration
	dbs          []int
	tls          rsync.TLSOptions
	quiet        bool
	passwordFile [2]string // --a-password-file, --b-password-file
}

func newCompareCommand(gopts globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "compare",
		Usage:     "compare two data sets key by key: dumps and live servers (missing, extra, type, value and expiry differences)",
		ArgsUsage: "A B",
		UsageText: `redkit compare [--format text|json] [--max-report N] [--sample N] [--ttl-tolerance D] [--db N] [--tls-*] A B

examples:
   redkit compare dump.rdb redis://10.0.0.5:6379                 # did the migration copy everything?
   REDKIT_A_PASSWORD=secret redkit compare redis://old:6379 redis://new-cluster-node:7000
   redkit compare --sample 10000 redis://old:6379 redis://new:6379   # quick check of 10,000 random keys
   redkit compare --format json --max-report 1000 a.rdb.zst b.rdb > diff.json
   redkit compare --db 0 --ttl-tolerance 5s backup.rdb.gz rediss://replica:6380`,
		Description: `A and B are each a dump (an RDB file, gzip or zstd compressed or not; also
redkit JSON and AOF files as 'redkit convert' reads them; "-" reads standard
input for one of them) or a Redis URL: redis://[user:password@]host:port[/db],
rediss:// for TLS, redis+sentinel://host:port/master. A URL may name any node
of a cluster: every master is read. A is the reference.

Reported, key by key, in every database (a cluster has only database 0; --db
limits the databases):
  missing  in A, not in B
  extra    in B, not in A
  type     the key has another type in B (value and expiry not compared)
  value    the elements differ (element counts shown when they differ), or
           a stream's metadata: last, first and max-deleted IDs, entries
           added, consumer groups, pending entries, consumer names
  expiry   the absolute expiries differ by more than --ttl-tolerance, or only
           one side has one
Keys under "redkit:" (redkit's own checkpoint keys) and keys already expired
when read are left out.

Values are compared through digests built element by element, so two big
collections compare in bounded memory; only one small record per key is
kept while the other side has not shown that key yet. A live server is read
with SCAN and, per key, TYPE, PEXPIRETIME (PTTL before Redis 7.0), then GET,
LRANGE, ZRANGE, SSCAN, HSCAN, XRANGE, XINFO, XPENDING or DUMP in pipelined
chunks of 1000: comparing a server that is being written to reports what
changed meanwhile. A set or hash whose SSCAN/HSCAN count disagrees with SCARD
or HLEN is read again (up to 3 times).

--sample N compares a uniform random sample of N of A's keys, each looked up
in B (directly on a server; a dump is read through); extra keys are then not
looked for.

Output: the summary counts are always complete; --max-report limits the
differences listed (the first by database and key). text shows keys Go-quoted;
json is one object whose keys that are not valid UTF-8 are "key_base64".

Passwords come from --a-password-file and --b-password-file, else
REDKIT_A_PASSWORD and REDKIT_B_PASSWORD, else the URLs, else
REDISCLI_AUTH; they are never printed. --tls-* apply to both
sides' rediss:// URLs. The progress (keys read on both sides, out of a total
when one is known: a server's key count from INFO keyspace, or DBSIZE of each
master of a cluster; a dump's RESIZEDB count before its first key) is drawn
on stderr only when it is a terminal, --quiet is not set and --log-format is
text.

` + passwordRule + `

` + exitCodesHelp + `
   Here, as diff(1) and cmp(1): 0 means A and B are identical, 1 that
   differences were found (they are reported), 2 trouble: a bad flag or
   argument, an input that could not be read (the error names the file and
   offset), a server that could not be reached or read (named by its URL
   without its password). 130 when interrupted.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "text", EnvVars: []string{"REDKIT_FORMAT"}, Usage: "output `FORMAT`: text or json"},
			&cli.IntFlag{Name: "max-report", Value: 100, EnvVars: []string{"REDKIT_MAX_REPORT"}, Usage: "list at most `N` differences (counts stay complete; 0: none)"},
			&cli.IntFlag{Name: "sample", EnvVars: []string{"REDKIT_SAMPLE"}, Usage: "compare only `N` random keys of A, looked up in B"},
			&cli.DurationFlag{Name: "ttl-tolerance", Value: time.Second, EnvVars: []string{"REDKIT_TTL_TOLERANCE"}, Usage: "expiries closer than `DURATION` are equal"},
			&cli.IntSliceFlag{Name: "db", Usage: "only database `N` (repeatable)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"REDKIT_QUIET"}, Usage: "no progress"},
			logFormatFlag(),
			&cli.StringFlag{Name: "a-password-file", Usage: "read A's password from the first line of `FILE` (see the password order below)"},
			&cli.StringFlag{Name: "b-password-file", Usage: "read B's password from the first line of `FILE` (see the password order below)"},
		}, tlsFlags()...),
		Action: func(c *cli.Context) error {
			if err := checkLogFormat(c, "compare"); err != nil {
				return err
			}
			opts := compareOptions{
				format: c.String("format"), maxReport: c.Int("max-report"), sample: c.Int("sample"),
				ttlTolerance: c.Duration("ttl-tolerance"), dbs: c.IntSlice("db"), quiet: c.Bool("quiet"),
				tls: tlsFromFlags(c), passwordFile: [2]string{c.String("a-password-file"), c.String("b-password-file")},
			}
			return compareExit(runCompare(c.Context, gopts, opts, c.Args().Slice()))
		},
	}
}

func (o *compareOptions) validate(args []string) error {
	switch {
	case len(args) != 2:
		return usageErrorf("compare: want two inputs, A and B (got %d)", len(args))
	case args[0] == "-" && args[1] == "-":
		return usageErrorf("compare: only one input can be standard input")
	case o.format != "text" && o.format != "json":
		return usageErrorf("compare: unknown --format %q: want text or json", o.format)
	case o.maxReport < 0:
		return usageErrorf("compare: --max-report must be 0 or more")
	case o.sample < 0:
		return usageErrorf("compare: --sample must be 0 or more")
	case o.ttlTolerance < 0:
		return usageErrorf("compare: --ttl-tolerance must not be negative")
	}
	for _, db := range o.dbs {
		if db < 0 || db > rdb.MaxDB {
			return usageErrorf("compare: --db %d: want a database number, 0 to %d", db, rdb.MaxDB)
		}
	}
	return nil
}

// compareSource opens one side, side 0 (A) or 1 (B): a live server or
// a dump.
// keys, when not nil, is given the number of keys the side holds when it
// is known (a server's, once connected; a dump's from its header).
func compareSource(gopts globalOptions, opts compareOptions, side int, arg string, keys func(int64)) (compare.Source, error) {
	name := [2]string{"a", "b"}[side]
	if isServerURL(arg) {
		ep, err := rsync.ParseURL(arg)
		if err != nil {
			return nil, &codedError{code: exitUsage, err: fmt.Errorf("compare: %s: %w", strings.ToUpper(name), err)}
		}
		pw, err := passwordFor(ep, opts.passwordFile[side], "REDKIT_"+strings.ToUpper(name)+"_PASSWORD")
		if err != nil {
			return nil, usageErrorf("compare: --%s-password-file: %v", name, err)
		}
		if pw != "" {
			ep.SetPassword(pw)
		}
		lo := compare.LiveOptions{DBs: opts.dbs, Conn: rsync.Options{Name: "redkit-compare"}, Keys: keys}
		if ep.TLS {
			cfg, err := opts.tls.Config()
			if err != nil {
				return nil, usageErrorf("compare: %v", withAdvice(err))
			}
			lo.Conn.TLS = cfg
		}
		if ep.DBSet && len(opts.dbs) > 0 {
			return nil, usageErrorf("compare: %s names a database: --db does not apply to it", ep)
		}
		return compare.NewLiveSource(ep, lo), nil
	}
	if opts.passwordFile[side] != "" {
		return nil, usageErrorf("compare: --%s-password-file goes with a server's URL, and %s is a file", name, strings.ToUpper(name))
	}
	if keys != nil {
		if n, ok := dumpHeaderKeys(arg, opts.dbs); ok {
			keys(n)
		}
	}
	do := compare.DumpOptions{DBs: opts.dbs, Now: func() int64 { return time.Now().UnixMilli() }}
	return compare.NewDumpSource(arg, func(fn func(*rdb.KeyValue) error) error {
		return eachDumpKey(arg, gopts.stdin, fn)
	}, do), nil
}

// eachDumpKey calls fn for every key of a dump as convert reads it: an
// RDB streams, JSON too, an AOF is replayed into memory first.
func eachDumpKey(path string, stdin io.Reader, fn func(*rdb.KeyValue) error) error {
	ctx := context.Background()
	src, _, closeInput, err := openInput(ctx, stdin, "compare", path, nil)
	if err != nil {
		return err
	}
	defer closeInput()
	if as, ok := src.(*pipeline.AOFSource); ok && as.Commands() {
		ks, err := pipeline.ReplayKeyspace(ctx, as, 0)
		if err != nil {
			return err
		}
		return ks.Keys(fn)
	}
	for {
		it, err := src.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case it.Key != nil:
			if err := fn(it.Key); err != nil {
				return err
			}
		case it.Command != nil:
			return fmt.Errorf("AOF commands follow the RDB part (an AOF with an RDB preamble): compare a dump of the replayed data instead ('redkit convert --to rdb --replay')")
		}
	}
}

// Exit codes of compare, as diff(1) and cmp(1).
const (
	exitDifferent = 1 // differences found
	exitTrouble   = 2 // the comparison could not be made
)

// compareExit gives every failure of compare exit code 2 (trouble): only
// differences exit 1.
func compareExit(err error) error {
	var ce *codedError
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &ce):
		// A reported error's code was chosen: exitDifferent is that one.
		if ce.code == exitError && !ce.reported {
			ce.code = exitTrouble
		}
		return err
	}
	return &codedError{code: exitTrouble, err: err}
}

func runCompare(ctx context.Context, gopts globalOptions, opts compareOptions, args []string) error {
	if err := opts.validate(args); err != nil {
		return err
	}
	// compare keeps a record per key that one side has shown and the
	// other not yet: a live heap that grows with the key count.
	liftMemoryLimit()
	l := newCmdLog(gopts)
	var counter atomic.Int64
	var totals [2]atomic.Int64 // -1 unknown
	totals[0].Store(-1)
	totals[1].Store(-1)
	var total func() int64
	if opts.sample == 0 {
		total = func() int64 {
			a, b := totals[0].Load(), totals[1].Load()
			if a < 0 || b < 0 {
				return -1
			}
			return a + b
		}
	}
	sources := [2]compare.Source{}
	for side := range sources {
		var err error
		sources[side], err = compareSource(gopts, opts, side, args[side], func(n int64) { totals[side].Store(n) })
		if err != nil {
			return err
		}
	}
	a, b := sources[0], sources[1]
	stop := startKeyProgress(gopts.stderr, opts.quiet || l.isJSON(), &counter, total)
	maxReport := opts.maxReport
	if maxReport == 0 {
		maxReport = -1
	}
	res, err := compare.Compare(ctx, a, b, compare.Options{
		TTLTolerance: opts.ttlTolerance, MaxReport: maxReport, Sample: opts.sample, Progress: &counter,
	})
	stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		kind, hint := describeError(err)
		if kind == "unreadable" || kind == "error" {
			hint = ""
		}
		if hint != "" {
			hint = "the input is " + kindPhrase(kind) + ": " + hint
		} else {
			hint = compareHint(err)
		}
		var attrs []any
		if kind != "error" {
			attrs = append(attrs, "kind", kind)
		}
		var pe *rdb.ParseError
		if errors.As(err, &pe) {
			attrs = append(attrs, "offset", pe.Offset)
		}
		l.error("compare: "+withAdvice(err).Error(), hint, attrs...)
		return reportedError(exitTrouble, err)
	}
	w := bufio.NewWriter(gopts.stdout)
	if opts.format == "json" {
		err = writeCompareJSON(w, a, b, res)
	} else {
		writeCompareText(w, a, b, res)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return &codedError{code: exitTrouble, err: fmt.Errorf("compare: write report: %w", err)}
	}
	if !res.Identical() {
		return reportedError(exitDifferent, fmt.Errorf("%d differences", res.Differences()))
	}
	return nil
}

// compareHint is connectHint in compare's flags: it has no --timeout,
// and its passwords come from --a-password-file and --b-password-file.
func compareHint(err error) string {
	var ne net.Error
	switch {
	case rsync.ErrorCode(err) == "NOAUTH":
		return "the server needs a password: put it in the URL, REDKIT_A_PASSWORD or REDKIT_B_PASSWORD, or --a-password-file or --b-password-file"
	case errors.As(err, new(*rsync.StallError)), errors.As(err, &ne) && ne.Timeout():
		return "no answer in time: check that the address is reachable (firewall, TLS port)"
	}
	return connectHint(err)
}

// dumpHeaderKeys reads a dump file's header, up to its first key, for
// the key counts of the RESIZEDB records there (of the databases dbs
// lists, all when empty): the whole count of a dump of one database, the
// first database's of others. ok is false when there is none (not an
// RDB, standard input, an RDB before version 7, or no RESIZEDB).
func dumpHeaderKeys(path string, dbs []int) (n int64, ok bool) {
	if path == "-" {
		return 0, false
	}
	in, err := dumpfile.OpenArg(context.Background(), path, nil)
	if err != nil {
		return 0, false
	}
	defer in.Close()
	rd := rdb.NewReader(in)
	for range 10000 {
		rec, err := rd.Next()
		if err != nil || rec.Kind == rdb.KindKey {
			break
		}
		if rec.Kind == rdb.KindResizeDB && (len(dbs) == 0 || slices.Contains(dbs, rec.DB)) {
			n += int64(rec.DBSize)
			ok = true
		}
	}
	return n, ok
}

// startKeyProgress draws the number of keys read on a terminal's stderr,
// out of total() when that is not -1. A total passed (a dump of several
// databases, whose header counts only the first; keys written to a
// server meanwhile) turns the bar into a count again.
func startKeyProgress(stderr io.Writer, quiet bool, n *atomic.Int64, total func() int64) (stop func()) {
	if quiet || !onTerminal(stderr) {
		return func() {}
	}
	return drawKeyProgress(stderr, n, total, 200*time.Millisecond)
}

// keyProgressText is compare's bar text: the keys read, of the total
// when known, the rate once samples span a second, and the time left.
func keyProgressText(done, total int64, rate float64) string {
	return keysText("compare", done, total, "", rate)
}

// diffDetail says how the two sides of a difference differ.
func diffDetail(d compare.Diff) string {
	switch d.Kind {
	case compare.Missing:
		return "in A, not in B (" + d.A.Type.String() + ")"
	case compare.Extra:
		return "in B, not in A (" + d.B.Type.String() + ")"
	case compare.TypeDiff:
		return d.A.Type.String() + " in A, " + d.B.Type.String() + " in B"
	case compare.ValueDiff:
		unit := "elements"
		if d.A.Type == rdb.TypeStream {
			unit = "entries"
		}
		switch {
		case d.A.Count != d.B.Count:
			return fmt.Sprintf("%s: %d %s in A, %d in B", d.A.Type, d.A.Count, unit, d.B.Count)
		case d.A.Digest == d.B.Digest:
			return "stream: metadata (IDs, groups, pending entries or consumers) differs"
		default:
			return fmt.Sprintf("%s: %d %s on both sides, contents differ", d.A.Type, d.A.Count, unit)
		}
	case compare.ExpiryDiff:
		return fmt.Sprintf("expires %s in A, %s in B%s", expiryText(d.A.ExpireAt), expiryText(d.B.ExpireAt), apart(d.A.ExpireAt, d.B.ExpireAt))
	}
	return ""
}

func expiryText(ms int64) string {
	if ms == rdb.NoExpiry {
		return "never"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

func apart(a, b int64) string {
	if a == rdb.NoExpiry || b == rdb.NoExpiry {
		return ""
	}
	return " (" + (time.Duration(b-a) * time.Millisecond).String() + ")"
}

func writeCompareText(w io.Writer, a, b compare.Source, res *compare.Result) {
	for _, d := range res.Diffs {
		fmt.Fprintf(w, "%-7s db %d %q: %s\n", d.Kind, d.DB, d.Key, diffDetail(d))
	}
	if len(res.Diffs) > 0 || res.Truncated {
		fmt.Fprintf(w, "\n")
	}
	if res.Truncated {
		fmt.Fprintf(w, "(%d of %d differences listed: --max-report)\n", len(res.Diffs), res.Differences())
	}
	fmt.Fprintf(w, "A: %s: %d keys", a.Name(), res.KeysA)
	if res.Sampled {
		fmt.Fprintf(w, " sampled of %d", res.Population)
	}
	fmt.Fprintf(w, "\nB: %s: %d keys", b.Name(), res.KeysB)
	if res.Sampled {
		fmt.Fprintf(w, " looked up")
	}
	fmt.Fprintf(w, "\n")
	verdict := "identical"
	if !res.Identical() {
		verdict = fmt.Sprintf("%d differences", res.Differences())
	}
	fmt.Fprintf(w, "%s: %d keys equal, missing %d, extra %d, type %d, value %d, expiry %d\n", verdict, res.Same,
		res.Counts[compare.Missing], res.Counts[compare.Extra], res.Counts[compare.TypeDiff], res.Counts[compare.ValueDiff], res.Counts[compare.ExpiryDiff])
}

type compareSideJSON struct {
	Name string `json:"name"`
	Keys int64  `json:"keys"`
}

type compareKeyJSON struct {
	Type       string `json:"type"`
	Elements   int64  `json:"elements"`
	ExpireAtMs *int64 `json:"expire_at_ms"`
}

type compareDiffJSON struct {
	Kind      string          `json:"kind"`
	DB        int             `json:"db"`
	Key       string          `json:"key,omitempty"`
	KeyBase64 string          `json:"key_base64,omitempty"`
	A         *compareKeyJSON `json:"a,omitempty"`
	B         *compareKeyJSON `json:"b,omitempty"`
	Detail    string          `json:"detail"`
}

type compareJSON struct {
	Identical   bool              `json:"identical"`
	A           compareSideJSON   `json:"a"`
	B           compareSideJSON   `json:"b"`
	Sampled     bool              `json:"sampled"`
	Population  int64             `json:"population,omitempty"`
	Equal       int64             `json:"equal"`
	Counts      map[string]int64  `json:"counts"`
	Differences []compareDiffJSON `json:"differences"`
	Truncated   bool              `json:"truncated"`
}

func compareKeyOf(e *compare.Entry) *compareKeyJSON {
	if e == nil {
		return nil
	}
	k := &compareKeyJSON{Type: e.Type.String(), Elements: e.Count}
	if e.ExpireAt != rdb.NoExpiry {
		at := e.ExpireAt
		k.ExpireAtMs = &at
	}
	return k
}

func writeCompareJSON(w io.Writer, a, b compare.Source, res *compare.Result) error {
	out := compareJSON{
		Identical: res.Identical(),
		A:         compareSideJSON{a.Name(), res.KeysA}, B: compareSideJSON{b.Name(), res.KeysB},
		Sampled: res.Sampled, Population: res.Population, Equal: res.Same,
		Counts:      map[string]int64{},
		Differences: []compareDiffJSON{}, Truncated: res.Truncated,
	}
	for _, k := range []compare.Kind{compare.Missing, compare.Extra, compare.TypeDiff, compare.ValueDiff, compare.ExpiryDiff} {
		out.Counts[k.String()] = res.Counts[k]
	}
	for _, d := range res.Diffs {
		dj := compareDiffJSON{Kind: d.Kind.String(), DB: d.DB, A: compareKeyOf(d.A), B: compareKeyOf(d.B), Detail: diffDetail(d)}
		if utf8.ValidString(d.Key) {
			dj.Key = d.Key
		} else {
			dj.KeyBase64 = base64.StdEncoding.EncodeToString([]byte(d.Key))
		}
		out.Differences = append(out.Differences, dj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// drawKeyProgress draws compare's bar on w whatever w is, redrawn every
// tick.
func drawKeyProgress(w io.Writer, n *atomic.Int64, total func() int64, tick time.Duration) (stop func()) {
	return drawKeyBar(w, "compare: keys read", tick, n.Load, total, keyProgressText)
}
