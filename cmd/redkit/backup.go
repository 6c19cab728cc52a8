package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/storage"
	rsync "github.com/redkit/redkit/sync"
)

func newBackupCommand(gopts globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "backup",
		Usage:     "back a live Redis or cluster (or an RDB file, or an AOF directory) up to file:// or s3:// storage",
		ArgsUsage: " ",
		UsageText: `redkit backup --from URL|FILE|AOFDIR --to STORAGE_URL [--compress zstd|gzip|none] [--encrypt-to age1...]
   redkit backup --continuous --from URL --to STORAGE_URL [--segment-interval 10s] [--segment-size 16mb] [--snapshot-interval 24h] [--status-addr HOST:PORT]
   redkit backup list STORAGE_URL [--format json]
   redkit backup verify STORAGE_URL[/ID|@latest]
   redkit backup prune STORAGE_URL --keep-last N [--keep-daily D] [--keep-weekly W] [--keep-within DURATION] [--dry-run]

examples:
   redkit backup --from redis://10.0.0.5:6379 --to s3://backups/orders
   AWS_ENDPOINT_URL_S3=http://127.0.0.1:7070 redkit backup --from redis://127.0.0.1:6379 --to s3://backups/dev --log-format json
   redkit backup --from redis://cache:6379 --to file:///var/backups/redis --compress zstd --level 9
   redkit backup --from redis://cache:6379 --to s3://backups/cache --encrypt-to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
   redkit backup --from /var/lib/redis/dump.rdb --to file:///mnt/backups/redis
   redkit backup --from /var/lib/redis/appendonlydir --to s3://backups/aof
   redkit backup --continuous --from redis://10.0.0.5:6379 --to s3://backups/orders --status-addr 127.0.0.1:9122
   redkit backup list s3://backups/orders`,
		Description: `Takes a snapshot of a live source over the replication protocol, as a
replica does (like redis-cli --rdb: nothing of the server's disk is
needed; a cluster gives one snapshot per master, taken in parallel, with
its slots), or reads an RDB file, or a Redis 7 multi-part AOF directory
(every file its manifest lists, opened before any is read so that a
rewrite cannot change the set, an incr file up to its last complete
command), and streams it through compression
(--compress zstd by default, --level), optional age encryption and
SHA-256 into the storage, with bounded memory and no temporary file.
The snapshot is parsed on the way: keys per database are counted, the
RDB's own CRC64 is checked, and a corrupt or cut stream fails the backup,
whose upload is then aborted.

Each backup gets an id (its start time in UTC and a random suffix) and a
folder, STORAGE_URL/backups/ID/, holding dump.rdb.zst and, written last,
manifest.json: a backup without a manifest does not exist. Nothing is
ever overwritten. The manifest records the source (host, role, version,
RDB version), keys per database, raw and stored sizes, the SHA-256 of
each object, the compression, the encryption's recipients (public keys
only) and the duration; list and prune read it without any key.

Storage URLs: file:///DIR (a local or mounted directory; objects are
written to a temporary name, fsynced and renamed) and s3://BUCKET/PREFIX
(credentials and region from the AWS SDK's chain: AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance roles; --s3-endpoint or
AWS_ENDPOINT_URL_S3 for S3-compatible stores). Uploads go in parts of
16 MiB, 4 at a time; a failed or interrupted one is aborted.

Encryption: --encrypt-to age1... (repeatable) or --recipients-file FILE
encrypts the compressed stream with age (X25519): the store never sees
the data. restore reads it back with --identity-file.

The backup's id is printed on stdout; logs go to stderr (--log-format
json ends with one summary line).

Continuous backups (--continuous, for restore --at): redkit stays
connected as a replica of a live standalone source (or a Sentinel's
master) and runs until stopped. It stores a base snapshot as a backup
(its manifest marked continuous, with its replication ID and offset),
then the command stream in segments under STORAGE_URL/continuous/ID/: a
segment is closed every --segment-interval or once it holds
--segment-size of commands, compressed and encrypted as backups are, and
stored with one PUT, retried until it is. Each command keeps the time
redkit received it, to the millisecond: the time it reached redkit, not
the time the source executed it (on a local network, well under a
millisecond later). A base and its segments make a generation; a new
base is taken every --snapshot-interval on a second link while the
stream goes on, so that generations overlap and every instant restores.
The offset acknowledged to the source (REPLCONF ACK, which WAIT counts)
is the end of the last stored segment. After a restart or a lost link
redkit continues its newest generation with PSYNC from there: nothing
missing, nothing twice; a command received but not stored when redkit
died is received again, with that time. A source that cannot continue
(restarted without its data, its backlog overrun) is a gap: a new
generation starts, and the log says so. SIGINT or SIGTERM stores what
was received, then exits 0. --status-addr serves GET /status (JSON:
recovery_point, the instant up to which everything received is stored,
and recovery_lag_seconds) and /metrics (redkit_backup_*). The storage's
lock is held only while a base is stored.

` + exitCodesHelp,
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "from", EnvVars: []string{"REDKIT_FROM_URL"}, Usage: "source: a live server's `URL` (redis://, rediss://, redis+sentinel://) or an RDB file"},
			&cli.StringFlag{Name: "from-password-file", Usage: "read the source's password from `FILE` (REDKIT_FROM_PASSWORD also works); the URL's bare userinfo (redis://USER@host) is then the user"},
			&cli.StringFlag{Name: "to", EnvVars: []string{"REDKIT_BACKUP_TO"}, Usage: "`STORAGE_URL`: file:///DIR or s3://BUCKET/PREFIX"},
			&cli.StringFlag{Name: "compress", Value: "zstd", EnvVars: []string{"REDKIT_COMPRESS"}, Usage: "compression: zstd, gzip or none"},
			&cli.IntFlag{Name: "level", Usage: "compression `LEVEL`: zstd 1-22 (default 3), gzip 1-9 (default 6)"},
			&cli.StringSliceFlag{Name: "encrypt-to", EnvVars: []string{"REDKIT_ENCRYPT_TO"}, Usage: "encrypt with age to `RECIPIENT` (an age1... public key; repeatable)"},
			&cli.StringFlag{Name: "recipients-file", Usage: "encrypt to the age public keys in `FILE`, one per line"},
			&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "give up when the source sends nothing for `DURATION` (a stalled link): connecting, a reply, the snapshot's or the stream's next byte"},
			&cli.DurationFlag{Name: "lock-timeout", Value: 15 * time.Minute, EnvVars: []string{"REDKIT_LOCK_TIMEOUT"}, Usage: "take over a storage lock not refreshed for `DURATION` (its run died)"},
			logFormatFlag(),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"REDKIT_QUIET"}, Usage: "no progress bar, warnings and errors only"},
			&cli.BoolFlag{Name: "continuous", EnvVars: []string{"REDKIT_CONTINUOUS"}, Usage: "keep running: a base snapshot, then the replication stream in segments, for restores to any instant (restore --at)"},
			&cli.DurationFlag{Name: "segment-interval", Value: 10 * time.Second, EnvVars: []string{"REDKIT_SEGMENT_INTERVAL"}, Usage: "--continuous: close and store a segment every `DURATION`"},
			&cli.StringFlag{Name: "segment-size", Value: "16mb", EnvVars: []string{"REDKIT_SEGMENT_SIZE"}, Usage: "--continuous: or once it holds `SIZE` of commands (before compression)"},
			&cli.DurationFlag{Name: "snapshot-interval", Value: 24 * time.Hour, EnvVars: []string{"REDKIT_SNAPSHOT_INTERVAL"}, Usage: "--continuous: start a new generation with a new base every `DURATION` (0: never)"},
			&cli.DurationFlag{Name: "retry-for", Value: 10 * time.Minute, EnvVars: []string{"REDKIT_RETRY_FOR"}, Usage: "--continuous: give up (exit 1) after `DURATION` of a lost source or a failing storage without progress (0: never)"},
			&cli.StringFlag{Name: "status-addr", Usage: "--continuous: serve /status (JSON) and /metrics (Prometheus) on `HOST:PORT`"},
		}, storageFlags()...), tlsFlags()...),
		Action: func(c *cli.Context) error {
			return runBackup(c.Context, gopts, backupOptionsFromFlags(c), c.Args().Slice())
		},
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list the backups in a storage",
				ArgsUsage: "STORAGE_URL",
				UsageText: "redkit backup list STORAGE_URL [--format json]\n\nexample: redkit backup list s3://backups/orders",
				Description: `Lists the complete backups (those with a manifest), oldest first: id,
start time (UTC), source, keys, stored size, compression. Incomplete
ones (in progress, or left by a run that died) are counted on stderr.
Then the generations of continuous backups: each with the instants it
restores to (from its base's snapshot to its recovery point, UTC, to
the millisecond), its replication offsets, segments, commands and
size; a generation missing segments (a gap) restores only up to the
gap: a GAP line under it gives the offsets missing and the segments
after them, which cannot be replayed, and stderr says so too. --format
json gives the backups, a continuous base with its "generation" (and
its "gap").

` + exitCodesHelp,
				Flags: append([]cli.Flag{&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"}}, storageFlags()...),
				Action: func(c *cli.Context) error {
					return runBackupList(c.Context, gopts, backupListOptions{format: c.String("format"), storage: storageOptionsFromFlags(c)}, c.Args().Slice())
				},
			},
			{
				Name:      "prune",
				Usage:     "delete the backups a retention policy does not keep",
				ArgsUsage: "STORAGE_URL",
				UsageText: `redkit backup prune STORAGE_URL [--keep-last N] [--keep-daily D] [--keep-weekly W] [--keep-within DURATION] [--dry-run]

examples:
   redkit backup prune s3://backups/orders --keep-last 24 --keep-daily 7 --keep-weekly 4
   redkit backup prune file:///var/backups/redis --keep-within 48h --dry-run`,
				Description: `Keeps a backup if any rule keeps it, as restic's forget does:
--keep-last N the newest N; --keep-daily D the newest of each of the last
D days that have backups; --keep-weekly W the newest of each of the last
W ISO weeks that have backups; --keep-within DURATION every backup
started within DURATION of the newest one (units h, m, s; 7d is 168h).
Days and weeks are UTC. The newest complete backup is never deleted, and
incomplete ones (no manifest: in progress, or left by a run that died)
are never touched. It takes the storage's lock, prints each backup kept
(and why) or deleted, and with --dry-run deletes nothing.

A continuous backup's generation goes whole: its base, then its
segments, so that no segment outlives its base (segments left without
one by a prune cut short are deleted too). The newest generation of
each source is always kept (it may be being written), and
--keep-within keeps a generation whose restorable range reaches into
the window, however old its base.

` + exitCodesHelp,
				Flags: append([]cli.Flag{
					&cli.IntFlag{Name: "keep-last", Usage: "keep the newest `N` backups"},
					&cli.IntFlag{Name: "keep-daily", Usage: "keep the newest backup of each of the last `D` days that have one"},
					&cli.IntFlag{Name: "keep-weekly", Usage: "keep the newest backup of each of the last `W` weeks that have one"},
					&cli.StringFlag{Name: "keep-within", Usage: "keep every backup started within `DURATION` of the newest (e.g. 48h, 7d)"},
					&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "say what would be deleted, delete nothing"},
					&cli.DurationFlag{Name: "lock-timeout", Value: 15 * time.Minute, EnvVars: []string{"REDKIT_LOCK_TIMEOUT"}, Usage: "take over a storage lock not refreshed for `DURATION`"},
					&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"},
				}, storageFlags()...),
				Action: func(c *cli.Context) error {
					return runBackupPrune(c.Context, gopts, backupPruneOptions{
						keepLast: c.Int("keep-last"), keepDaily: c.Int("keep-daily"), keepWeekly: c.Int("keep-weekly"), keepWithin: c.String("keep-within"),
						dryRun: c.Bool("dry-run"), lockTimeout: c.Duration("lock-timeout"), format: c.String("format"), storage: storageOptionsFromFlags(c),
					}, c.Args().Slice())
				},
			},
			{
				Name:      "verify",
				Usage:     "download a backup and check it whole, without restoring it",
				ArgsUsage: "STORAGE_URL[/ID|@latest]",
				UsageText: `redkit backup verify STORAGE_URL[/ID|@ID|@latest] [--identity-file FILE]

examples:
   redkit backup verify s3://backups/orders@latest
   redkit backup verify file:///var/backups/redis/20261126T021911Z-f83756`,
				Description: `Downloads each object of the backup, checks its SHA-256 against the
manifest, decrypts it (--identity-file) and decompresses it, parses the
RDB whole (its CRC64 included) and compares the keys per database with
the manifest's; for a continuous backup's base, every segment of its
generation too (SHA-256, each record's CRC-32C, the record count).
Exits 0 if everything holds, 1 otherwise.

` + exitCodesHelp,
				Flags: append([]cli.Flag{
					&cli.StringSliceFlag{Name: "identity-file", EnvVars: []string{"REDKIT_IDENTITY_FILE"}, Usage: "age identities in `FILE` for an encrypted backup (repeatable)"},
				}, storageFlags()...),
				Action: func(c *cli.Context) error {
					return runBackupVerify(c.Context, gopts, backupVerifyOptions{identityFiles: c.StringSlice("identity-file"), storage: storageOptionsFromFlags(c)}, c.Args().Slice())
				},
			},
		},
	}
}

// backupOptions are backup's flags.
type backupOptions struct {
	from, fromPasswordFile string
	to                     string
	compress               string
	level                  int
	encryptTo              []string
	recipientsFile         string
	tls                    rsync.TLSOptions
	timeout, lockTimeout   time.Duration
	logFormat              string
	quiet                  bool
	storage                storageOptions

	continuous       bool
	segmentInterval  time.Duration
	segmentSize      string
	snapshotInterval time.Duration
	retryFor         time.Duration
	statusAddr       string
}

func backupOptionsFromFlags(c *cli.Context) backupOptions {
	return backupOptions{
		from: c.String("from"), fromPasswordFile: c.String("from-password-file"), to: c.String("to"),
		compress: c.String("compress"), level: c.Int("level"),
		encryptTo: c.StringSlice("encrypt-to"), recipientsFile: c.String("recipients-file"),
		tls: tlsFromFlags(c), timeout: c.Duration("timeout"), lockTimeout: c.Duration("lock-timeout"),
		logFormat: c.String("log-format"), quiet: c.Bool("quiet"), storage: storageOptionsFromFlags(c),
		continuous: c.Bool("continuous"), segmentInterval: c.Duration("segment-interval"), segmentSize: c.String("segment-size"),
		snapshotInterval: c.Duration("snapshot-interval"), retryFor: c.Duration("retry-for"), statusAddr: c.String("status-addr"),
	}
}

func runBackup(ctx context.Context, gopts globalOptions, opts backupOptions, args []string) (err error) {
	if len(args) > 0 {
		return usageErrorf("backup: unexpected argument %q: the source is --from, the storage --to (or did you mean 'backup list'?)", args[0])
	}
	from, to := opts.from, opts.to
	if from == "" || to == "" {
		return usageErrorf("backup: --from (a server URL or an RDB file) and --to (a storage URL) are both needed")
	}
	format := opts.logFormat
	if format != "text" && format != "json" {
		return usageErrorf("backup: --log-format %q: want text or json", format)
	}
	codec := storage.Codec{Compression: opts.compress, Level: opts.level}
	if err := storage.CheckCompression(codec.Compression, codec.Level); err != nil {
		return usageErrorf("backup: %v", err)
	}
	recipients, recipientKeys, err := recipientsFromFlags(opts.encryptTo, opts.recipientsFile)
	if err != nil {
		return err
	}
	codec.Recipients = recipients
	quiet := opts.quiet
	log := newLogger(gopts.stderr, format, quiet)
	if format == "json" {
		// The last line is the machine-readable summary, failures included.
		defer func() {
			if err != nil {
				code := exitCode(ctx, err)
				log.Error("backup failed", "err", rsync.Redact(err.Error()), "exit_code", code)
				err = reportedError(code, err)
			}
		}()
	}
	backend, err := openStorageURL(ctx, opts.storage, to)
	if err != nil {
		return err
	}
	if opts.continuous {
		if !isServerURL(from) {
			return usageErrorf("backup --continuous: --from %s: a continuous backup reads a live server's replication stream: give its URL (redis://HOST:PORT)", from)
		}
		return runContinuousBackup(ctx, gopts, opts, backend, codec, recipientKeys, log)
	}
	var read atomic.Int64
	var bar *progress
	ro := backup.RunOptions{Backend: backend, Codec: codec, Recipients: recipientKeys, LockTimeout: opts.lockTimeout,
		Version: versionString(), Log: log, Read: &read,
		Started: func(snapshots int) {
			// An S3 upload's part buffers (16 MiB, 4 in flight and one or
			// two filling, per snapshot) are live by design.
			reserveMemory(int64(snapshots) * 6 * (16 << 20))
			bar = startProgress(gopts.stderr, quiet, "backup", -1)
			bar.count(read.Load)
		}}
	switch {
	case isServerURL(from):
		ro.Live = func(ctx context.Context) (*backup.LiveSource, error) {
			ep, copts, addr, info, err := backupSource(ctx, opts)
			if err != nil {
				return nil, err
			}
			return &backup.LiveSource{URL: ep.String(), Addr: addr, Info: info, Conn: copts, LinkTimeout: linkTimeoutOf(opts.timeout)}, nil
		}
	case aof.IsMultiPart(from):
		ro.AOFDir = from
	default:
		ro.RDBFile = from
	}
	m, err := backup.Run(ctx, ro)
	bar.stop()
	if err != nil {
		return backupFailure(gopts, err)
	}
	fmt.Fprintln(gopts.stdout, m.ID)
	logBackupSummary(log, m, backend.URL())
	return nil
}

// backupFailure words an error of the backup engine for backup.
func backupFailure(gopts globalOptions, err error) error {
	var coded *codedError
	var ce *backup.ConnectError
	switch {
	case errors.As(err, &coded):
		return err // the source's flags, already worded
	case errors.As(err, &ce):
		return liveConnectError(gopts, "backup", ce.Addr, ce.Err)
	case errors.As(err, new(*backup.LockError)), errors.As(err, new(*backup.RunError)):
		return err
	}
	return fmt.Errorf("backup: %w", err)
}

// backupSource connects to --from, a live server (or a Sentinel's
// master), and reads what it is. Its errors: a usage error, or a
// *backup.ConnectError.
func backupSource(ctx context.Context, opts backupOptions) (*rsync.Endpoint, rsync.Options, string, *rsync.ServerInfo, error) {
	ep, copts, err := endpointOptions("backup", "from", opts.from, opts.fromPasswordFile, "REDKIT_FROM_PASSWORD", opts.tls, opts.timeout)
	if err != nil {
		return nil, copts, "", nil, err
	}
	addr, info, err := rsync.Resolve(ctx, ep, &copts, rsync.ConnectRetryFor, nil)
	if err != nil {
		return nil, copts, "", nil, &backup.ConnectError{Addr: ep.String(), Err: err}
	}
	return ep, copts, addr, info, nil
}

func logBackupSummary(log *slog.Logger, m *backup.Manifest, url string) {
	log.Info("backup complete", "id", m.ID, "url", url, "keys", m.TotalKeys(), "raw_bytes", m.RawBytes, "stored_bytes", m.StoredBytes,
		"compression", m.Compression, "encrypted", m.Encryption != nil, "seconds", strconv.FormatFloat(m.Duration, 'f', 2, 64))
}

// backupListOptions are backup list's flags.
type backupListOptions struct {
	format  string // text or json
	storage storageOptions
}

func runBackupList(ctx context.Context, gopts globalOptions, opts backupListOptions, args []string) error {
	if len(args) != 1 {
		return usageErrorf("backup list: one STORAGE_URL, please")
	}
	format := opts.format
	if format != "text" && format != "json" {
		return usageErrorf("backup list: --format %q: want text or json", format)
	}
	b, err := openStorageURL(ctx, opts.storage, args[0])
	if err != nil {
		return err
	}
	l, err := backup.List(ctx, b)
	if err != nil {
		return fmt.Errorf("backup list: %w", err)
	}
	if len(l.Incomplete) > 0 {
		fmt.Fprintf(gopts.stderr, "redkit: backup list: %d incomplete backup(s) without a manifest (in progress, or left by a run that died): %s\n",
			len(l.Incomplete), strings.Join(l.Incomplete, ", "))
	}
	for id, err := range l.Damaged {
		fmt.Fprintf(gopts.stderr, "redkit: backup list: backup %s is damaged and left out: %v\n", id, err)
	}
	gens, err := backup.ListGenerations(ctx, b, l)
	if err != nil {
		return fmt.Errorf("backup list: %w", err)
	}
	byID := map[string]*backup.Generation{}
	for _, g := range gens {
		byID[g.ID()] = g
		if g.Gap != nil {
			fmt.Fprintf(gopts.stderr, "redkit: backup list: %v: generation %s restores only up to %s\n", g.Gap, g.ID(), g.Until().Format(time.RFC3339Nano))
		}
	}
	if format == "json" {
		// gap: the offsets missing, and what is stored after them but
		// cannot be replayed.
		type gap struct {
			FromOffset     int64  `json:"from_offset"`
			ToOffset       int64  `json:"to_offset"`
			SegmentsAfter  int    `json:"segments_after"`
			AfterEndOffset int64  `json:"after_end_offset"`
			Error          string `json:"error"`
		}
		type generation struct {
			From         time.Time `json:"from"`
			Until        time.Time `json:"until"`
			StartOffset  int64     `json:"start_offset"`
			EndOffset    int64     `json:"end_offset"`
			Segments     int       `json:"segments"`
			Commands     int64     `json:"commands"`
			SegmentBytes int64     `json:"segment_bytes"`
			Gap          *gap      `json:"gap,omitempty"`
		}
		type entry struct {
			*backup.Manifest
			Generation *generation `json:"generation,omitempty"`
		}
		out := []entry{}
		for _, m := range l.Backups {
			e := entry{Manifest: m}
			if g := byID[m.ID]; g != nil {
				e.Generation = &generation{From: g.From(), Until: g.Until(), EndOffset: g.EndOffset(), Segments: len(g.Segments),
					Commands: g.Commands(), SegmentBytes: g.SegmentBytes()}
				if m.Replication != nil {
					e.Generation.StartOffset = m.Replication.Offset
				}
				if g.Gap != nil {
					e.Generation.Gap = &gap{FromOffset: g.Gap.From, ToOffset: g.Gap.To, SegmentsAfter: g.Gap.After, AfterEndOffset: g.Gap.AfterEnd, Error: g.Gap.Error()}
				}
			}
			out = append(out, e)
		}
		enc := json.NewEncoder(gopts.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(gopts.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTARTED (UTC)\tSOURCE\tKEYS\tSIZE\tCOMPRESSION")
	for _, m := range l.Backups {
		comp := m.Compression
		if m.Encryption != nil {
			comp += "+age"
		}
		kind := ""
		if m.Continuous {
			kind = "  (continuous base)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s%s\n", m.ID, m.Started.Format("2006-01-02 15:04:05"), sourceLabel(m.Source), m.TotalKeys(), bytesize.Format(m.StoredBytes), comp, kind)
	}
	if err := tw.Flush(); err != nil || len(gens) == 0 {
		return err
	}
	fmt.Fprintln(gopts.stdout)
	tw = tabwriter.NewWriter(gopts.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GENERATION\tRESTORES FROM (UTC)\tUNTIL (UTC)\tOFFSETS\tSEGMENTS\tCOMMANDS\tSIZE")
	for _, g := range gens {
		start := int64(0)
		if g.Base.Replication != nil {
			start = g.Base.Replication.Offset
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d-%d\t%d\t%d\t%s\n", g.ID(), g.From().Format("2006-01-02 15:04:05.000"), g.Until().Format("2006-01-02 15:04:05.000"),
			start, g.EndOffset(), len(g.Segments), g.Commands(), bytesize.Format(g.SegmentBytes()))
		if g.Gap != nil {
			fmt.Fprintf(tw, "\t\t\tGAP: offsets %d-%d missing; %d segment(s) after it, up to offset %d, cannot be replayed\n", g.Gap.From, g.Gap.To, g.Gap.After, g.Gap.AfterEnd)
		}
	}
	return tw.Flush()
}

// backupPruneOptions are backup prune's flags.
type backupPruneOptions struct {
	keepLast, keepDaily, keepWeekly int
	keepWithin                      string
	dryRun                          bool
	lockTimeout                     time.Duration
	format                          string // text or json
	storage                         storageOptions
}

func runBackupPrune(ctx context.Context, gopts globalOptions, opts backupPruneOptions, args []string) error {
	if len(args) != 1 {
		return usageErrorf("backup prune: one STORAGE_URL, please")
	}
	p := backup.Policy{Last: opts.keepLast, Daily: opts.keepDaily, Weekly: opts.keepWeekly}
	if v := opts.keepWithin; v != "" {
		d, err := parseLongDuration(v)
		if err != nil || d <= 0 {
			return usageErrorf("backup prune: --keep-within %q: want a duration such as 48h or 7d", v)
		}
		p.Within = d
	}
	if p.Last < 0 || p.Daily < 0 || p.Weekly < 0 {
		return usageErrorf("backup prune: --keep-* counts must not be negative")
	}
	if p.Empty() {
		return usageErrorf("backup prune: no --keep-last, --keep-daily, --keep-weekly or --keep-within: that would delete all but the newest backup; say what to keep")
	}
	format := opts.format
	if format != "text" && format != "json" {
		return usageErrorf("backup prune: --format %q: want text or json", format)
	}
	b, err := openStorageURL(ctx, opts.storage, args[0])
	if err != nil {
		return err
	}
	log := newLogger(gopts.stderr, "text", false)
	rep, err := backup.Prune(ctx, b, backup.PruneOptions{Policy: p, DryRun: opts.dryRun, LockTimeout: opts.lockTimeout, Log: log})
	if err != nil {
		if errors.As(err, new(*backup.LockError)) {
			return err
		}
		return fmt.Errorf("backup prune: %w", err)
	}
	type row struct {
		ID      string   `json:"id"`
		Started string   `json:"started"`
		Action  string   `json:"action"` // keep, delete, would-delete
		Reasons []string `json:"reasons,omitempty"`
	}
	var rows []row
	for _, a := range rep.Actions {
		r := row{ID: a.ID, Action: "keep", Reasons: a.Reasons}
		if a.Backup != nil {
			r.Started = a.Backup.Started.Format(time.RFC3339)
		}
		if !a.Keep {
			r.Action = "delete"
			if opts.dryRun {
				r.Action = "would-delete"
			}
		}
		rows = append(rows, r)
	}
	if len(rep.Incomplete) > 0 {
		fmt.Fprintf(gopts.stderr, "redkit: backup prune: %d incomplete backup(s) left alone: %s\n", len(rep.Incomplete), strings.Join(rep.Incomplete, ", "))
	}
	if format == "json" {
		enc := json.NewEncoder(gopts.stdout)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []row{}
		}
		return enc.Encode(rows)
	}
	for _, r := range rows {
		why := ""
		if len(r.Reasons) > 0 {
			why = " (" + strings.Join(r.Reasons, ", ") + ")"
		}
		fmt.Fprintf(gopts.stdout, "%-12s %s  %s%s\n", r.Action, r.ID, r.Started, why)
	}
	return nil
}

// parseLongDuration is time.ParseDuration with days: 7d, 1d12h.
func parseLongDuration(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.Index(s, "d"); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, err
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	return days + d, err
}

// backupVerifyOptions are backup verify's flags.
type backupVerifyOptions struct {
	identityFiles []string
	storage       storageOptions
}

func runBackupVerify(ctx context.Context, gopts globalOptions, opts backupVerifyOptions, args []string) error {
	if len(args) != 1 {
		return usageErrorf("backup verify: one STORAGE_URL[/ID|@latest], please")
	}
	url, id := splitBackupRef(args[0])
	b, err := openStorageURL(ctx, opts.storage, url)
	if err != nil {
		return err
	}
	m, err := backup.Resolve(ctx, b, id)
	if err != nil {
		return fmt.Errorf("backup verify: %w", err)
	}
	ids, err := readIdentities(opts.identityFiles)
	if err != nil {
		return err
	}
	if m.Encryption != nil && len(ids) == 0 {
		return usageErrorf("backup verify: backup %s is encrypted with age (to %v): give its identity with --identity-file", m.ID, m.Encryption.Recipients)
	}
	codec := storage.Codec{Identities: ids}
	for _, e := range m.Objects {
		if err := backup.VerifyObject(ctx, b, m, e, codec); err != nil {
			fmt.Fprintf(gopts.stderr, "redkit: backup verify: backup %s: %v\n", m.ID, err)
			return reportedError(exitError, err)
		}
		what := fmt.Sprintf("RDB %d, %d keys", e.RDBVersion, sumKeys(e.Keys))
		if e.Role == "incr" || e.Role == "base" && e.RDBVersion == 0 {
			what = fmt.Sprintf("AOF, %d commands", e.Commands)
		}
		fmt.Fprintf(gopts.stdout, "ok  %s/%s  %s stored, %s of %s, SHA-256 %s\n", m.ID, e.Name, bytesize.Format(e.StoredBytes), bytesize.Format(e.RawBytes), what, e.SHA256[:16])
	}
	if !m.Continuous {
		return nil
	}
	// A continuous backup's base: its generation's segments too.
	g, err := backup.VerifyGeneration(ctx, b, m, codec)
	if err != nil {
		fmt.Fprintf(gopts.stderr, "redkit: backup verify: generation %s: %v\n", m.ID, err)
		return reportedError(exitError, err)
	}
	fmt.Fprintf(gopts.stdout, "ok  %s: %d segment(s), %s stored, %d records, SHA-256 and CRC-32C of each\n", m.ID, g.Segments, bytesize.Format(g.StoredBytes), g.Records)
	return nil
}
