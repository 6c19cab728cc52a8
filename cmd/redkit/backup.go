package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/backup"
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
   redkit backup list [STORAGE_URL] [--format json]
   redkit backup verify [STORAGE_URL[/ID|@ID|@latest] | @ID | @latest] [--format json]
   redkit backup prune [STORAGE_URL] [--keep-last N] [--keep-hourly H] [--keep-daily D] [--keep-weekly W] [--keep-monthly M] [--keep-yearly Y] [--keep-within DURATION] [--dry-run]

examples:
   redkit backup --from redis://10.0.0.5:6379 --to s3://backups/orders
   AWS_ENDPOINT_URL_S3=http://127.0.0.1:7070 redkit backup --from redis://127.0.0.1:6379 --to s3://backups/dev --log-format json
   redkit backup --from redis://cache:6379 --to file:///var/backups/redis --compress zstd --level 9
   redkit backup --from redis://cache:6379 --to s3://backups/cache --encrypt-to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
   redkit backup --from /var/lib/redis/dump.rdb --to file:///mnt/backups/redis
   redkit backup --from rediss://user@managed.example.com:6379 --to s3://backups/cache --source-mode scan
   redkit backup --from /var/lib/redis/appendonlydir --to s3://backups/aof
   redkit backup --continuous --from redis://10.0.0.5:6379 --to s3://backups/orders --status-addr 127.0.0.1:9122
   redkit backup list s3://backups/orders
   export REDKIT_STORAGE=s3://backups/orders     # then backup, list, prune, verify and restore @latest need no storage URL
   redkit backup --from redis://10.0.0.5:6379 && redkit backup prune --keep-daily 7 --keep-weekly 4`,
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

The storage is --to, else REDKIT_STORAGE: the one variable that backup,
backup list, prune, verify and restore @ID|@latest all read, as
RESTIC_REPOSITORY does for restic (REDKIT_BACKUP_TO, its old name, still
works here, with a warning to rename it). Storage URLs: file:///DIR or
a plain directory path (a local or mounted directory; a relative one is
made absolute against the working directory, with a warning saying
where, since under cron that is the home directory; objects are
written to a temporary name, fsynced and renamed) and s3://BUCKET/PREFIX
(credentials and region from the AWS SDK's chain: AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance roles; --s3-endpoint or
AWS_ENDPOINT_URL_S3 for S3-compatible stores). Uploads go in parts of
16 MiB, 4 at a time; a failed or interrupted one is aborted.

Sources that refuse replication (PSYNC and SYNC unknown or renamed, as
on managed services; an ACL user without +psync +sync, NOPERM; a proxy's
error): with --source-mode auto (the default) such a master is read key
by key instead (SCAN of each database, DUMP and PEXPIRETIME of each key,
FUNCTION DUMP; each master of a cluster in parallel), and the log says
so and why, once. The object is the same RDB, checked, compressed,
encrypted, listed, verified and restored like a snapshot, but its
consistency is per key: each key as of when it was read, and keys
written during the scan may be missing or newer than the others. The
manifest says "consistency": "per-key", with scan_started and scan_ended
(UTC), and each object's "source_mode"; backup list and verify show it.
--source-mode replication fails instead (exit 1); --source-mode scan
always reads keys. A collection bigger than --max-dump is read in chunks
rather than with one DUMP. A continuous backup follows the replication
stream: a source that refuses it is an error (exit 1), with what to do.

Encryption: --encrypt-to age1... (repeatable) or --recipients-file FILE
encrypts the compressed stream with age (X25519): the store never sees
the data. restore reads it back with --identity-file.

The backup's id is printed on stdout; logs go to stderr (--log-format
json: JSON lines only, ending with one summary line, or with the
failure and its exit code). The storage's lock keeps two runs (backups,
prunes) from working at once: a backup that finds it held exits 11,
naming the run that holds it.

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
was received, then exits 0. --status-addr serves a status page at /
(phase, recovery lag, throughput, charts), GET /status (JSON:
recovery_point, the instant up to which everything received is stored,
and recovery_lag_seconds) and /metrics (redkit_backup_*). The storage's
lock is held only while a base is stored; a base waits for a lock
another run holds, trying every 5 seconds, for up to --retry-for, then
exits 11.

` + exitCodesHelp,
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "from", EnvVars: []string{"REDKIT_FROM_URL"}, Usage: "source: a live server's `URL` (redis://, rediss://, redis+sentinel://), an RDB file or an AOF directory"},
			&cli.StringFlag{Name: "from-password-file", Usage: "read the source's password from `FILE` (REDKIT_FROM_PASSWORD also works); the URL's bare userinfo (redis://USER@host) is then the user"},
			&cli.StringFlag{Name: "to", EnvVars: []string{storageEnv}, Usage: "storage `STORAGE_URL`: file:///DIR, a directory, or s3://BUCKET/PREFIX"},
			&cli.StringFlag{Name: "compress", Value: "zstd", EnvVars: []string{"REDKIT_COMPRESS"}, Usage: "compression `FORMAT`: zstd, gzip or none"},
			&cli.IntFlag{Name: "level", Usage: "compression `LEVEL`: zstd 1-22, gzip 1-9 (0: the format's own, zstd 3, gzip 6)"},
			&cli.StringSliceFlag{Name: "encrypt-to", EnvVars: []string{"REDKIT_ENCRYPT_TO"}, Usage: "encrypt with age to `RECIPIENT` (an age1... public key; repeatable)"},
			&cli.StringFlag{Name: "recipients-file", Usage: "encrypt to the age public keys in `FILE`, one per line"},
			&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "give up an operation (connecting, a reply, the next byte of the snapshot or the stream) after `DURATION` without progress"},
			&cli.StringFlag{Name: "source-mode", Value: "auto", EnvVars: []string{"REDKIT_SOURCE_MODE"}, Usage: "how to read a live source, `MODE`: auto (as a replica, or key by key where replication is refused), replication or scan (key by key)"},
			maxDumpFlag(),
			&cli.DurationFlag{Name: "lock-timeout", Value: 15 * time.Minute, EnvVars: []string{"REDKIT_LOCK_TIMEOUT"}, Usage: "take over a storage lock not refreshed for `DURATION` (its run died)"},
			logFormatFlag(),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"REDKIT_QUIET"}, Usage: "no progress bar, warnings and errors only"},
			&cli.BoolFlag{Name: "continuous", EnvVars: []string{"REDKIT_CONTINUOUS"}, Usage: "keep running: a base snapshot, then the replication stream in segments, for restores to any instant (restore --at)"},
			&cli.DurationFlag{Name: "segment-interval", Value: 10 * time.Second, EnvVars: []string{"REDKIT_SEGMENT_INTERVAL"}, Usage: "--continuous: close and store a segment every `DURATION`"},
			&cli.StringFlag{Name: "segment-size", Value: "16mb", EnvVars: []string{"REDKIT_SEGMENT_SIZE"}, Usage: "--continuous: or once it holds `SIZE` of commands (before compression)"},
			&cli.DurationFlag{Name: "snapshot-interval", Value: 24 * time.Hour, EnvVars: []string{"REDKIT_SNAPSHOT_INTERVAL"}, Usage: "--continuous: start a new generation with a new base every `DURATION` (0: never)"},
			&cli.DurationFlag{Name: "retry-for", Value: 10 * time.Minute, EnvVars: []string{"REDKIT_RETRY_FOR"}, Usage: "--continuous: give up after `DURATION` of a lost source, a failing storage or a lock another run holds, without progress (0: never)"},
			&cli.StringFlag{Name: "status-addr", Usage: "--continuous: serve a status page (/), /status (JSON), /status/history and /metrics (Prometheus) on `HOST:PORT`"},
		}, storageFlags()...), tlsFlags()...),
		Action: func(c *cli.Context) error {
			return runBackup(c.Context, gopts, backupOptionsFromFlags(c), c.Args().Slice())
		},
		Subcommands: []*cli.Command{newBackupListCommand(gopts), newBackupPruneCommand(gopts), newBackupVerifyCommand(gopts)},
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
	backupTo               string // REDKIT_BACKUP_TO, the deprecated name of REDKIT_STORAGE
	sourceMode             string // auto, replication or scan
	maxDump                string // a size

	continuous       bool
	segmentInterval  time.Duration
	segmentSize      string
	snapshotInterval time.Duration
	retryFor         time.Duration
	statusAddr       string
}

func backupOptionsFromFlags(c *cli.Context) backupOptions {
	return backupOptions{backupTo: os.Getenv(deprecatedBackupTo),
		from: c.String("from"), fromPasswordFile: c.String("from-password-file"), to: c.String("to"),
		compress: c.String("compress"), level: c.Int("level"),
		encryptTo: c.StringSlice("encrypt-to"), recipientsFile: c.String("recipients-file"),
		tls: tlsFromFlags(c), timeout: c.Duration("timeout"), lockTimeout: c.Duration("lock-timeout"),
		logFormat: c.String("log-format"), quiet: c.Bool("quiet"), storage: storageOptionsFromFlags(c),
		sourceMode: c.String("source-mode"), maxDump: c.String("max-dump"),
		continuous: c.Bool("continuous"), segmentInterval: c.Duration("segment-interval"), segmentSize: c.String("segment-size"),
		snapshotInterval: c.Duration("snapshot-interval"), retryFor: c.Duration("retry-for"), statusAddr: c.String("status-addr"),
	}
}

// deprecatedBackupTo is REDKIT_STORAGE's old name, read by backup only.
const deprecatedBackupTo = "REDKIT_BACKUP_TO"

func runBackup(ctx context.Context, gopts globalOptions, opts backupOptions, args []string) (err error) {
	format := opts.logFormat
	if format != "text" && format != "json" {
		return usageErrorf("backup: --log-format %q: want text or json", format)
	}
	quiet := opts.quiet
	log := newLogger(gopts.stderr, format, quiet)
	if len(args) > 0 {
		return usageErrorf("backup: unexpected argument %q: the source is --from, the storage --to (or did you mean 'backup list'?)", args[0])
	}
	from, to := opts.from, opts.to
	if old := opts.backupTo; old != "" {
		if to == "" {
			to = old
			log.Warn(deprecatedBackupTo+" is deprecated: rename it "+storageEnv+", which backup list, prune, verify and restore read too", "storage", rsync.Redact(old))
		} else {
			log.Warn(deprecatedBackupTo+" is deprecated, and ignored here: "+storageEnv+" or --to is set", "ignored", rsync.Redact(old))
		}
	}
	if from == "" || to == "" {
		return usageErrorf("backup: --from (a server URL or an RDB file) and --to (a storage URL; or set %s) are both needed", storageEnv)
	}
	mode, maxDump, err := sourceModeOptions(opts)
	if err != nil {
		return err
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
	if format == "json" {
		// The last line is the machine-readable summary, failures included.
		defer func() {
			if err != nil {
				code := exitCode(ctx, err)
				attrs := []any{"err", rsync.Redact(withAdvice(err).Error()), "exit_code", code}
				if h := refusedHint(err); h != "" {
					attrs = append(attrs, "hint", h)
				} else if h := connectHint(err); h != "" && errors.As(err, new(*backup.ConnectError)) {
					attrs = append(attrs, "hint", h)
				}
				log.Error("backup failed", attrs...)
				err = reportedError(code, err)
			}
		}()
	}
	backend, err := openStorageURL(ctx, opts.storage, to, log)
	if err != nil {
		return err
	}
	if opts.continuous {
		if !isServerURL(from) {
			return usageErrorf("backup --continuous: --from %s: a continuous backup reads a live server's replication stream: give its URL (redis://HOST:PORT)", from)
		}
		if mode == backup.SourceScan {
			return usageErrorf("backup --continuous: --source-mode scan: a continuous backup follows the replication stream, which reading keys does not give; take scheduled backups without --continuous for that (per-key consistency)")
		}
		return lockedExit(runContinuousBackup(ctx, gopts, opts, backend, codec, recipientKeys, log))
	}
	var read atomic.Int64
	var bar *progress
	var uploads, scans atomic.Int64 // bytes live by design
	ro := backup.RunOptions{Backend: backend, Codec: codec, Recipients: recipientKeys, LockTimeout: opts.lockTimeout,
		Version: versionString(), Log: slog.New(backupLogAdvice{log.Handler()}), Read: &read, SourceMode: mode, MaxDump: maxDump,
		ScanMemoryHint: func(live int64) {
			// A scan's table of keys, one per master read key by key.
			reserveMemory(uploads.Load() + scans.Add(live))
		},
		Started: func(snapshots int) {
			// An S3 upload's part buffers (16 MiB, 4 in flight and one or
			// two filling, per snapshot) are live by design.
			uploads.Store(int64(snapshots) * 6 * (16 << 20))
			reserveMemory(uploads.Load() + scans.Load())
			bar = startProgress(gopts.stderr, quiet || format == "json", "backup", -1)
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
		return backupFailure(gopts, format, err)
	}
	fmt.Fprintln(gopts.stdout, m.ID)
	logBackupSummary(log, m, backend.URL())
	return nil
}

// backupFailure words an error of the backup engine for backup. With
// --log-format json (format) nothing is printed here: runBackup logs the
// error, with its hint, as one JSON line.
func backupFailure(gopts globalOptions, format string, err error) error {
	var coded *codedError
	var ce *backup.ConnectError
	var re *backup.RefusedError
	switch {
	case errors.As(err, &coded):
		return err // the source's flags, already worded
	case errors.As(err, &re) && format != "json":
		// The error names the master once (not the *ConnectError around it).
		return failed(gopts, exitError, err, "backup: "+rsync.Redact(re.Error()), refusedHint(err))
	case errors.As(err, &re):
		return fmt.Errorf("backup: %w", re)
	case errors.As(err, &ce) && (format == "json" || ce.Addr == ""):
		// JSON, or a file source (no server to give connection advice on).
		return fmt.Errorf("backup: %w", err)
	case errors.As(err, &ce):
		return liveConnectError(gopts, "backup", ce.Addr, ce.Err)
	case errors.As(err, new(*backup.LockError)):
		return lockedExit(err)
	case errors.As(err, new(*backup.RunError)):
		return err
	}
	return fmt.Errorf("backup: %w", err)
}

// lockedExit gives an error of a storage whose lock another run holds
// (a *storage.LockedError, which names the holder) exit code 11.
func lockedExit(err error) error {
	if err != nil && errors.As(err, new(*storage.LockedError)) && !errors.As(err, new(*codedError)) {
		return &codedError{code: exitLocked, err: err}
	}
	return err
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
	attrs := []any{"id", m.ID, "url", url, "keys", m.TotalKeys(), "raw_bytes", m.RawBytes, "stored_bytes", m.StoredBytes,
		"compression", m.Compression, "encrypted", m.Encryption != nil, "seconds", strconv.FormatFloat(m.Duration, 'f', 2, 64)}
	if m.PerKey() {
		attrs = append(attrs, "consistency", m.Consistency, "scan_started", m.ScanStarted.Format(time.RFC3339Nano), "scan_ended", m.ScanEnded.Format(time.RFC3339Nano))
	}
	log.Info("backup complete", attrs...)
}

// sourceModeOptions checks --source-mode and --max-dump.
func sourceModeOptions(opts backupOptions) (backup.SourceMode, int64, error) {
	mode := backup.SourceMode(opts.sourceMode)
	switch mode {
	case "":
		mode = backup.SourceAuto
	case backup.SourceAuto, backup.SourceReplication, backup.SourceScan:
	default:
		return "", 0, usageErrorf("backup: --source-mode %q: want auto, replication or scan", opts.sourceMode)
	}
	n, err := parseMaxDump("backup", opts.maxDump)
	if err != nil {
		return "", 0, err
	}
	return mode, n, nil
}
