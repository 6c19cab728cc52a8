package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/rdb"
	rsync "github.com/redkit/redkit/sync"
)

func newSyncCommand(gopts globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "sync",
		Usage: "mirror a live Redis into another as its replica: full sync, then the command stream, resumable",
		UsageText: `redkit sync --from URL --to URL [--checkpoint FILE] [--until-caught-up] [--status-addr HOST:PORT]

examples:
   redkit sync --from redis://10.0.0.5:6379 --to redis://10.0.0.9:6379 --checkpoint /var/lib/redkit/orders.json
   REDKIT_FROM_PASSWORD=s1 REDKIT_TO_PASSWORD=s2 redkit sync --from redis://default@old:6379 --to redis://default@new:6379 --until-caught-up
   redkit sync --from redis://old:6379 --to redis://new:6379 --until-caught-up --format json --log-format json > report.json
   redkit sync --check --from redis://old:6379 --to redis://new-cluster-node:7000
   redkit sync --mode native --from redis://old:6379 --to redis://new:6379 --flush-target --until-caught-up
   redkit sync --mode scan --from rediss://user@managed.example.com:6379 --to redis://new:6379 --until-caught-up
   redkit sync --from redis+sentinel://s1:26379,s2:26379/mymaster --to rediss://new.example.com:6380 --status-addr 127.0.0.1:9121 --log-format json`,
		Description: `Connects to the source as one of its replicas (REPLCONF, PSYNC), loads
the snapshot of the full resynchronization into the target as it
streams in (RESTORE of each key, never spooled to disk), then applies the
source's command stream in order, transactions kept whole, acknowledging
the offset applied every second. The source keeps taking writes all
along.

Resume: the position (the source's replication ID and the offset of the
last command applied) is kept in two places. On the target, the key
redkit:sync:<name> (db 0) is written in the same MULTI/EXEC as every batch
of commands it covers, so the target holds the commands and their
position or neither: a restart after kill -9, a cut link or a crash
continues with PSYNC from exactly there, and the source answers
+CONTINUE while its backlog (repl-backlog-size) still holds that offset.
Nothing is lost and nothing is applied twice. --checkpoint FILE keeps a
copy every second and on stopping; with --target-checkpoint=false it is
the only one, and a restart after kill -9 may apply up to a second of
commands again (at least once). When the source answers FULLRESYNC (a
new replication ID after a restart without its data, a backlog
overrun), the full sync starts over and the log says so; keys the
source deleted in between stay on the target unless --flush-target.

Network errors, a source or target restarting or loading, and Sentinel
failovers (redis+sentinel:// follows the new master) are retried with
backoff up to 30 s, for --retry-for (default: forever). A command the
target refuses (WRONGTYPE: the target changed under the sync) stops the
sync with the command and its offset. SIGINT or SIGTERM applies what was
read, saves the position and exits 0. --until-caught-up exits 0 once the
target has every command the source had when the stream started.

--mode native makes the target a replica of redkit (REPLICAOF, with a
one-time masterauth) and relays the source's replication link to it byte
for byte: the target loads the snapshot itself, as fast as its own dump
at start-up, and applies the stream as a replica does. Its data is
replaced by the source's (a target holding keys needs --flush-target),
it is read-only until promoted, nothing can be filtered or mapped, both
sides are standalone, and it must reach redkit at --native-addr. Its own
replication ID and offset are the position: running the command again
after kill -9 continues exactly once. --until-caught-up promotes it
(REPLICAOF NO ONE) once caught up; SIGINT leaves it a replica, ready to
continue.

--check connects to both sides and reports, before a byte moves, whether
the sync can work: versions and RESTORE compatibility, the target's room
(maxmemory less used_memory) against the source's data set, modules,
ACL rights on both sides (ACL DRYRUN), a cluster's slot coverage,
databases a cluster target cannot take, the source's biggest key
(MEMORY USAGE over up to 100,000 keys per database) against the target's
proto-max-bulk-len, and a sample of 1,000 source keys that already exist
on the target. It exits 0 only if nothing failed (warnings allowed).

--mode scan is for sources that refuse replication (managed services,
proxies, ACL users without +psync), which the other modes cannot read:
the error names it, nothing falls back by itself. It subscribes to the
source's keyspace notifications (each master of a cluster), then reads
every key (SCAN, DUMP, PEXPIRETIME) into the target (RESTORE ... ABSTTL
REPLACE, or commands), while each notified key is read again and written
again, or deleted when it is gone; a burst on one key is read once. The
source needs notify-keyspace-events with K and A ("AK"): redkit sets it
when CONFIG SET is allowed and puts the old value back when it ends;
where CONFIG is refused it writes and deletes a probe key
(redkit:probe:*) to see one notified, and refuses with the exact value
to set otherwise (managed services have it in their parameter group;
--assume-notifications goes on when nothing can check it). A lost
subscription is taken again and every key read again (a rescan, in the
log and the status), deleting from the target the keys the source no
longer has. --until-caught-up ends once every key was read, every
notified key applied, and no notification came for --quiet-period. The
guarantee: the target converges to the source once writes pause; each
key is copied whole, as of when it was read; no transaction is kept,
nothing is exactly once. FLUSHDB and FLUSHALL on the source are not seen.

PUBLISH messages are dropped (they are not data) unless --forward-pubsub.

Filters apply to the full sync's keys and to the stream alike: --db,
--match, --regex, --type and --exclude select keys (in the stream, by the
key arguments the source's COMMAND table names, and by the command's type
for --type: generic commands such as DEL or EXPIRE go by their keys
only), --db-map moves databases, --deny-command drops commands. A
multi-key command with keys on both sides of the filter keeps only its
kept keys when it can (DEL, UNLINK, EXISTS, TOUCH, MSET); any other such
command (RENAME out of the filter) stops the sync with its offset, rather
than copy half of it. Inside a transaction each command is filtered on
its own. Filtered commands are counted as skipped in the status.
--status-addr serves a status page at / (phase, lag, throughput, charts
of the last ten minutes; self-contained, no network), GET /status
(JSON), /status/history and /metrics (Prometheus):
phase, full-sync bytes and keys, offsets, lag in bytes and seconds,
commands, errors and reconnects.

When it ends (caught up, stopped, or failed) sync logs its report: the
last full sync's keys and bytes, commands applied and skipped, lag,
reconnects, seconds. With --format json the report is also one JSON
object on standard output: the fields of GET /status, plus "result"
("caught up", "stopped" or "failed"), "error", "from", "to", "mode" and
"seconds". With --log-format json every line on stderr is JSON, the
final error and its hint included. A source with repl-diskless-sync yes
waits repl-diskless-sync-delay seconds (5 by default) before it sends a
snapshot, for more replicas to join: the log says so after a second.

Clusters: a cluster source gets one replication link per master (found
with CLUSTER SLOTS, each followed through failovers), all in parallel,
each with its own position (key redkit:sync:NAME:slotN, file
FILE.slotN.json); FLUSHALL and FLUSHDB from a cluster source are not
applied, since one shard's would empty the others' keys. A cluster target
gets each command on its slot's master (MOVED and ASK followed);
multi-key commands across slots are split when that keeps their meaning
(DEL, UNLINK, EXISTS, TOUCH, MSET) and stop the sync otherwise; a source
transaction is applied per slot, each slot's part atomically as one
script, with a warning when it spans slots (--strict refuses it). On a
cluster target the position is saved beside the data, not with it: after
kill -9 up to a second of commands is applied again (at least once). A
cluster has only database 0: choose others with --db and --db-map.

URL forms as for restore; REDKIT_FROM_PASSWORD, --from-password-file,
REDKIT_TO_PASSWORD and --to-password-file keep passwords off the command
line. The source's user needs +psync +replconf +ping +info; the target's
needs +multi +exec +select +set +get +del +restore and whatever the
stream writes.

` + passwordRule + `

` + exitCodesHelp + `
   0 also when stopped by SIGINT or SIGTERM: the position is saved.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "from", EnvVars: []string{"REDKIT_FROM_URL"}, Usage: "source `URL`: redis://, rediss:// or redis+sentinel://"},
			&cli.StringFlag{Name: "to", EnvVars: []string{"REDKIT_TO_URL"}, Usage: "target `URL`: redis:// or rediss:// of a master or of any node of a cluster, or redis+sentinel:// (its master when the sync starts); --mode native: a standalone master"},
			&cli.StringFlag{Name: "from-password-file", Usage: "read the source's password from `FILE` (REDKIT_FROM_PASSWORD also works); the URL's bare userinfo (redis://USER@host) is then the user"},
			&cli.StringFlag{Name: "to-password-file", Usage: "read the target's password from `FILE` (REDKIT_TO_PASSWORD also works); the URL's bare userinfo (redis://USER@host) is then the user"},
			&cli.StringFlag{Name: "checkpoint", EnvVars: []string{"REDKIT_CHECKPOINT"}, Usage: "keep the position in `FILE` too (written atomically every second)"},
			&cli.BoolFlag{Name: "target-checkpoint", Value: true, Usage: "keep the position on the target, in the key redkit:sync:NAME, written with each batch (exactly once)"},
			&cli.StringFlag{Name: "name", Usage: "`NAME` of this sync in its checkpoint key (default: the source's host:port or Sentinel master name)"},
			&cli.BoolFlag{Name: "until-caught-up", Usage: "stop once the target has caught up with the source (one-off migrations)"},
			&cli.StringFlag{Name: "spool-dir", Usage: "write the snapshot to a file in `DIR` first, then load it (for a target slower than the source's replica output buffer allows)"},
			&cli.BoolFlag{Name: "flush-target", Usage: "empty the target (FLUSHALL) before each full sync"},
			&cli.BoolFlag{Name: "forward-pubsub", Usage: "republish the source's PUBLISH messages on the target"},
			&cli.BoolFlag{Name: "check", Usage: "check whether the sync can work (versions, memory, modules, ACLs, slots, databases, biggest key, existing keys), then exit: 0 if it can"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "the --check report's and the final report's `FORMAT`: text, or json (one object on standard output)"},
			&cli.BoolFlag{Name: "strict", Usage: "cluster target: refuse a source transaction spanning several slots instead of applying it per slot"},
			&cli.StringFlag{Name: "mode", Value: rsync.ModeAuto, Usage: "full sync `MODE`: auto (RESTORE when the target can load the payload), restore, commands, native (the target becomes a replica of redkit and loads the snapshot itself), or scan (read keys and follow keyspace notifications, for sources that refuse replication)"},
			&cli.DurationFlag{Name: "quiet-period", Value: time.Second, EnvVars: []string{"REDKIT_QUIET_PERIOD"}, Usage: "--mode scan --until-caught-up: end after `DURATION` without a notification, once every key is read and applied"},
			maxDumpFlag(),
			&cli.BoolFlag{Name: "assume-notifications", EnvVars: []string{"REDKIT_ASSUME_NOTIFICATIONS"}, Usage: "--mode scan: go on when nothing can check the source's keyspace notifications (CONFIG and the probe key refused)"},
			&cli.StringFlag{Name: "native-addr", Usage: "--mode native: `HOST:PORT` redkit listens on for the target's replication link, given to the target (default: redkit's address towards the target, any port)"},
			&cli.DurationFlag{Name: "retry-for", DefaultText: "never", Usage: "give up after `DURATION` of failed reconnects"},
			&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: timeoutUsage + "; a stalled replication link is then reconnected (see --retry-for)"},
			&cli.StringFlag{Name: "status-addr", Usage: "serve a status page (/), /status (JSON), /status/history and /metrics (Prometheus) on `HOST:PORT`"},
			logFormatFlag(),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"REDKIT_QUIET"}, Usage: "no progress bar, warnings and errors only"},
			&cli.StringSliceFlag{Name: "exclude", Category: filterCategory, Usage: "leave out keys matching the glob `PATTERN` (repeatable)"},
			&cli.StringSliceFlag{Name: "db-map", Category: filterCategory, Usage: "`SRC=DST`: write the source's database SRC to the target's database DST (repeatable)"},
			&cli.StringFlag{Name: "deny-command", Category: filterCategory, Usage: "never apply these `COMMANDS` (comma-separated, e.g. FLUSHALL,FLUSHDB); each one skipped is logged"},
		}, append(tlsFlags(), filterFlags()...)...),
		Action: func(c *cli.Context) error {
			return runSync(c.Context, gopts, syncOptionsFromFlags(c), c.Args().Slice())
		},
	}
}

// syncOptions are sync's flags as given; runSync checks them.
type syncOptions struct {
	from, to                         string
	fromPasswordFile, toPasswordFile string
	tls                              rsync.TLSOptions
	timeout                          time.Duration
	checkpoint                       string
	targetCheckpoint                 bool
	name                             string
	untilCaughtUp                    bool
	spoolDir                         string
	flushTarget, forwardPubSub       bool
	check                            bool
	format                           string // --check's report
	strict                           bool
	mode                             string
	nativeAddr                       string
	retryFor                         time.Duration
	statusAddr                       string
	logFormat                        string
	quiet                            bool
	filter                           filterValues
	exclude, dbMap                   []string
	denyCommand                      string
	quietPeriod                      time.Duration
	maxDump                          string // --mode scan: a size
	assumeNotifications              bool
	// set are the flags given, of those that depend on --mode: the
	// flags a native or scan sync refuses, --native-addr, and the scan
	// sync's own.
	set []string
}

func syncOptionsFromFlags(c *cli.Context) syncOptions {
	opts := syncOptions{
		from: c.String("from"), to: c.String("to"),
		fromPasswordFile: c.String("from-password-file"), toPasswordFile: c.String("to-password-file"),
		tls: tlsFromFlags(c), timeout: c.Duration("timeout"),
		checkpoint: c.String("checkpoint"), targetCheckpoint: c.Bool("target-checkpoint"), name: c.String("name"),
		untilCaughtUp: c.Bool("until-caught-up"), spoolDir: c.String("spool-dir"),
		flushTarget: c.Bool("flush-target"), forwardPubSub: c.Bool("forward-pubsub"),
		check: c.Bool("check"), format: c.String("format"), strict: c.Bool("strict"),
		mode: c.String("mode"), nativeAddr: c.String("native-addr"), retryFor: c.Duration("retry-for"),
		statusAddr: c.String("status-addr"), logFormat: c.String("log-format"), quiet: c.Bool("quiet"),
		filter: filterFlagValues(c), exclude: c.StringSlice("exclude"), dbMap: c.StringSlice("db-map"),
		denyCommand: c.String("deny-command"),
		quietPeriod: c.Duration("quiet-period"), assumeNotifications: c.Bool("assume-notifications"),
		maxDump: c.String("max-dump"),
	}
	for _, f := range slices.Concat(nativeRefusedFlags(), []string{"native-addr"}, scanRefusedFlags(), scanOnlyFlags()) {
		if slices.Contains(opts.set, f) {
			continue
		}
		if c.IsSet(f) {
			opts.set = append(opts.set, f)
		}
	}
	return opts
}

// runSync runs a sync (or its --check): args must be empty, the source
// and target are in opts.
func runSync(ctx context.Context, gopts globalOptions, opts syncOptions, args []string) error {
	if len(args) > 0 {
		return usageErrorf("sync: unexpected argument %q: the source and target are --from and --to", args[0])
	}
	from, fromOpts, err := endpointOptions("sync", "from", opts.from, opts.fromPasswordFile, "REDKIT_FROM_PASSWORD", opts.tls, opts.timeout)
	if err != nil {
		return err
	}
	to, toOpts, err := endpointOptions("sync", "to", opts.to, opts.toPasswordFile, "REDKIT_TO_PASSWORD", opts.tls, opts.timeout)
	if err != nil {
		return err
	}
	if to.DBSet && to.DB != 0 || from.DBSet && from.DB != 0 {
		return usageErrorf("sync: every database of the source goes to the same database of the target: leave the database out of the URLs")
	}
	if opts.logFormat != "text" && opts.logFormat != "json" {
		return usageErrorf("sync: --log-format %q: want text or json", opts.logFormat)
	}
	if opts.format != "text" && opts.format != "json" {
		return usageErrorf("sync: --format %q: want text or json", opts.format)
	}
	mode := opts.mode
	switch mode {
	case rsync.ModeAuto, rsync.ModeRestore, rsync.ModeCommands, modeNative, modeScan:
	default:
		return usageErrorf("sync: --mode %q: want auto, restore, commands, native or scan", mode)
	}
	if mode == modeScan {
		if err := scanFlagsOK(opts.set); err != nil {
			return err
		}
		if opts.quietPeriod <= 0 {
			return usageErrorf("sync: --quiet-period %s: want a positive duration", opts.quietPeriod)
		}
	} else {
		for _, f := range scanOnlyFlags() {
			if slices.Contains(opts.set, f) {
				return usageErrorf("sync: --%s goes with --mode scan", f)
			}
		}
	}
	if mode == modeNative {
		if err := nativeFlagsOK(opts.set); err != nil {
			return err
		}
	} else if slices.Contains(opts.set, "native-addr") {
		return usageErrorf("sync: --native-addr goes with --mode native")
	}
	filter, err := syncFilter(opts, gopts.now)
	if err != nil {
		return err
	}
	log := newLogger(gopts.stderr, opts.logFormat, opts.quiet)

	srcAddr, srcInfo, err := rsync.Resolve(ctx, from, &fromOpts, rsync.ConnectRetryFor, nil)
	if err != nil {
		return syncConnectError(gopts, "source", from, err)
	}
	dstAddr, dstInfo, err := rsync.Resolve(ctx, to, &toOpts, rsync.ConnectRetryFor, nil)
	if err != nil {
		return syncConnectError(gopts, "target", to, err)
	}
	if srcAddr == dstAddr {
		return usageErrorf("sync: the source and the target are the same server (%s)", srcAddr)
	}
	name := opts.name
	if name == "" {
		name = from.Master
		if name == "" {
			name = srcAddr
		}
	}
	so := rsync.SyncOptions{
		Source: func(ctx context.Context) (string, error) {
			return rsync.ResolveSentinel(ctx, from, &fromOpts)
		},
		LinkTimeout:    linkTimeoutOf(opts.timeout),
		SourceName:     from.String(),
		SourceConn:     fromOpts,
		Target:         dstAddr,
		TargetConn:     toOpts,
		Restore:        rsync.RestoreOptions{Mode: mode, Conflict: rsync.ConflictReplace},
		CheckpointFile: opts.checkpoint,
		FlushTarget:    opts.flushTarget,
		SpoolDir:       opts.spoolDir,
		UntilCaughtUp:  opts.untilCaughtUp,
		RetryFor:       opts.retryFor,
		ForwardPubSub:  opts.forwardPubSub,
		Filter:         filter,
		Log:            log,
		TargetCluster:  dstInfo.Cluster,
		Strict:         opts.strict,
	}
	if opts.targetCheckpoint {
		so.CheckpointKey = rsync.CheckpointKey(name)
	}
	if opts.check {
		srcAddrs := []string{srcAddr}
		if srcInfo.Cluster {
			shards, err := rsync.ClusterShards(ctx, srcAddr, &fromOpts)
			if err != nil {
				return syncConnectError(gopts, "source", from, err)
			}
			srcAddrs = srcAddrs[:0]
			for _, sh := range shards {
				srcAddrs = append(srcAddrs, sh.Master)
			}
		}
		return runSyncCheck(ctx, gopts, log, opts.format, &checkSide{name: from.String(), addr: srcAddr, info: srcInfo, opts: &fromOpts},
			&checkSide{name: to.String(), addr: dstAddr, info: dstInfo, opts: &toOpts}, srcAddrs, so)
	}
	started := time.Now()
	if mode == modeScan {
		return runScanSync(ctx, gopts, opts, log, from, to, fromOpts, toOpts, srcAddr, srcInfo, dstInfo, dstAddr, filter)
	}
	if mode == modeNative {
		so.OnSnapshotWait = snapshotWaitNote(ctx, fromOpts, log.Info)
		return runNativeSync(ctx, gopts, opts, log, from, to, fromOpts, toOpts, srcInfo, dstInfo, dstAddr, so)
	}
	if dstInfo.Role != "" && dstInfo.Role != "master" {
		return &codedError{code: exitError, err: fmt.Errorf("sync: the target %s is a replica (read-only): point --to at a master", to)}
	}
	so.OnSnapshotWait = snapshotWaitNote(ctx, fromOpts, log.Info)
	if so.CheckpointFile == "" && so.CheckpointKey == "" && !so.UntilCaughtUp {
		log.Warn("no checkpoint: a restart will begin with a full sync (use --checkpoint FILE or keep --target-checkpoint)")
	}
	so.Restore.MemoryHint = memoryHint()
	var syncers []*rsync.Syncer
	if !srcInfo.Cluster {
		syncers = append(syncers, rsync.NewSyncer(so))
	} else {
		// One replication link per master, each with its own position.
		shards, err := rsync.ClusterShards(ctx, srcAddr, &fromOpts)
		if err != nil {
			return syncConnectError(gopts, "source", from, err)
		}
		if so.Filter == nil {
			so.Filter = &rsync.SyncFilter{}
		}
		for _, d := range []string{"FLUSHALL", "FLUSHDB"} {
			if !slices.Contains(so.Filter.Deny, d) {
				so.Filter.Deny = append(so.Filter.Deny, d)
			}
		}
		log.Info("cluster source: one link per master; FLUSHALL and FLUSHDB are not applied (one shard's would empty the others' keys)", "masters", len(shards))
		for _, sh := range shards {
			o := so
			o.Source = rsync.ShardResolver([]string{srcAddr}, sh.FirstSlot, &fromOpts)
			o.SourceName = fmt.Sprintf("%s (slot %d)", sh.Master, sh.FirstSlot)
			if o.CheckpointKey != "" {
				o.CheckpointKey = rsync.CheckpointKey(fmt.Sprintf("%s:slot%d", name, sh.FirstSlot))
			}
			o.CheckpointFile = rsync.ShardFile(o.CheckpointFile, sh.FirstSlot)
			o.Log = log.With("shard", sh.FirstSlot)
			syncers = append(syncers, rsync.NewSyncer(o))
		}
	}
	status := func() rsync.SyncStatus {
		sts := make([]rsync.SyncStatus, len(syncers))
		for i, s := range syncers {
			sts[i] = s.Status()
		}
		return rsync.Aggregate(sts)
	}
	if addr := opts.statusAddr; addr != "" {
		metrics := newSyncMetrics(status)
		for _, s := range syncers {
			s.Latency = metrics.observe
		}
		stop, bound, err := serveStatus(addr, func() any { return status() }, metrics.reg, log)
		if err != nil {
			return usageErrorf("sync: --status-addr %s: %v", addr, err)
		}
		defer stop()
		log.Info("status served", "page", "http://"+bound+"/", "url", "http://"+bound+"/status", "metrics", "http://"+bound+"/metrics")
	}
	log.Info("sync", "from", from.String(), "to", to.String(), "source_version", srcInfo.Version, "target_version", dstInfo.Version,
		"source_cluster", srcInfo.Cluster, "target_cluster", dstInfo.Cluster, "checkpoint_key", so.CheckpointKey, "checkpoint_file", so.CheckpointFile)
	stopBar := syncProgress(gopts, opts.quiet, status)
	err = withAdvice(rsync.RunAll(ctx, syncers))
	stopBar()
	st := status()
	rep := syncReport{From: from.String(), To: to.String(), Mode: mode, SyncStatus: st}
	rep.finish(ctx, started, err)
	if opts.format == "json" {
		writeSyncReport(gopts, &rep)
	}
	if err != nil {
		var ae *rsync.ApplyError
		if errors.As(err, &ae) {
			hint := "the target no longer matches the source (something else wrote to it?); fix that key on the target and run again: the sync continues after the batch that failed"
			if rsync.ErrorCode(err) == "OOM" {
				// Refused as it was queued: the batch's transaction did not
				// run, and the target's checkpoint did not move.
				hint = "the target is out of memory (its maxmemory): raise maxmemory or free room on the target and run again: the sync resumes from its checkpoint, before the batch that failed, and applies that batch again"
				if so.CheckpointKey != "" {
					hint += " (none of it was applied: it was one transaction with the checkpoint)"
				}
			}
			return failed(gopts, exitError, err, "sync: "+rsync.Redact(err.Error()), hint)
		}
		if rsync.ReplicationRefused(err) {
			// Never a silent fallback: the other mode's guarantee differs.
			return failed(gopts, exitError, err, fmt.Sprintf("sync %s -> %s: the source refuses replication: %s", from, to, rsync.Redact(err.Error())),
				"--mode scan reads its keys and follows its keyspace notifications instead: the target converges once writes pause, each key copied whole, no transaction kept (see sync --help)")
		}
		if h := connectHint(err); h != "" {
			return failed(gopts, exitError, err, fmt.Sprintf("sync %s -> %s: %s", from, to, rsync.Redact(err.Error())), h)
		}
		return fmt.Errorf("sync %s -> %s: %s", from, to, rsync.Redact(err.Error()))
	}
	log.Info("sync "+rep.Result, rep.logAttrs()...)
	return nil
}

// syncFilter builds the filter of the full sync and the stream.
func syncFilter(opts syncOptions, now time.Time) (*rsync.SyncFilter, error) {
	kf, err := opts.filter.filter(now)
	if err != nil {
		return nil, err
	}
	if kf.MinSize > 0 || kf.Expired != rdb.ExpiredInclude {
		return nil, usageErrorf("sync: --min-size and --expired do not apply to a live stream")
	}
	f := &rsync.SyncFilter{Keys: kf, Exclude: opts.exclude}
	if f.DBMap, err = parseDBMap(opts.dbMap); err != nil {
		return nil, err
	}
	for _, name := range strings.Split(opts.denyCommand, ",") {
		if name = strings.TrimSpace(name); name != "" {
			f.Deny = append(f.Deny, strings.ToUpper(name))
		}
	}
	return f, nil
}

func syncConnectError(gopts globalOptions, side string, ep *rsync.Endpoint, err error) error {
	if h := connectHint(err); h != "" {
		return failed(gopts, exitError, err, fmt.Sprintf("sync: %s %s: %s", side, ep, rsync.Redact(err.Error())), h)
	}
	return fmt.Errorf("sync: %s %s: %s", side, ep, rsync.Redact(err.Error()))
}

// syncProgress draws a bar of the full sync on a terminal, never in
// --log-format json.
func syncProgress(gopts globalOptions, quiet bool, status func() rsync.SyncStatus) func() {
	quiet = quiet || gopts.logFormat == "json"
	return drawSyncProgress(func(total int64) *progress { return startProgress(gopts.stderr, quiet, "full sync", total) }, status, 200*time.Millisecond)
}

// runSyncCheck runs sync --check. The report goes to stdout; its verdict
// line, printed on stderr for a person, is a log record with
// --log-format json.
func runSyncCheck(ctx context.Context, gopts globalOptions, log *slog.Logger, format string, src, dst *checkSide, srcAddrs []string, so rsync.SyncOptions) error {
	if gopts.logFormat != "json" {
		return syncCheck(ctx, gopts, format, src, dst, srcAddrs, so)
	}
	var verdict bytes.Buffer
	cg := gopts
	cg.stderr = &verdict
	err := syncCheck(ctx, cg, format, src, dst, srcAddrs, so)
	var ce *codedError
	switch {
	case err == nil:
		logLines(log, slog.LevelInfo, verdict.String())
	case errors.As(err, &ce) && ce.reported:
		logLines(log, slog.LevelError, verdict.String(), "exit_code", ce.code)
	default:
		logLines(log, slog.LevelError, verdict.String())
	}
	return err
}

// syncReport is what a sync did, printed when it ends: the status's
// counts (keys and bytes of the last full sync, commands, lag), how it
// ended, and how long it ran. With --format json it is one JSON object
// on stdout, the fields of GET /status plus these.
type syncReport struct {
	Result  string  `json:"result"` // "caught up", "stopped" (SIGINT or SIGTERM), or "failed"
	Error   string  `json:"error,omitempty"`
	From    string  `json:"from"`
	To      string  `json:"to"`
	Mode    string  `json:"mode"`
	Seconds float64 `json:"seconds"`
	rsync.SyncStatus
	// ScanCounts are --mode scan's counts (nil in the other modes).
	*rsync.ScanCounts
}

// finish sets how the sync ended.
func (r *syncReport) finish(ctx context.Context, started time.Time, err error) {
	r.Seconds = math.Round(time.Since(started).Seconds()*1000) / 1000
	switch {
	case err != nil:
		r.Result, r.Error = "failed", rsync.Redact(err.Error())
	case ctx.Err() != nil:
		r.Result = "stopped"
	default:
		r.Result = "caught up"
	}
}

// streamAttrs are a replication sync's report fields for the final log line.
func (r *syncReport) streamAttrs() []any {
	return []any{"replid", r.ReplID, "offset", r.Applied, "full_syncs", r.FullSyncs, "keys", r.FullKeys, "bytes", r.FullBytes,
		"size", bytesize.Format(r.FullBytes), "commands", r.Commands, "skipped", r.Skipped, "lag_bytes", r.LagBytes,
		"lag_seconds", r.LagSeconds, "reconnects", r.Reconnects, "seconds", r.Seconds}
}

// logAttrs are the report's fields for the final log line.
func (r *syncReport) logAttrs() []any {
	if r.ScanCounts == nil {
		return r.streamAttrs()
	}
	return []any{"passes", r.FullSyncs, "keys_scanned", r.KeysScanned, "keys_expected", r.KeysExpected,
		"notifications_received", r.NotificationsReceived, "notifications_applied", r.NotificationsApplied,
		"keys_deleted", r.KeysDeleted, "rescans", r.Rescans, "reconnects", r.Reconnects, "seconds", r.Seconds}
}

// writeSyncReport writes the report as one JSON object on stdout.
func writeSyncReport(gopts globalOptions, r *syncReport) {
	writeJSON(gopts.stdout, r)
}

// drawSyncProgress polls status every tick and shows a bar (from
// startBar) while a full sync runs.
func drawSyncProgress(startBar func(total int64) *progress, status func() rsync.SyncStatus, tick time.Duration) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var bar *progress
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-stop:
				bar.stop()
				return
			case <-t.C:
			}
			st := status()
			switch {
			case st.Phase == rsync.PhaseFullSync && bar == nil:
				bar = startBar(st.FullBytesTotal)
				bar.describe(func() string {
					st := status()
					return "full sync " + strconv.FormatInt(st.FullKeys, 10) + "/" + strconv.FormatInt(st.FullKeysTotal, 10) + " keys"
				})
				bar.count(func() int64 { return status().FullBytes })
			case st.Phase == rsync.PhaseFullSync:
				// The snapshot's size is known once its header is read
				// (each shard's, for a cluster): not when the phase began.
				bar.setTotal(st.FullBytesTotal)
			case bar != nil:
				bar.stop()
				bar = nil
			}
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}
