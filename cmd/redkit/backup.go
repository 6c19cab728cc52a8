package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/internal/countio"
	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/redkit/redkit/rdb"
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
			&cli.StringFlag{Name: "from", EnvVars: []string{"REDKIT_FROM_URL"}, Usage: "source: a live server's `URL` (redis://, rediss://, redis+sentinel://) or an RDB file [$REDKIT_FROM_URL]"},
			&cli.StringFlag{Name: "from-password-file", Usage: "read the source's password from `FILE` (REDKIT_FROM_PASSWORD also works); the URL's bare userinfo (redis://USER@host) is then the user"},
			&cli.StringFlag{Name: "to", EnvVars: []string{"REDKIT_BACKUP_TO"}, Usage: "`STORAGE_URL`: file:///DIR or s3://BUCKET/PREFIX [$REDKIT_BACKUP_TO]"},
			&cli.StringFlag{Name: "compress", Value: "zstd", EnvVars: []string{"REDKIT_COMPRESS"}, Usage: "compression: zstd, gzip or none [$REDKIT_COMPRESS]"},
			&cli.IntFlag{Name: "level", Usage: "compression `LEVEL`: zstd 1-22 (default 3), gzip 1-9 (default 6)"},
			&cli.StringSliceFlag{Name: "encrypt-to", EnvVars: []string{"REDKIT_ENCRYPT_TO"}, Usage: "encrypt with age to `RECIPIENT` (an age1... public key; repeatable) [$REDKIT_ENCRYPT_TO]"},
			&cli.StringFlag{Name: "recipients-file", Usage: "encrypt to the age public keys in `FILE`, one per line"},
			&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "give up when the source sends nothing for `DURATION` (a stalled link): connecting, a reply, the snapshot's or the stream's next byte"},
			&cli.DurationFlag{Name: "lock-timeout", Value: 15 * time.Minute, EnvVars: []string{"REDKIT_LOCK_TIMEOUT"}, Usage: "take over a storage lock not refreshed for `DURATION` (its run died) [$REDKIT_LOCK_TIMEOUT]"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log `FORMAT` on stderr: text or json"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"REDKIT_QUIET"}, Usage: "no progress bar, warnings and errors only [$REDKIT_QUIET]"},
			&cli.BoolFlag{Name: "continuous", EnvVars: []string{"REDKIT_CONTINUOUS"}, Usage: "keep running: a base snapshot, then the replication stream in segments, for restores to any instant (restore --at) [$REDKIT_CONTINUOUS]"},
			&cli.DurationFlag{Name: "segment-interval", Value: 10 * time.Second, EnvVars: []string{"REDKIT_SEGMENT_INTERVAL"}, Usage: "--continuous: close and store a segment every `DURATION` [$REDKIT_SEGMENT_INTERVAL]"},
			&cli.StringFlag{Name: "segment-size", Value: "16mb", EnvVars: []string{"REDKIT_SEGMENT_SIZE"}, Usage: "--continuous: or once it holds `SIZE` of commands (before compression) [$REDKIT_SEGMENT_SIZE]"},
			&cli.DurationFlag{Name: "snapshot-interval", Value: 24 * time.Hour, EnvVars: []string{"REDKIT_SNAPSHOT_INTERVAL"}, Usage: "--continuous: start a new generation with a new base every `DURATION` (0: never) [$REDKIT_SNAPSHOT_INTERVAL]"},
			&cli.DurationFlag{Name: "retry-for", Value: 10 * time.Minute, EnvVars: []string{"REDKIT_RETRY_FOR"}, Usage: "--continuous: give up (exit 1) after `DURATION` of a lost source or a failing storage without progress (0: never) [$REDKIT_RETRY_FOR]"},
			&cli.StringFlag{Name: "status-addr", Usage: "--continuous: serve /status (JSON) and /metrics (Prometheus) on `HOST:PORT`"},
		}, storageFlags()...), tlsFlags()...),
		Action: func(c *cli.Context) error { return runBackup(c, gopts) },
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
				Flags:  append([]cli.Flag{&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"}}, storageFlags()...),
				Action: func(c *cli.Context) error { return runBackupList(c, gopts) },
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
					&cli.DurationFlag{Name: "lock-timeout", Value: 15 * time.Minute, EnvVars: []string{"REDKIT_LOCK_TIMEOUT"}, Usage: "take over a storage lock not refreshed for `DURATION` [$REDKIT_LOCK_TIMEOUT]"},
					&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"},
				}, storageFlags()...),
				Action: func(c *cli.Context) error { return runBackupPrune(c, gopts) },
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
					&cli.StringSliceFlag{Name: "identity-file", EnvVars: []string{"REDKIT_IDENTITY_FILE"}, Usage: "age identities in `FILE` for an encrypted backup (repeatable) [$REDKIT_IDENTITY_FILE]"},
				}, storageFlags()...),
				Action: func(c *cli.Context) error { return runBackupVerify(c, gopts) },
			},
		},
	}
}

// lockStorage takes the storage's lock, then removes what runs that
// died before this one left (pending multipart uploads, temporary files):
// with the lock held, nothing else writes there.
func lockStorage(ctx context.Context, b storage.Backend, op string, timeout time.Duration, log *slog.Logger) (*storage.Lock, error) {
	lock, err := storage.AcquireLock(ctx, b, op, timeout, log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if cl, ok := b.(storage.Cleaner); ok {
		n, err := cl.Cleanup(ctx, backup.BackupsDir, lock.Created())
		if err == nil {
			// A segment's PUT cut short by a continuous backup that died.
			var k int
			k, err = cl.Cleanup(ctx, backup.ContinuousDir, lock.Created())
			n += k
		}
		switch {
		case err != nil:
			log.Warn("could not look for uploads interrupted by a run that died", "err", err)
		case n > 0:
			log.Warn("removed uploads interrupted by a run that died", "count", n)
		}
	}
	return lock, nil
}

// releaseLock removes the storage's lock, on every return (an error
// and an interruption too), and says so when it cannot.
func releaseLock(ctx context.Context, lock *storage.Lock, log *slog.Logger) {
	if err := lock.Release(ctx); err != nil {
		log.Warn("could not release the storage lock: the next run on this machine takes it over (on Linux), others after --lock-timeout", "err", rsync.Redact(err.Error()))
	}
}

func runBackup(c *cli.Context, gopts globalOptions) (err error) {
	ctx := c.Context
	if c.Args().Len() > 0 {
		return usageErrorf("backup: unexpected argument %q: the source is --from, the storage --to (or did you mean 'backup list'?)", c.Args().First())
	}
	from, to := c.String("from"), c.String("to")
	if from == "" || to == "" {
		return usageErrorf("backup: --from (a server URL or an RDB file) and --to (a storage URL) are both needed")
	}
	format := c.String("log-format")
	if format != "text" && format != "json" {
		return usageErrorf("backup: --log-format %q: want text or json", format)
	}
	codec := storage.Codec{Compression: c.String("compress"), Level: c.Int("level")}
	if err := storage.CheckCompression(codec.Compression, codec.Level); err != nil {
		return usageErrorf("backup: %v", err)
	}
	recipients, recipientKeys, err := recipientsFromFlags(c)
	if err != nil {
		return err
	}
	codec.Recipients = recipients
	quiet := c.Bool("quiet")
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
	backend, err := openStorage(ctx, c, to)
	if err != nil {
		return err
	}
	if c.Bool("continuous") {
		if !isServerURL(from) {
			return usageErrorf("backup --continuous: --from %s: a continuous backup reads a live server's replication stream: give its URL (redis://HOST:PORT)", from)
		}
		return runContinuousBackup(c, gopts, backend, codec, recipientKeys, log)
	}
	lock, err := lockStorage(ctx, backend, "backup", c.Duration("lock-timeout"), log)
	if err != nil {
		return err
	}
	defer releaseLock(ctx, lock, log)

	start := time.Now()
	m := &backup.Manifest{
		ID:            backup.NewID(start),
		Started:       start.UTC(),
		RedkitVersion: versionString(),
		Compression:   codec.Compression,
		Level:         codec.Level,
	}
	if len(recipientKeys) > 0 {
		m.Encryption = &backup.Encryption{Kind: "age", Recipients: recipientKeys}
	}

	// The snapshots: a live server's over the replication protocol (one
	// per master of a cluster), or a file.
	var jobs []*snapshotJob
	if isServerURL(from) {
		ep, copts, addr, info, err := backupSource(c, gopts)
		if err != nil {
			return err
		}
		m.Source = backup.SourceInfo{Kind: "live", URL: ep.String(), Host: addr, Role: info.Role, Server: info.Server, Version: info.Version, Cluster: info.Cluster}
		liveJob := func(name, master string) *snapshotJob {
			return &snapshotJob{name: name, master: master, open: func(ctx context.Context) (io.Reader, int64, func(), error) {
				l, err := rsync.OpenLink(ctx, master, rsync.ReplicaOptions{Conn: copts, RDBOnly: true, Timeout: linkTimeout(c)})
				if err != nil {
					return nil, 0, nil, err
				}
				stop := context.AfterFunc(ctx, func() { l.Close() })
				snap, err := l.Snapshot()
				if err != nil {
					l.Close()
					return nil, 0, nil, fmt.Errorf("snapshot of %s: %w", master, err)
				}
				return snap, l.SnapshotSize(), func() { stop(); l.Close() }, nil
			}}
		}
		if !info.Cluster {
			jobs = append(jobs, liveJob("dump"+codec.Ext(), addr))
		} else {
			shards, err := rsync.ClusterShards(ctx, addr, &copts)
			if err != nil {
				return liveConnectError(gopts, "backup", ep.String(), err)
			}
			for _, sh := range shards {
				j := liveJob(fmt.Sprintf("shard-%05d%s", sh.FirstSlot, codec.Ext()), sh.Master)
				for _, r := range sh.Ranges {
					j.slots = append(j.slots, [2]int{r.Start, r.End})
				}
				jobs = append(jobs, j)
			}
		}
		log.Info("backup: snapshots started", "id", m.ID, "from", ep.String(), "to", backend.URL(), "snapshots", len(jobs), "cluster", info.Cluster)
	} else if isAOFSet(from) {
		aofJobs, manifest, closeAll, err := openAOFSet(from, codec)
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		defer closeAll()
		jobs = aofJobs
		m.AOFManifest = manifest
		m.Source = backup.SourceInfo{Kind: "aof-dir", URL: from}
		log.Info("backup: reading a multi-part AOF", "id", m.ID, "from", from, "files", len(jobs), "to", backend.URL())
	} else {
		jobs = append(jobs, &snapshotJob{name: "dump" + codec.Ext(), open: func(ctx context.Context) (io.Reader, int64, func(), error) {
			f, err := dumpfile.Open(ctx, from)
			if err != nil {
				return nil, 0, nil, err
			}
			return f, f.Size, func() { f.Close() }, nil
		}})
		m.Source = backup.SourceInfo{Kind: "rdb-file", URL: from}
		log.Info("backup: reading a file", "id", m.ID, "from", from, "to", backend.URL())
	}

	// An S3 upload's part buffers (16 MiB, 4 in flight and one or two
	// filling, per snapshot) are live by design.
	reserveMemory(int64(len(jobs)) * 6 * (16 << 20))
	// All snapshots at once; the first failure cancels the others.
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg gosync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			if j.err = j.run(jctx, backend, m.ID, codec); j.err != nil {
				cancel(j.err)
			}
		})
	}
	bar := startProgress(gopts.stderr, quiet, "backup", -1)
	bar.count(func() int64 {
		var n int64
		for _, j := range jobs {
			n += j.read.Load()
		}
		return n
	})
	wg.Wait()
	bar.stop()
	if err := context.Cause(jctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("backup: %w: the upload was aborted, nothing stored", ctx.Err())
		}
		var je *jobError
		if errors.As(err, &je) && je.connect {
			return liveConnectError(gopts, "backup", je.job.master, je.err)
		}
		return fmt.Errorf("backup %s: %w: the upload was aborted, nothing stored", m.ID, err)
	}
	m.Keys = map[int]int64{}
	for _, j := range jobs {
		m.Objects = append(m.Objects, j.entry)
		for db, n := range j.entry.Keys {
			m.Keys[db] += n
		}
		m.RawBytes += j.entry.RawBytes
		m.StoredBytes += j.entry.StoredBytes
		m.Source.RDBVersion = max(m.Source.RDBVersion, j.entry.RDBVersion)
	}
	m.Completed = time.Now().UTC()
	m.Duration = time.Since(start).Seconds()
	if err := backup.WriteManifest(ctx, backend, m); err != nil {
		return fmt.Errorf("backup %s: %w", m.ID, err)
	}
	fmt.Fprintln(gopts.stdout, m.ID)
	logBackupSummary(log, m, backend.URL())
	return nil
}

// backupSource connects to --from, a live server (or a Sentinel's
// master), and reads what it is.
func backupSource(c *cli.Context, gopts globalOptions) (*rsync.Endpoint, rsync.Options, string, *rsync.ServerInfo, error) {
	ep, copts, err := endpointOptions("backup", "from", c.String("from"), c.String("from-password-file"), "REDKIT_FROM_PASSWORD", tlsFromFlags(c), c.Duration("timeout"))
	if err != nil {
		return nil, copts, "", nil, err
	}
	addr, info, err := resolveServer(c.Context, ep, &copts)
	if err != nil {
		return nil, copts, "", nil, liveConnectError(gopts, "backup", ep.String(), err)
	}
	return ep, copts, addr, info, nil
}

// snapshotJob is one snapshot of a backup: opened, parsed on the way and
// uploaded as one object.
type snapshotJob struct {
	name   string
	master string   // a live source's address
	slots  [][2]int // a cluster master's slot ranges
	file   string   // a multi-part AOF's file
	role   string   // its role: base or incr
	open   func(ctx context.Context) (r io.Reader, size int64, closeFn func(), err error)
	read   atomic.Int64
	entry  backup.ObjectEntry
	err    error
}

// jobError is a snapshot's failure.
type jobError struct {
	job     *snapshotJob
	connect bool // could not open the snapshot
	err     error
}

func (e *jobError) Error() string {
	if e.job.master != "" {
		return e.job.master + ": " + e.err.Error()
	}
	return e.err.Error()
}
func (e *jobError) Unwrap() error { return e.err }

func (j *snapshotJob) run(ctx context.Context, backend storage.Backend, id string, codec storage.Codec) error {
	snap, _, closeFn, err := j.open(ctx)
	if err != nil {
		return &jobError{job: j, connect: true, err: err}
	}
	defer closeFn()
	ow, err := storage.CreateObject(ctx, backend, backup.Key(id, j.name), codec)
	if err != nil {
		return &jobError{job: j, err: err}
	}
	var src io.Reader = snap
	if j.master != "" {
		src = &sourceReader{r: snap, what: "the snapshot"} // the job's error names the master
	}
	counted := &countio.Reader{R: src, N: &j.read}
	out := teeOutput(counted, ow, "upload to "+backend.URL())
	var keys map[int]int64
	var version int
	var cmds int64
	if j.role == "" {
		keys, version, err = scanSnapshot(out)
	} else {
		keys, version, cmds, err = scanAOFFile(out)
	}
	if err == nil {
		// The rest of the stream, if the parser left any.
		_, err = io.Copy(ow, counted)
	}
	if err != nil {
		ow.Abort(err)
		return &jobError{job: j, err: err}
	}
	if err := ow.Close(); err != nil {
		return &jobError{job: j, err: fmt.Errorf("upload: %w", err)}
	}
	j.entry = backup.NewObjectEntry(j.name, ow)
	j.entry.Keys, j.entry.RDBVersion = keys, version
	j.entry.Master, j.entry.Slots = j.master, j.slots
	if len(j.slots) == 0 {
		j.entry.Master = ""
	}
	j.entry.File, j.entry.Role, j.entry.Commands = j.file, j.role, cmds
	return nil
}

// openAOFSet opens every file a multi-part AOF's manifest lists, before
// reading any: a rewrite that ends meanwhile deletes files, but open
// ones stay readable, so the set stays the one the manifest describes.
// An incr file is taken up to its last complete command when it was
// opened (Redis may be appending to it). A file that vanished between
// the manifest and its opening makes it start over, three times at most.
func openAOFSet(path string, codec storage.Codec) ([]*snapshotJob, string, func(), error) {
	for attempt := 0; ; attempt++ {
		jobs, manifest, closeAll, err := openAOFSetOnce(path, codec)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == 2 {
			return jobs, manifest, closeAll, err
		}
	}
}

func openAOFSetOnce(path string, codec storage.Codec) ([]*snapshotJob, string, func(), error) {
	mpath := path
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		found, _ := filepath.Glob(filepath.Join(path, "*.manifest"))
		if len(found) != 1 {
			return nil, "", nil, fmt.Errorf("%s: want exactly one *.manifest, found %d: %w", path, len(found), fs.ErrNotExist)
		}
		mpath = found[0]
	}
	text, err := os.ReadFile(mpath)
	if err != nil {
		return nil, "", nil, err
	}
	am, err := aof.ParseManifest(bytes.NewReader(text))
	if err != nil {
		return nil, "", nil, fmt.Errorf("%s: %w", mpath, err)
	}
	dir := filepath.Dir(mpath)
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	var jobs []*snapshotJob
	add := func(mf aof.ManifestFile, role string) error {
		f, err := os.Open(filepath.Join(dir, mf.Name))
		if err != nil {
			return fmt.Errorf("file listed in %s: %w", mpath, err)
		}
		files = append(files, f)
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		size := fi.Size()
		if role == "incr" {
			// Up to the last complete command.
			rr := aof.NewRESPReader(io.LimitReader(f, size))
			for {
				if _, err := rr.ReadCommand(); err != nil {
					break
				}
			}
			size = rr.Offset()
		}
		jobs = append(jobs, &snapshotJob{name: "aof/" + mf.Name + codec.Suffix(), file: mf.Name, role: role,
			open: func(context.Context) (io.Reader, int64, func(), error) {
				return io.NewSectionReader(f, 0, size), size, func() {}, nil
			}})
		return nil
	}
	if am.Base != nil {
		if err := add(*am.Base, "base"); err != nil {
			closeAll()
			return nil, "", nil, err
		}
	}
	for _, mf := range am.Incrs {
		if err := add(mf, "incr"); err != nil {
			closeAll()
			return nil, "", nil, err
		}
	}
	return jobs, string(text), closeAll, nil
}

// scanAOFFile checks a file of a multi-part AOF: an RDB (a base, maybe
// with commands after it) or commands, which it counts.
func scanAOFFile(r io.Reader) (map[int]int64, int, int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var keys map[int]int64
	version := 0
	var rest io.Reader = br
	if head, err := br.Peek(5); err == nil && string(head) == "REDIS" {
		var err error
		if keys, version, rest, err = scanRDB(br); err != nil {
			return nil, 0, 0, err
		}
	}
	cr := aof.NewRESPReader(rest)
	var n int64
	for {
		_, err := cr.ReadCommand()
		if errors.Is(err, io.EOF) {
			return keys, version, n, nil
		}
		if err != nil {
			if ioe, ok := errors.AsType[*ioError](err); ok {
				return nil, 0, n, ioe
			}
			return nil, 0, n, fmt.Errorf("not a valid AOF: %w", err)
		}
		n++
	}
}

// ioError is a failure of the output a scan's input is copied to (a
// file, a storage), or of the source it reads (a replication link), as
// opposed to bytes that do not parse: reported as what failed, not as a
// snapshot that is not valid.
type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

// writeWhat names the write to an output path ("-": standard output)
// for teeOutput.
func writeWhat(path string) string {
	if path == "" || path == "-" {
		return "write to standard output"
	}
	return "write " + path
}

// teeOutput is io.TeeReader whose failed writes come out as an *ioError
// saying "<what>: <the write's error>", what naming the output ("write
// /var/backups/dump.rdb", "upload to s3://bucket/prefix/").
func teeOutput(r io.Reader, w io.Writer, what string) io.Reader {
	return &tee{r: r, w: w, what: what}
}

type tee struct {
	r    io.Reader
	w    io.Writer
	what string
}

func (t *tee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		if _, werr := t.w.Write(p[:n]); werr != nil {
			// The file's own name is the temporary one: what names it.
			if pe, ok := werr.(*fs.PathError); ok {
				werr = pe.Err
			}
			return n, &ioError{err: fmt.Errorf("%s: %w", t.what, werr)}
		}
	}
	return n, err
}

// sourceReader marks the failed reads of a snapshot's source (not its
// end) as *ioError, naming the source.
type sourceReader struct {
	r    io.Reader
	what string
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	switch {
	case err == nil || err == io.EOF:
	case errors.Is(err, io.ErrUnexpectedEOF):
		// Not wrapped: the RDB reader would call it a truncated input.
		err = &ioError{err: fmt.Errorf("read %s: the link closed before its end (%v)", s.what, err)}
	default:
		err = &ioError{err: fmt.Errorf("read %s: %w", s.what, err)}
	}
	return n, err
}

// scanSnapshot reads an RDB stream to its end, checking it (CRC64
// included) and counting keys per database.
func scanSnapshot(r io.Reader) (map[int]int64, int, error) {
	keys, version, _, err := scanRDB(r)
	return keys, version, err
}

// scanRDB is scanSnapshot, and what follows the RDB in r.
func scanRDB(r io.Reader) (map[int]int64, int, io.Reader, error) {
	rr := rdb.NewReader(r)
	keys := map[int]int64{}
	for {
		rec, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return keys, rr.Version(), rr.Rest(), nil
		}
		if err != nil {
			if ioe, ok := errors.AsType[*ioError](err); ok {
				return nil, 0, nil, ioe // the output or the source failed, not the snapshot
			}
			if ne := net.Error(nil); errors.As(err, &ne) {
				return nil, 0, nil, fmt.Errorf("reading the snapshot: %w", err) // the link, not the RDB
			}
			return nil, 0, nil, fmt.Errorf("the snapshot is not a valid RDB: %w", err)
		}
		if rec.Kind == rdb.KindKey {
			keys[rec.DB]++
		}
	}
}

func logBackupSummary(log *slog.Logger, m *backup.Manifest, url string) {
	log.Info("backup complete", "id", m.ID, "url", url, "keys", m.TotalKeys(), "raw_bytes", m.RawBytes, "stored_bytes", m.StoredBytes,
		"compression", m.Compression, "encrypted", m.Encryption != nil, "seconds", strconv.FormatFloat(m.Duration, 'f', 2, 64))
}

// liveConnectError explains a failure to reach a server, with a hint
// when there is one; never with a password.
func liveConnectError(gopts globalOptions, cmd, ep string, err error) error {
	if h := connectHint(err); h != "" {
		fmt.Fprintf(gopts.stderr, "redkit: %s: %s: %s\nhint: %s\n", cmd, ep, rsync.Redact(err.Error()), h)
		return reportedError(exitError, err)
	}
	return fmt.Errorf("%s: %s: %s", cmd, ep, rsync.Redact(err.Error()))
}

func runBackupList(c *cli.Context, gopts globalOptions) error {
	if c.Args().Len() != 1 {
		return usageErrorf("backup list: one STORAGE_URL, please")
	}
	format := c.String("format")
	if format != "text" && format != "json" {
		return usageErrorf("backup list: --format %q: want text or json", format)
	}
	b, err := openStorage(c.Context, c, c.Args().First())
	if err != nil {
		return err
	}
	l, err := backup.List(c.Context, b)
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
	gens, err := backup.ListGenerations(c.Context, b, l)
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

func runBackupPrune(c *cli.Context, gopts globalOptions) error {
	ctx := c.Context
	if c.Args().Len() != 1 {
		return usageErrorf("backup prune: one STORAGE_URL, please")
	}
	p := backup.Policy{Last: c.Int("keep-last"), Daily: c.Int("keep-daily"), Weekly: c.Int("keep-weekly")}
	if v := c.String("keep-within"); v != "" {
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
	format := c.String("format")
	if format != "text" && format != "json" {
		return usageErrorf("backup prune: --format %q: want text or json", format)
	}
	b, err := openStorage(ctx, c, c.Args().First())
	if err != nil {
		return err
	}
	log := newLogger(gopts.stderr, "text", false)
	dry := c.Bool("dry-run")
	if !dry {
		lock, err := lockStorage(ctx, b, "prune", c.Duration("lock-timeout"), log)
		if err != nil {
			return err
		}
		defer releaseLock(ctx, lock, log)
	}
	l, err := backup.List(ctx, b)
	if err != nil {
		return fmt.Errorf("backup prune: %w", err)
	}
	type row struct {
		ID      string   `json:"id"`
		Started string   `json:"started"`
		Action  string   `json:"action"` // keep, delete, would-delete
		Reasons []string `json:"reasons,omitempty"`
	}
	gens, err := backup.ListGenerations(ctx, b, l)
	if err != nil {
		return fmt.Errorf("backup prune: %w", err)
	}
	until := map[string]time.Time{}
	for _, g := range gens {
		until[g.ID()] = g.Until()
	}
	var rows []row
	deleted := 0
	for _, d := range p.Apply(l.Backups, until) {
		r := row{ID: d.Backup.ID, Started: d.Backup.Started.Format(time.RFC3339), Action: "keep", Reasons: d.Reasons}
		if !d.Keep {
			r.Action = "delete"
			if dry {
				r.Action = "would-delete"
			} else if err := backup.DeleteBackup(ctx, b, d.Backup); err != nil {
				return fmt.Errorf("backup prune: %w (%d deleted before it)", err, deleted)
			} else {
				deleted++
			}
		}
		rows = append(rows, r)
	}
	// Segments whose base is gone (a prune cut short) restore nothing.
	orphans, err := backup.OrphanGenerations(ctx, b, l)
	if err != nil {
		return fmt.Errorf("backup prune: %w", err)
	}
	for _, gen := range orphans {
		r := row{ID: gen, Action: "delete", Reasons: []string{"segments without their base"}}
		if dry {
			r.Action = "would-delete"
		} else if err := backup.DeleteSegments(ctx, b, gen); err != nil {
			return fmt.Errorf("backup prune: %w (%d deleted before it)", err, deleted)
		}
		rows = append(rows, r)
	}
	if len(l.Incomplete) > 0 {
		fmt.Fprintf(gopts.stderr, "redkit: backup prune: %d incomplete backup(s) left alone: %s\n", len(l.Incomplete), strings.Join(l.Incomplete, ", "))
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

func runBackupVerify(c *cli.Context, gopts globalOptions) error {
	ctx := c.Context
	if c.Args().Len() != 1 {
		return usageErrorf("backup verify: one STORAGE_URL[/ID|@latest], please")
	}
	url, id := splitBackupRef(c.Args().First())
	b, err := openStorage(ctx, c, url)
	if err != nil {
		return err
	}
	m, err := backup.Resolve(ctx, b, id)
	if err != nil {
		return fmt.Errorf("backup verify: %w", err)
	}
	ids, err := identitiesFromFlags(c)
	if err != nil {
		return err
	}
	if m.Encryption != nil && len(ids) == 0 {
		return usageErrorf("backup verify: backup %s is encrypted with age (to %v): give its identity with --identity-file", m.ID, m.Encryption.Recipients)
	}
	for _, e := range m.Objects {
		if err := verifyObject(c, b, m, e, storage.Codec{Identities: ids}); err != nil {
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
	// A continuous backup's base: its generation's segments too, each
	// read whole (SHA-256, record CRCs).
	segs, gerr := backup.GenerationSegments(ctx, b, m)
	for _, si := range segs {
		if err := backup.VerifySegment(ctx, b, si, m.Compression, storage.Codec{Identities: ids}); err != nil {
			fmt.Fprintf(gopts.stderr, "redkit: backup verify: generation %s: %v\n", m.ID, err)
			return reportedError(exitError, err)
		}
	}
	var cmds, stored int64
	for _, s := range segs {
		cmds, stored = cmds+s.Records, stored+s.StoredBytes
	}
	if gerr != nil {
		fmt.Fprintf(gopts.stderr, "redkit: backup verify: generation %s: %v\n", m.ID, gerr)
		return reportedError(exitError, gerr)
	}
	fmt.Fprintf(gopts.stdout, "ok  %s: %d segment(s), %s stored, %d records, SHA-256 and CRC-32C of each\n", m.ID, len(segs), bytesize.Format(stored), cmds)
	return nil
}

func sumKeys(keys map[int]int64) int64 {
	var n int64
	for _, k := range keys {
		n += k
	}
	return n
}

// sourceLabel is a short name of a backup's source.
func sourceLabel(s backup.SourceInfo) string {
	if s.Kind == "live" && s.Host != "" {
		if h, p, err := net.SplitHostPort(s.Host); err == nil {
			return h + ":" + p
		}
		return s.Host
	}
	return s.URL
}
