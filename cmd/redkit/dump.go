package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/internal/countio"
	rsync "github.com/redkit/redkit/sync"
)

func newDumpCommand(gopts globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "dump",
		Usage:     "take a live server's snapshot into an RDB file, as a replica (or key by key where replication is refused)",
		ArgsUsage: " ",
		UsageText: `redkit dump --from URL -o FILE [--source-mode MODE] [--max-dump SIZE] [--format json] [--log-format json]

examples:
   redkit dump --from redis://10.0.0.5:6379 -o dump.rdb
   REDKIT_FROM_PASSWORD=s3cret redkit dump --from redis://default@cache:6379 -o - | zstd > dump.rdb.zst
   redkit dump --from redis+sentinel://s1:26379/mymaster -o /var/backups/redis.rdb
   redkit dump --from redis://cache:6379 -o /var/backups/cache.rdb --format json --log-format json >> /var/log/dumps.jsonl
   redkit dump --from rediss://user@managed.example.com:6379 -o cache.rdb --source-mode scan`,
		Description: `Connects to the server as a replica (REPLCONF rdb-only, PSYNC, as
redis-cli --rdb does: nothing of the server's disk is needed) and writes
the snapshot it sends to FILE, checking it on the way (the whole RDB is
parsed, its CRC64 included, and its keys counted per database). FILE is
written under a temporary name beside it and renamed into place only
once complete and valid; "-" writes to standard output. A progress bar
shows on a terminal. A cluster node gives only its own slots' keys: use
redkit backup for a whole cluster.

Where the server refuses replication (PSYNC and SYNC unknown or renamed,
as on managed services; an ACL user without +psync +sync, NOPERM; a
proxy's error), --source-mode auto (the default) says so in one line and
reads the keys instead: SCAN of each database, DUMP and PEXPIRETIME of
each key (PTTL before Redis 7.0: expiries then exact to some
milliseconds only), FUNCTION DUMP for the functions. The file holds each
value as the server encodes it, in the server's RDB version, but its
consistency is per key: each key as of when it was read; keys written
during the dump may be missing or newer than the others. A replication
snapshot is of one moment. --source-mode replication never reads keys
(it fails where replication is refused); --source-mode scan always does.

Read key by key, a string, list, set, sorted set, hash or stream bigger
than --max-dump (MEMORY USAGE; where that is refused, more than SIZE/64
elements) is read in chunks instead of by one DUMP, so that no command
holds the server for more than a moment: GETRANGE, HSCAN, SSCAN, ZRANGE
and LRANGE by windows, XRANGE, XPENDING for a stream's consumer groups. Its elements
go through a temporary file (TMPDIR), and memory stays bounded whatever
the key's size (16 bytes a member, to drop the repeats HSCAN and SSCAN
may give). Such a key is a mix of its states while it was read, if it is
written meanwhile. The summary says how many keys were read in chunks.

A one-line summary (RDB version, size, keys per database, seconds)
follows on stderr unless --quiet. --format json writes it instead as one
JSON object on standard output, for scripts:
  {"from":URL,"output":FILE,"source_mode":"replication","rdb_version":10,
   "bytes":N,"keys":N,"databases":[{"db":0,"keys":N}],"seconds":S}
where source_mode is "replication" or "scan" (read key by key; then
"chunked_keys":N counts the keys read in chunks).
which needs -o FILE, since "-o -" puts the RDB there. --log-format json
makes everything on stderr a JSON line, the summary included (its
message "dump done", the same fields).

A server with repl-diskless-sync yes waits repl-diskless-sync-delay
seconds (5 by default) before it sends the snapshot, for more replicas to
join: the log says so after a second.

The password can come from REDKIT_FROM_PASSWORD or --from-password-file
instead of the URL, to keep it off the command line.

` + passwordRule + `

` + exitCodesHelp,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "from", EnvVars: []string{"REDKIT_FROM_URL"}, Usage: "the server's `URL`: redis://, rediss:// or redis+sentinel://"},
			&cli.StringFlag{Name: "from-password-file", Usage: "read the server's password from `FILE` (REDKIT_FROM_PASSWORD also works); the URL's bare userinfo (redis://USER@host) is then the user"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the RDB to `FILE`, renamed into place once complete and valid (- for standard output)"},
			&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: timeoutUsage},
			&cli.StringFlag{Name: "source-mode", Value: "auto", EnvVars: []string{"REDKIT_SOURCE_MODE"}, Usage: "how to read the server, `MODE`: auto (as a replica, or key by key where replication is refused), replication or scan (key by key)"},
			maxDumpFlag(),
			&cli.StringFlag{Name: "format", Value: "text", Usage: "summary `FORMAT`: text (a line on stderr) or json (one object on standard output; needs -o FILE)"},
			logFormatFlag(),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"REDKIT_QUIET"}, Usage: "no progress bar and no summary on stderr (warnings and errors only)"},
		}, tlsFlags()...),
		Action: func(c *cli.Context) error {
			opts := dumpOptions{from: c.String("from"), fromPasswordFile: c.String("from-password-file"), output: c.String("output"),
				timeout: c.Duration("timeout"), quiet: c.Bool("quiet"), tls: tlsFromFlags(c), format: c.String("format"),
				sourceMode: c.String("source-mode"), maxDump: c.String("max-dump")}
			return runDump(c.Context, gopts, opts, c.Args().Slice())
		},
	}
}

// dumpOptions are dump's flags.
type dumpOptions struct {
	from, fromPasswordFile string
	output                 string // a file, or - for standard output
	timeout                time.Duration
	quiet                  bool
	tls                    rsync.TLSOptions
	format                 string // of the summary: text or json
	sourceMode             string // auto, replication or scan
	maxDump                string // a size: collections above it are read in chunks
}

// dumpSummary is dump's summary, as --format json writes it.
type dumpSummary struct {
	From       string       `json:"from"`
	Output     string       `json:"output"`
	SourceMode string       `json:"source_mode"` // replication or scan
	RDBVersion int          `json:"rdb_version"`
	Bytes      int64        `json:"bytes"`
	Keys       int64        `json:"keys"`
	Databases  []dbKeyCount `json:"databases"`
	Seconds    float64      `json:"seconds"`
	// Chunked counts the keys read in chunks (scan only).
	Chunked *int64 `json:"chunked_keys,omitempty"`
}

// dbKeyCount is the number of keys of one database.
type dbKeyCount struct {
	DB   int   `json:"db"`
	Keys int64 `json:"keys"`
}

func runDump(ctx context.Context, gopts globalOptions, opts dumpOptions, args []string) error {
	if len(args) > 0 {
		return usageErrorf("dump: unexpected argument %q: the server is --from, the file -o", args[0])
	}
	from, out := opts.from, opts.output
	if from == "" || out == "" {
		return usageErrorf("dump: --from URL and -o FILE are both needed")
	}
	if err := summaryFormatOK("dump", opts.format, out); err != nil {
		return err
	}
	switch opts.sourceMode {
	case "":
		opts.sourceMode = "auto"
	case "auto", "replication", "scan":
	default:
		return usageErrorf("dump: --source-mode %q: want auto, replication or scan", opts.sourceMode)
	}
	maxDump, err := parseMaxDump("dump", opts.maxDump)
	if err != nil {
		return err
	}
	log := newLogger(gopts.stderr, gopts.logFormat, opts.quiet)
	ep, copts, err := endpointOptions("dump", "from", from, opts.fromPasswordFile, "REDKIT_FROM_PASSWORD", opts.tls, opts.timeout)
	if err != nil {
		return err
	}
	addr, info, err := rsync.Resolve(ctx, ep, &copts, rsync.ConnectRetryFor, nil)
	if err != nil {
		return liveConnectError(gopts, "dump", ep.String(), err)
	}
	if info.Cluster {
		say(gopts, log, slog.LevelWarn, fmt.Sprintf("dump: %s is a cluster node: the snapshot holds its own slots' keys only (redkit backup takes every master's)", ep))
	}
	start := time.Now()
	if opts.sourceMode == "scan" {
		return scanDump(ctx, gopts, log, opts, ep, addr, copts, start, maxDump)
	}
	ro := rsync.ReplicaOptions{Conn: copts, RDBOnly: true, Timeout: linkTimeoutOf(opts.timeout)}
	if !opts.quiet {
		ro.OnSnapshotWait = snapshotWaitNote(ctx, copts, func(msg string, attrs ...any) { say(gopts, log, slog.LevelInfo, "dump: "+msg, attrs...) })
	}
	l, err := rsync.OpenLink(ctx, addr, ro)
	if err != nil && rsync.ReplicationRefused(err) && ctx.Err() == nil {
		if opts.sourceMode == "replication" {
			return fmt.Errorf("dump: %s refuses replication: %w (--source-mode scan reads its keys instead, each as of when it is read)", ep, err)
		}
		say(gopts, log, slog.LevelWarn, fmt.Sprintf("dump: %s refuses replication (%s): reading its keys instead, each as of when it is read (per-key consistency)",
			ep, rsync.Redact(err.Error())), "from", ep.String(), "reason", rsync.Redact(err.Error()))
		return scanDump(ctx, gopts, log, opts, ep, addr, copts, start, maxDump)
	}
	if err != nil {
		return liveConnectError(gopts, "dump", ep.String(), err)
	}
	defer l.Close()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	snap, err := l.Snapshot()
	if err != nil {
		return fmt.Errorf("dump: snapshot of %s: %w", ep, err)
	}

	o, err := openOutput(out, gopts.stdout)
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	defer o.abort()
	var n atomic.Int64
	bar := startProgress(gopts.stderr, opts.quiet || gopts.logFormat == "json", "dump", l.SnapshotSize())
	bar.count(n.Load)
	keys, version, _, err := backup.CopySnapshot(backup.SourceReader(snap, "the snapshot"), o, writeWhat(out), false, &n)
	bar.stop()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("dump: %w", ctx.Err())
		}
		if out != "-" {
			return failed(gopts, exitError, err, fmt.Sprintf("dump: %s: %v: %s was not written", ep, rsync.Redact(err.Error()), out), "")
		}
		return fmt.Errorf("dump: %s: %w", ep, err)
	}
	if err := o.commit(); err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	return dumpDone(gopts, log, opts, dumpSummary{From: ep.String(), Output: out, SourceMode: "replication", RDBVersion: version, Bytes: n.Load(), Keys: sumKeys(keys),
		Seconds: math.Round(time.Since(start).Seconds()*1000) / 1000}, keys)
}

// dumpDone writes dump's summary.
func dumpDone(gopts globalOptions, log *slog.Logger, opts dumpOptions, sum dumpSummary, keys map[int]int64) error {
	out := opts.output
	sum.Databases = []dbKeyCount{}
	var dbs []string
	for _, db := range sortedKeys(keys) {
		sum.Databases = append(sum.Databases, dbKeyCount{db, keys[db]})
		dbs = append(dbs, fmt.Sprintf("db%d=%d", db, keys[db]))
	}
	if opts.format == "json" {
		return writeJSON(gopts.stdout, sum)
	}
	if !opts.quiet {
		how := "" // a replication snapshot, as it always was
		if sum.SourceMode == "scan" {
			how = "read key by key, "
			if sum.Chunked != nil && *sum.Chunked > 0 {
				how = fmt.Sprintf("read key by key (%d big in chunks), ", *sum.Chunked)
			}
		}
		say(gopts, log, slog.LevelInfo, fmt.Sprintf("dump: %s -> %s: %sRDB %d, %s, %d keys (%s) in %.1fs", sum.From, out, how, sum.RDBVersion, bytesize.Format(sum.Bytes),
			sum.Keys, strings.Join(dbs, " "), sum.Seconds), append([]any{"from", sum.From, "output", sum.Output, "source_mode", sum.SourceMode, "rdb_version", sum.RDBVersion,
			"bytes", sum.Bytes, "keys", sum.Keys, "databases", sum.Databases, "seconds", sum.Seconds}, chunkedAttr(sum)...)...)
	}
	return nil
}

// chunkedAttr is the log attribute of the keys read in chunks, if any.
func chunkedAttr(sum dumpSummary) []any {
	if sum.Chunked == nil {
		return nil
	}
	return []any{"chunked_keys", *sum.Chunked}
}

// scanDump reads the server key by key (rsync.ScanDump) into the output.
func scanDump(ctx context.Context, gopts globalOptions, log *slog.Logger, opts dumpOptions, ep *rsync.Endpoint, addr string, copts rsync.Options, start time.Time, maxDump int64) error {
	out := opts.output
	o, err := openOutput(out, gopts.stdout)
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	defer o.abort()
	cw := &countio.Writer{W: o, N: new(atomic.Int64)}
	var keys, expected atomic.Int64
	expected.Store(-1)
	stopBar := startScanProgress(gopts.stderr, opts.quiet || gopts.logFormat == "json", &keys, cw.N, &expected)
	st, err := rsync.ScanDump(ctx, addr, &copts, cw, rsync.ScanOptions{
		MemoryHint: reserveMemory, // the scan's table of keys
		MaxDump:    maxDump,
		Progress:   func(k, _ int64) { keys.Store(k) },
		Counted:    func(n int64) { expected.Store(n) },
	})
	stopBar()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("dump: %w", ctx.Err())
		}
		if out != "-" {
			return failed(gopts, exitError, err, fmt.Sprintf("dump: %s: reading keys: %v: %s was not written", ep, rsync.Redact(err.Error()), out), "")
		}
		return fmt.Errorf("dump: %s: reading keys: %w", ep, err)
	}
	if err := o.commit(); err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	if st.FunctionsSkipped != "" {
		say(gopts, log, slog.LevelWarn, fmt.Sprintf("dump: %s: functions not read (%s)", ep, st.FunctionsSkipped), "reason", st.FunctionsSkipped)
	}
	if st.Vanished > 0 {
		say(gopts, log, slog.LevelInfo, fmt.Sprintf("dump: %s: %d keys went (deleted or expired) between SCAN and DUMP", ep, st.Vanished), "vanished", st.Vanished)
	}
	if st.SizesByCount {
		say(gopts, log, slog.LevelInfo, fmt.Sprintf("dump: %s refuses MEMORY USAGE: collections of more than %d elements were read in chunks", ep, maxDump/64))
	}
	if st.BigDumped > 0 {
		say(gopts, log, slog.LevelInfo, fmt.Sprintf("dump: %s: %d keys above --max-dump %s were read by one DUMP all the same (module values, streams with over 100,000 pending entries, hashes of servers with field expiries)",
			ep, st.BigDumped, bytesize.Format(maxDump)), "big_dumped", st.BigDumped)
	}
	if st.RelativeTTL {
		say(gopts, log, slog.LevelWarn, fmt.Sprintf("dump: %s has no PEXPIRETIME (before Redis 7.0): expiries come from PTTL and may be some milliseconds early", ep))
	}
	return dumpDone(gopts, log, opts, dumpSummary{From: ep.String(), Output: out, SourceMode: "scan", RDBVersion: st.RDBVersion, Bytes: cw.N.Load(), Keys: st.Keys,
		Seconds: math.Round(time.Since(start).Seconds()*1000) / 1000, Chunked: &st.Chunked}, st.DBs)
}

// startScanProgress draws the keys read against the keys the server
// counts (expected, -1 until known) and the bytes written, on a
// terminal's stderr unless quiet.
func startScanProgress(stderr io.Writer, quiet bool, keys, bytes, expected *atomic.Int64) (stop func()) {
	if quiet || !onTerminal(stderr) {
		return func() {}
	}
	return drawScanProgress(stderr, keys, bytes, expected, 200*time.Millisecond)
}

// scanProgressText is the text of dump's bar when it reads key by key:
// the keys read, of the total when known, the bytes written, the rate
// once samples span a second, and the time left.
func scanProgressText(done, total, bytes int64, rate float64) string {
	return keysText("dump", done, total, bytesize.Format(bytes), rate)
}

// drawScanProgress draws dump's bar on w whatever w is, redrawn every
// tick.
func drawScanProgress(w io.Writer, keys, bytes, expected *atomic.Int64, tick time.Duration) (stop func()) {
	return drawKeyBar(w, "dump: keys read", tick, keys.Load, expected.Load, func(done, total int64, rate float64) string {
		return scanProgressText(done, total, bytes.Load(), rate)
	})
}

// summaryFormatOK checks a command's --format: json writes the summary
// on standard output, which must then not be the data (-o -).
func summaryFormatOK(cmd, format, output string) error {
	switch format {
	case "text":
		return nil
	case "json":
		if output == "" || output == "-" {
			return usageErrorf("%s: --format json writes the summary on standard output, which here carries the data: give -o FILE (or use --log-format json for the summary as a JSON line on stderr)", cmd)
		}
		return nil
	}
	return usageErrorf("%s: --format %q: want text or json", cmd, format)
}

// writeJSON writes v as one indented JSON object.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write the summary: %w", err)
	}
	return nil
}

// sortedKeys lists a key map's databases in order.
func sortedKeys(keys map[int]int64) []int {
	dbs := make([]int, 0, len(keys))
	for db := range keys {
		dbs = append(dbs, db)
	}
	slices.Sort(dbs)
	return dbs
}
