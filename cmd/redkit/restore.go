package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/redkit/redkit/pipeline"
	"github.com/redkit/redkit/rdb"
	rsync "github.com/redkit/redkit/sync"
)

type restoreOptions struct {
	to           string
	password     string // from --to-password-file, REDKIT_TO_PASSWORD or REDISCLI_AUTH (passwordFor); overrides the URL's
	tls          rsync.TLSOptions
	timeout      time.Duration
	depth        int
	flush, quiet bool
	format       string
	restore      rsync.RestoreOptions
	filter       *rdb.Filter
	dbMap        map[int]int
	now          int64
	replay       bool
	// From a backup.
	toFile        string
	verifyFirst   bool
	identityFiles []string       // --identity-file: an encrypted backup's age identities
	storage       storageOptions // s3:// access
	cut           backup.Cutoff  // --at or --at-offset: a continuous backup's point in time
}

func newRestoreCommand(gopts globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "write a dump, an AOF or JSON into a live Redis or Redis Cluster",
		ArgsUsage: "INPUT",
		UsageText: `redkit restore --to URL [--conflict error|replace|skip] [--mode auto|restore|commands] [--flush] [--db-map SRC=DST] [filters] INPUT
   redkit restore --to URL|--to-file FILE STORAGE_URL[/ID|@ID|@latest]
   redkit restore --to URL|--to-file FILE --at TIME|latest|--at-offset N STORAGE_URL[@GENERATION]

examples:
   redkit restore --to redis://127.0.0.1:6379 dump.rdb
   REDKIT_TO_PASSWORD=secret redkit restore --to redis://default@10.0.0.5:6379 --conflict replace dump.rdb.zst
   redkit restore --to redis://127.0.0.1:7000 --db 2 --db-map 2=0 dump.rdb     # into a cluster: db 2 goes to db 0
   redkit restore --to rediss://cache.example.com:6380 --tls-ca ca.pem --rate 20MB dump.rdb
   redkit restore --to redis+sentinel://s1:26379,s2:26379/mymaster /var/lib/redis/appendonlydir
   redis-cli -h source --rdb - | redkit restore --to redis://target:6379 --flush -
   redkit restore --check --to redis://new:6379 dump.rdb                       # can it work? nothing written
   redkit restore --to redis://127.0.0.1:6379 s3://backups/orders@latest       # a backup
   redkit restore --to redis://127.0.0.1:6379 --at 2026-11-25T17:00:00Z s3://backups/orders   # a continuous backup, to an instant
   redkit restore --to-file dump.rdb --at latest file:///var/backups/redis`,
		Description: `Reads INPUT as convert does (an RDB dump, any AOF form, redkit JSON or
JSONL, gzip or zstd, or - for stdin) and writes every key into the server
or cluster URL names, pipelined (--pipeline commands in flight per
connection, and at most 64 MiB of commands awaiting replies).

Each key goes as one RESTORE of its DUMP payload with its absolute expiry
(ABSTTL) and its LRU idle time or LFU counter: the exact value, as fast as
the server can load it. When the payload's RDB version is newer than the
target loads (read from INFO), or the value is bigger than --max-payload,
the key is written with the commands that build it instead (SET, RPUSH,
SADD, ZADD, HSET, XADD..., at most --batch elements each). --mode restore
or --mode commands forces one way. Keys from JSON or replayed AOFs are
encoded for the target's RDB version. A key whose commands fail after
some were applied is deleted again: it is left whole or absent. Hashes
with field expiries need HPEXPIREAT (Redis 7.4, Valkey 9.0): on an older
target they fail, each as its own key, and stay absent.

Keys whose expiry has already passed are left out and counted as
expired, as Redis drops them when it loads a dump (--expired include
sends them; the target drops them as they come, and they still count as
expired, not written).

--conflict says what to do with a key that already exists: error (the
default) stops at the first one and names it (the keys after it are not
tried), replace overwrites it (RESTORE ... REPLACE), skip leaves it and
counts it. Function libraries
go with FUNCTION RESTORE and the same policy. --flush empties the target
(FLUSHALL) first, and only then.

On a cluster target, keys go to their slot's master; MOVED, ASK and
failovers are followed. A cluster has only database 0: keys of other
databases are refused with an error unless --db and --db-map choose
what goes there. On a standalone target databases map through SELECT.

URL forms: redis://[user:password@]host:port[/db], rediss:// for TLS
(certificates verified unless --tls-insecure), and
redis+sentinel://[user:password@]host:port[,host:port...]/master-name.
The password can come from REDKIT_TO_PASSWORD or --to-password-file
instead, so that it is not on the command line. No password is ever
printed.

` + passwordRule + `

INPUT can be a backup (STORAGE_URL, a backup's id after / or @, or
@latest), read from the storage through its checksum; --to-file writes
its RDB to a file instead, and --verify-first checks it whole first.

Point-in-time restores (--at, --at-offset) read the continuous backups
of STORAGE_URL (backup --continuous): the newest base at or before the
instant, then its generation's segments in order up to the last command
received at or before it (received by redkit, to the millisecond), or up
to the last command ending at or before the replication offset. latest
is everything stored. A transaction (MULTI ... EXEC) is restored whole or
not at all. Every record's CRC-32C and every segment's SHA-256 are
checked on the way: a damaged or missing segment stops the restore after
the last good command before it, says which and where, and exits 1. An
instant before the oldest base, after the recovery point, after a gap
(segments deleted from the store), or between two generations that do
not meet (the source restarted empty) is refused with the range that
can be restored (backup list shows them). STORAGE_URL@GENERATION
restricts it to one generation. --to-file replays the commands into
memory (the whole data set is held) and writes one RDB, renamed into
place only once everything was replayed (an existing file is otherwise
left as it was).

The progress bar (stderr, only on a terminal and with --log-format text)
shows keys written, input bytes and the ETA. The summary gives keys
written, skipped, failed and expired, bytes, time and rate: on stderr
(with --log-format json, one JSON line), or with --format json on stdout.

` + exitCodesHelp + `
   Here 3 means the restore ran to the end but some keys failed (keys
   skipped by --conflict skip are not a problem: 0); 1 also covers a
   conflict under --conflict error.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "to", EnvVars: []string{"REDKIT_TO_URL"}, Usage: "target `URL`: redis://, rediss:// or redis+sentinel://"},
			&cli.StringFlag{Name: "to-password-file", Usage: "read the target's password from the first line of `FILE`; the URL's bare userinfo (redis://USER@host) is then the user"},
			&cli.StringFlag{Name: "conflict", Value: rsync.ConflictError, Usage: "existing keys: `POLICY` error, replace or skip"},
			&cli.StringFlag{Name: "mode", Value: rsync.ModeAuto, Usage: "`MODE`: auto (RESTORE when the target can load the payload), restore, or commands"},
			&cli.BoolFlag{Name: "flush", Usage: "empty the target (FLUSHALL) before writing"},
			&cli.IntFlag{Name: "pipeline", Value: 4096, Usage: "at most `N` commands in flight per connection (and at most 64 MiB of them)"},
			&cli.IntFlag{Name: "batch", Value: 512, Usage: "commands mode: at most `N` elements per command"},
			&cli.StringFlag{Name: "max-payload", Usage: "largest RESTORE payload `SIZE`, e.g. 256MB (unset: the target's proto-max-bulk-len less 64 KiB); bigger values go as commands"},
			&cli.StringFlag{Name: "rate", Usage: "limit to `N` keys/s (e.g. 5000) or bytes/s (e.g. 20MB)"},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "give up an operation (connecting, a reply to a command) after `DURATION` without progress"},
			&cli.StringSliceFlag{Name: "db-map", Usage: "`SRC=DST`: write the keys (and AOF commands) of the input's database SRC to the target's database DST; other databases keep their number, which a cluster refuses but for 0 (repeatable; --db filters by the input's numbers)"},
			&cli.BoolFlag{Name: "replay", Usage: "an AOF with an RDB preamble: replay its commands into the keys first (plain and multi-part AOFs always are)"},
			&cli.StringFlag{Name: "now", Usage: "resolve relative expiries in AOF commands without a #TS annotation against `TIME`"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "summary `FORMAT`: text (stderr) or json (stdout)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"REDKIT_QUIET"}, Usage: "no progress bar and no text summary"},
			logFormatFlag(),
			&cli.BoolFlag{Name: "check", Usage: "check whether the restore can work (versions, memory, modules, ACLs, slots, databases, biggest key, existing keys), write nothing, exit 0 if it can"},
			&cli.StringFlag{Name: "to-file", Usage: "a backup: write its RDB to `FILE` instead of a server (verified, written atomically)"},
			&cli.StringFlag{Name: "at", Usage: "a continuous backup: restore to `TIME` (RFC 3339 or Unix seconds: the last command received at or before it), or latest (everything stored)"},
			&cli.Int64Flag{Name: "at-offset", Usage: "a continuous backup: restore up to replication `OFFSET` (the last command ending at or before it)"},
			&cli.BoolFlag{Name: "verify-first", Usage: "a backup: download and verify it whole (SHA-256, RDB CRC64) before writing anything to the target"},
			identityFileFlag(),
		}, append(append(tlsFlags(), restoreFilterFlags()...), storageFlags()...)...),
		Action: func(c *cli.Context) error {
			if err := checkLogFormat(c, "restore"); err != nil {
				return err
			}
			if gopts.logFormat == "json" {
				// Every line on stderr a JSON line, those of the backup
				// restores (restore_backup.go, restore_at.go) included.
				jl := newJSONLines(gopts.stderr)
				defer jl.flush()
				gopts.stderr = jl
			}
			opts, err := restoreOptionsFromFlags(c, gopts)
			if err != nil {
				return err
			}
			if c.Bool("check") {
				if c.Args().Len() != 1 {
					return usageErrorf("restore --check: give one input")
				}
				if isStorageURL(c.Args().First()) {
					return usageErrorf("restore --check takes a dump file, not a backup yet: check the backup with redkit backup verify, and restore with --verify-first")
				}
				return restoreCheck(c.Context, gopts, opts, c.Args().First())
			}
			cut, pitr, err := parseCutoff(c)
			if err != nil {
				return err
			}
			if c.Args().Len() == 1 && isStorageURL(c.Args().First()) {
				if pitr {
					opts.cut = cut
					return runRestoreAt(c.Context, gopts, opts, c.Args().Slice())
				}
				return runRestoreBackup(c.Context, gopts, opts, c.Args().Slice())
			}
			if pitr {
				return usageErrorf("restore: --at and --at-offset go with a continuous backup (STORAGE_URL or STORAGE_URL@GENERATION)")
			}
			return runRestore(c.Context, gopts, opts, c.Args().Slice())
		},
	}
}

func restoreOptionsFromFlags(c *cli.Context, gopts globalOptions) (restoreOptions, error) {
	var opts restoreOptions
	f, err := filterFromFlags(c, gopts.now)
	if err != nil {
		return opts, err
	}
	if f.NeedsStats() { // restoreFilterFlags has no --min-size
		return opts, usageErrorf("restore: --min-size is not supported")
	}
	if opts.dbMap, err = parseDBMap(c.StringSlice("db-map")); err != nil {
		return opts, err
	}
	if v := c.String("now"); v != "" {
		t, ok := parseTime(v)
		if !ok {
			return opts, usageErrorf("restore: --now %q: want positive Unix seconds or an RFC 3339 time", v)
		}
		opts.now = t.UnixMilli()
	}
	opts.to = c.String("to")
	opts.toFile, opts.verifyFirst = c.String("to-file"), c.Bool("verify-first")
	opts.identityFiles, opts.storage = c.StringSlice("identity-file"), storageOptionsFromFlags(c)
	fromStorage := c.Args().Len() == 1 && isStorageURL(c.Args().First())
	switch {
	case opts.toFile != "" && !fromStorage:
		return opts, usageErrorf("restore: --to-file goes with a backup (STORAGE_URL[/ID|@latest]); to convert a file, use redkit convert")
	case opts.toFile != "" && opts.to != "":
		return opts, usageErrorf("restore: --to and --to-file: choose one")
	case opts.verifyFirst && !fromStorage:
		return opts, usageErrorf("restore: --verify-first goes with a backup (STORAGE_URL[/ID|@latest])")
	case opts.to == "" && opts.toFile == "":
		return opts, usageErrorf("restore: --to URL is required, e.g. --to redis://127.0.0.1:6379")
	}
	if opts.to != "" {
		ep, err := rsync.ParseURL(opts.to)
		if err != nil {
			return opts, usageErrorf("restore: --to: %v", err)
		}
		if opts.password, err = passwordFor(ep, c.String("to-password-file"), "REDKIT_TO_PASSWORD"); err != nil {
			return opts, usageErrorf("restore: %v", err)
		}
	}
	opts.tls = tlsFromFlags(c)
	opts.timeout = c.Duration("timeout")
	opts.depth = c.Int("pipeline")
	if opts.depth < 1 {
		return opts, usageErrorf("restore: --pipeline must be at least 1")
	}
	opts.flush, opts.quiet, opts.replay = c.Bool("flush"), c.Bool("quiet"), c.Bool("replay")
	opts.format = c.String("format")
	if opts.format != "text" && opts.format != "json" {
		return opts, usageErrorf("restore: --format %q: want text or json", opts.format)
	}
	opts.filter = f
	ro := rsync.RestoreOptions{Mode: c.String("mode"), Conflict: c.String("conflict"), Batch: c.Int("batch")}
	switch ro.Mode {
	case rsync.ModeAuto, rsync.ModeRestore, rsync.ModeCommands:
	default:
		return opts, usageErrorf("restore: --mode %q: want auto, restore or commands", ro.Mode)
	}
	switch ro.Conflict {
	case rsync.ConflictError, rsync.ConflictReplace, rsync.ConflictSkip:
	default:
		return opts, usageErrorf("restore: --conflict %q: want error, replace or skip", ro.Conflict)
	}
	if ro.Batch < 1 {
		return opts, usageErrorf("restore: --batch must be at least 1")
	}
	if v := c.String("max-payload"); v != "" {
		n, err := parseSize(v)
		if err != nil || n < 1024 {
			return opts, usageErrorf("restore: --max-payload %q: want a size of at least 1KB, e.g. 256MB", v)
		}
		ro.MaxPayload = n
	}
	if v := c.String("rate"); v != "" {
		keys, bytes, err := parseRate(v)
		if err != nil {
			return opts, usageErrorf("restore: --rate %q: %v", v, err)
		}
		ro.KeysPerSecond, ro.BytesPerSecond = keys, bytes
	}
	// Expired keys are left out by the Restorer rather than the filter, so
	// that they are counted, and AOF commands still pass.
	if f.Expired == rdb.ExpiredExclude {
		f.Expired, ro.DropExpired = rdb.ExpiredInclude, true
	}
	ro.Now = gopts.now
	opts.restore = ro
	return opts, nil
}

// parseRate reads "5000" or "5000/s" (keys per second) or a size such as
// "20MB" or "20MB/s" (bytes per second).
func parseRate(s string) (keys, bytes float64, err error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "/s")
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n <= 0 {
			return 0, 0, errors.New("want a positive rate")
		}
		return n, 0, nil
	}
	n, err := parseSize(s)
	if err != nil || n <= 0 {
		return 0, 0, errors.New("want keys per second (5000) or bytes per second (20MB)")
	}
	return 0, float64(n), nil
}

// connectTarget resolves the URL (Sentinel included), connects once to
// read the server's facts, and opens a Writer.
func connectTarget(ctx context.Context, rawURL, password string, tlsOpts rsync.TLSOptions, timeout time.Duration, depth int, log func(string, ...any)) (*rsync.Endpoint, *rsync.ServerInfo, rsync.Writer, error) {
	t, err := resolveTarget(ctx, rawURL, password, tlsOpts, timeout, log)
	if err != nil {
		return nil, nil, nil, err
	}
	w, err := t.NewWriter(ctx, rsync.WriterOptions{Depth: depth, Log: log})
	if err != nil {
		return nil, nil, nil, err
	}
	return t.Endpoint, t.Info, w, nil
}

// resolveTarget parses the URL and its options and resolves the target
// (rsync.ResolveTarget, waiting for a server that is loading); a bad URL
// or a cluster's database other than 0 is a usage error.
func resolveTarget(ctx context.Context, rawURL, password string, tlsOpts rsync.TLSOptions, timeout time.Duration, log func(string, ...any)) (*rsync.Target, error) {
	ep, err := rsync.ParseURL(rawURL)
	if err != nil {
		return nil, &codedError{code: exitUsage, err: err}
	}
	if password != "" {
		ep.SetPassword(password)
	}
	copts, err := connOptions(ep, tlsOpts, timeout, "redkit")
	if err != nil {
		return nil, &codedError{code: exitUsage, err: err}
	}
	t, err := rsync.ResolveTarget(ctx, ep, copts, rsync.ConnectRetryFor, log)
	if ce := (*rsync.ClusterTargetDBError)(nil); errors.As(err, &ce) {
		return nil, &codedError{code: exitUsage, err: err}
	}
	return t, err
}

type restoreSummary struct {
	Input     string  `json:"input"`
	Target    string  `json:"target"`
	Cluster   bool    `json:"cluster"`
	Keys      int64   `json:"keys_written"`
	Commands  int64   `json:"keys_as_commands"`
	Skipped   int64   `json:"keys_skipped"`
	Failed    int64   `json:"keys_failed"`
	Existing  int64   `json:"keys_existing,omitempty"`
	Expired   int64   `json:"keys_expired"`
	Functions int64   `json:"functions"`
	Bytes     int64   `json:"bytes"`
	Seconds   float64 `json:"seconds"`
	KeysPerS  float64 `json:"keys_per_second"`
	BytesPerS float64 `json:"bytes_per_second"`
	Retries   int64   `json:"retries"`
	Redirects int64   `json:"redirects"`
	Error     string  `json:"error,omitempty"`
	Failures  []struct {
		DB    int    `json:"db"`
		Key   string `json:"key"`
		Error string `json:"error"`
	} `json:"failures,omitempty"`
}

func runRestore(ctx context.Context, gopts globalOptions, opts restoreOptions, args []string) error {
	switch {
	case len(args) == 0:
		return usageErrorf("restore: no input given")
	case len(args) > 1:
		return usageErrorf("restore: one input at a time (got %d)", len(args))
	}
	path := args[0]
	src, in, closeInput, err := openInput(ctx, gopts.stdin, "restore", path, opts.filter)
	if err != nil {
		return err
	}
	defer closeInput()
	return restoreFrom(ctx, gopts, opts, restoreInput{name: path, src: src, file: in, total: totalSize(args)})
}

// restoreInput is an opened input of a restore.
type restoreInput struct {
	name  string // in the summary
	src   pipeline.Source
	file  *dumpfile.File // when not nil, the progress bar counts its bytes
	count func() int64   // else, when not nil, the bytes read
	total int64          // the input's size, -1 unknown
	// noFunctions leaves the input's function libraries out: a cluster
	// backup's snapshots after the first (every master holds the same).
	noFunctions bool
}

// restoreFrom restores an opened input into the target: connect, write
// (pipeline.Restore) with a progress bar, print the summary and hints.
func restoreFrom(ctx context.Context, gopts globalOptions, opts restoreOptions, in restoreInput) error {
	l := newCmdLog(gopts)
	logf := func(format string, a ...any) {
		if !opts.quiet {
			l.info("restore: " + fmt.Sprintf(format, a...))
		}
	}
	ep, info, w, err := connectTarget(ctx, opts.to, opts.password, opts.tls, opts.timeout, opts.depth, logf)
	if err != nil {
		if h := connectHint(err); h != "" && ctx.Err() == nil {
			l.error("restore: "+err.Error(), h)
			return reportedError(exitError, err)
		}
		return fmt.Errorf("restore: %w", err)
	}
	ro := opts.restore
	ro.MemoryHint = memoryHint()
	sink, err := pipeline.NewLiveSink(ctx, pipeline.Target{Endpoint: ep, Info: info, Writer: w}, pipeline.LiveOptions{Restore: ro, NoFunctions: in.noFunctions})
	if err != nil {
		return usageErrorf("restore: %v", withAdvice(err))
	}
	if opts.flush {
		if err := sink.Flush(ctx); err != nil {
			return fmt.Errorf("restore: %s: %w", ep, err)
		}
	}
	bar := startProgress(gopts.stderr, opts.quiet || l.isJSON(), "restore", in.total)
	if in.file != nil {
		bar.track(in.file)
	} else if in.count != nil {
		bar.count(in.count)
	}
	bar.describe(func() string {
		st := sink.Stats()
		return fmt.Sprintf("restore %d keys", st.Keys+st.Skipped+st.Failed+st.Expired)
	})
	res, err := pipeline.Restore(ctx, in.src, sink, pipeline.Options{DBMap: opts.dbMap, Replay: opts.replay, Now: opts.now})
	bar.stop()
	err = withAdvice(err)
	elapsed := res.Elapsed
	st, ws := res.Stats, res.Writer
	name := in.name
	sum := restoreSummary{Input: name, Target: ep.String(), Cluster: info.Cluster, Keys: st.Keys, Commands: st.Commands,
		Skipped: st.Skipped, Failed: st.Failed, Existing: st.Existing, Expired: st.Expired, Functions: st.Functions, Bytes: st.Bytes, Seconds: elapsed.Seconds(),
		Retries: ws.Retries, Redirects: ws.Redirects}
	if s := elapsed.Seconds(); s > 0 {
		sum.KeysPerS, sum.BytesPerS = float64(st.Keys)/s, float64(st.Bytes)/s
	}
	failures := res.Failures // nil when interrupted: the keys in flight were cut off, not refused
	for _, f := range failures {
		sum.Failures = append(sum.Failures, struct {
			DB    int    `json:"db"`
			Key   string `json:"key"`
			Error string `json:"error"`
		}{f.DB, string(f.Key), rsync.Redact(withAdvice(f.Err).Error())})
	}
	if err != nil {
		sum.Error = rsync.Redact(err.Error())
	}
	printRestoreSummary(gopts, l, opts, &sum)
	if opts.format == "text" && slices.ContainsFunc(failures, func(f *rsync.KeyError) bool { return errors.Is(f.Err, rsync.ErrFieldExpiry) }) {
		l.warn("restore: some hashes have field expiries, which the target cannot set", "hash field expiries need Redis 7.4 or Valkey 9.0 or later on the target; the hashes that have them were left absent, the other keys restored")
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		var ke *rsync.KeyError
		if errors.As(err, &ke) && errors.Is(err, rsync.ErrConflict) {
			more := ""
			if st.Existing > 1 {
				more = fmt.Sprintf(" (and %d more of the keys in flight then)", st.Existing-1)
			}
			l.error(fmt.Sprintf("restore: %s: key %q in db %d already exists%s: the restore stopped there, and the keys after them in the input were not tried", ep, ke.Key, ke.DB, more),
				"the keys after it that were already in flight (up to --pipeline) may have been written; rerun with --conflict replace (overwrite), --conflict skip (keep it) or --flush (empty the target first)",
				"db", ke.DB, "key", string(ke.Key))
			return reportedError(exitError, err)
		}
		if h := connectHint(err); h != "" {
			l.error(fmt.Sprintf("restore %s -> %s: %s", name, ep, err), h)
			return reportedError(exitError, err)
		}
		if kind, h := describeError(err); h != "" && isInputError(err) {
			attrs := []any{"file", name, "kind", kind}
			var pe *rdb.ParseError
			if errors.As(err, &pe) {
				attrs = append(attrs, "offset", pe.Offset)
			}
			l.error(fmt.Sprintf("restore %s -> %s: %s", name, ep, err), fmt.Sprintf("%s is %s: %s", name, kindPhrase(kind), h), attrs...)
			return reportedError(exitError, err)
		}
		return fmt.Errorf("restore %s -> %s: %s", name, ep, rsync.Redact(err.Error()))
	}
	if st.Failed > 0 {
		// Skipped keys are what --conflict skip asked for: not a problem.
		return reportedError(exitProblems, fmt.Errorf("%d %w", st.Failed, pipeline.ErrKeysFailed))
	}
	return nil
}

// printRestoreSummary prints the summary: JSON on stdout with --format
// json, else on stderr through l (unless quiet and nothing failed).
func printRestoreSummary(gopts globalOptions, l *cmdLog, opts restoreOptions, s *restoreSummary) {
	if opts.format == "json" {
		enc := json.NewEncoder(gopts.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(s)
		return
	}
	if opts.quiet && s.Failed == 0 {
		return
	}
	for _, f := range s.Failures {
		l.error(fmt.Sprintf("restore: db %d key %q failed: %s", f.DB, f.Key, f.Error), "", "db", f.DB, "key", f.Key)
	}
	if int64(len(s.Failures)) < s.Failed {
		l.error(fmt.Sprintf("restore: ... and %d more failed keys", s.Failed-int64(len(s.Failures))), "", "more_failed", s.Failed-int64(len(s.Failures)))
	}
	existing := ""
	if s.Existing > 0 {
		existing = fmt.Sprintf(", %d already on the target", s.Existing)
	}
	l.info(fmt.Sprintf("restore %s -> %s: %d keys written (%d as commands), %d skipped, %d failed%s, %d expired, %d function libraries, %s in %.1fs (%.0f keys/s, %s/s)",
		s.Input, s.Target, s.Keys, s.Commands, s.Skipped, s.Failed, existing, s.Expired, s.Functions, bytesize.Format(s.Bytes), s.Seconds, s.KeysPerS, bytesize.Format(int64(s.BytesPerS))),
		"input", s.Input, "target", s.Target, "cluster", s.Cluster, "keys_written", s.Keys, "keys_as_commands", s.Commands,
		"keys_skipped", s.Skipped, "keys_failed", s.Failed, "keys_existing", s.Existing, "keys_expired", s.Expired,
		"functions", s.Functions, "bytes", s.Bytes, "seconds", s.Seconds)
}
