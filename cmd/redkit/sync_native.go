package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	rsync "github.com/redkit/redkit/sync"
)

// modeNative: the target loads the snapshot itself as a replica of redkit.
const modeNative = "native"

// nativeRefusedFlags are the flags a native sync refuses, in the order
// nativeFlagsOK looks at them.
func nativeRefusedFlags() []string {
	return []string{"db", "match", "regex", "type", "min-size", "expired", "exclude", "db-map", "deny-command", "spool-dir", "forward-pubsub", "strict", "checkpoint"}
}

// nativeFlagsOK refuses what a native sync cannot do: the target takes
// the source's stream byte for byte, so nothing can be left out,
// renamed or moved, and its position is its own replication state. set
// are the flags given.
func nativeFlagsOK(set []string) error {
	for _, f := range nativeRefusedFlags() {
		if slices.Contains(set, f) {
			why := "the target replays the source's stream byte for byte: use --mode restore for filters and mapping"
			switch f {
			case "checkpoint":
				why = "the target's own replication ID and offset are the position (kept by the target, even across a redkit crash)"
			case "forward-pubsub":
				why = "a replica delivers the source's PUBLISH messages to its subscribers anyway"
			case "spool-dir":
				why = "the target itself stores the snapshot while it comes (repl-diskless-load)"
			}
			return usageErrorf("sync: --%s does not go with --mode native: %s", f, why)
		}
	}
	return nil
}

// runNativeSync runs a native sync: standalone source and target.
func runNativeSync(ctx context.Context, gopts globalOptions, opts syncOptions, log *slog.Logger, from, to *rsync.Endpoint, fromOpts, toOpts rsync.Options,
	srcInfo, dstInfo *rsync.ServerInfo, dstAddr string, so rsync.SyncOptions) error {
	if srcInfo.Cluster || dstInfo.Cluster {
		return usageErrorf("sync: --mode native needs a standalone source and target: use --mode auto for clusters")
	}
	if dstInfo.Role == "master" && !opts.flushTarget {
		n, err := rsync.KeyCount(ctx, dstAddr, &toOpts)
		if err != nil {
			return syncConnectError(gopts, "target", to, err)
		}
		if n > 0 {
			return usageErrorf("sync: the target %s holds %d keys, which a native sync replaces with the source's data: add --flush-target to accept that, or use --mode auto", to, n)
		}
	}
	n := rsync.NewNativeSync(rsync.NativeOptions{
		Source:         so.Source,
		SourceName:     so.SourceName,
		SourceConn:     fromOpts,
		LinkTimeout:    so.LinkTimeout,
		Target:         dstAddr,
		TargetConn:     toOpts,
		Listen:         opts.nativeAddr,
		UntilCaughtUp:  so.UntilCaughtUp,
		FlushTarget:    opts.flushTarget,
		RetryFor:       so.RetryFor,
		OnSnapshotWait: so.OnSnapshotWait,
		Log:            log,
	})
	if addr := opts.statusAddr; addr != "" {
		metrics := newSyncMetrics(n.Status)
		n.Latency = metrics.observe
		stop, bound, err := serveStatus(addr, func() any { return n.Status() }, metrics.reg, log)
		if err != nil {
			return usageErrorf("sync: --status-addr %s: %v", addr, err)
		}
		defer stop()
		log.Info("status served", "page", "http://"+bound+"/", "url", "http://"+bound+"/status", "metrics", "http://"+bound+"/metrics")
	}
	log.Info("sync (native)", "from", from.String(), "to", to.String(), "source_version", srcInfo.Version, "target_version", dstInfo.Version)
	started := time.Now()
	stopBar := syncProgress(gopts, opts.quiet, n.Status)
	err := withAdvice(n.Run(ctx))
	stopBar()
	rep := syncReport{From: from.String(), To: to.String(), Mode: modeNative, SyncStatus: n.Status()}
	rep.finish(ctx, started, err)
	if opts.format == "json" {
		writeSyncReport(gopts, &rep)
	}
	if err != nil {
		if h := connectHint(err); h != "" {
			return failed(gopts, exitError, err, fmt.Sprintf("sync %s -> %s: %s", from, to, rsync.Redact(err.Error())), h)
		}
		return fmt.Errorf("sync %s -> %s: %s", from, to, rsync.Redact(err.Error()))
	}
	if ctx.Err() != nil {
		log.Info("sync stopped: the target stays a read-only replica at its offset; run the same command to continue, or REPLICAOF NO ONE on the target to use it as it is",
			rep.logAttrs()...)
		return nil
	}
	log.Info("sync caught up", rep.logAttrs()...)
	return nil
}
