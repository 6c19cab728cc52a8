package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	rsync "github.com/redkit/redkit/sync"
)

// modeScan: the source's keys are read (SCAN, DUMP) and its keyspace
// notifications followed, for sources that refuse replication.
const modeScan = "scan"

// scanRefusedFlags are the flags a scan sync refuses: they belong to the
// replication link.
func scanRefusedFlags() []string {
	return []string{"checkpoint", "spool-dir", "forward-pubsub", "strict", "deny-command", "check", "name", "target-checkpoint"}
}

// scanOnlyFlags go with --mode scan only.
func scanOnlyFlags() []string { return []string{"quiet-period", "assume-notifications", "max-dump"} }

// scanFlagsOK refuses what a scan sync cannot do; set are the flags given.
func scanFlagsOK(set []string) error {
	for _, f := range scanRefusedFlags() {
		if slices.Contains(set, f) {
			why := "there is no replication position: each key is read again after a restart"
			switch f {
			case "forward-pubsub", "deny-command", "strict":
				why = "no command is copied, only keys"
			case "spool-dir":
				why = "there is no snapshot: keys are read in batches"
			case "check":
				why = "it checks a replication sync"
			}
			return usageErrorf("sync: --%s does not go with --mode scan: %s", f, why)
		}
	}
	return nil
}

// runScanSync runs sync --mode scan.
func runScanSync(ctx context.Context, gopts globalOptions, opts syncOptions, log *slog.Logger, from, to *rsync.Endpoint, fromOpts, toOpts rsync.Options,
	srcAddr string, srcInfo, dstInfo *rsync.ServerInfo, dstAddr string, filter *rsync.SyncFilter) error {
	maxDump, err := parseMaxDump("sync", opts.maxDump)
	if err != nil {
		return err
	}
	if dstInfo.Role != "" && dstInfo.Role != "master" {
		return &codedError{code: exitError, err: fmt.Errorf("sync: the target %s is a replica (read-only): point --to at a master", to)}
	}
	sources := []string{srcAddr}
	if srcInfo.Cluster {
		shards, err := rsync.ClusterShards(ctx, srcAddr, &fromOpts)
		if err != nil {
			return syncConnectError(gopts, "source", from, err)
		}
		sources = sources[:0]
		for _, sh := range shards {
			sources = append(sources, sh.Master)
		}
		log.Info("cluster source: each master subscribed and scanned", "masters", len(sources))
	}
	s := rsync.NewScanSyncer(rsync.ScanSyncOptions{
		Sources:        sources,
		SourceName:     from.String(),
		SourceConn:     fromOpts,
		SourceCluster:  srcInfo.Cluster,
		Target:         dstAddr,
		TargetConn:     toOpts,
		TargetCluster:  dstInfo.Cluster,
		Restore:        rsync.RestoreOptions{MemoryHint: memoryHint()},
		Filter:         filter,
		FlushTarget:    opts.flushTarget,
		UntilCaughtUp:  opts.untilCaughtUp,
		QuietPeriod:    opts.quietPeriod,
		AllowUnchecked: opts.assumeNotifications,
		MaxDump:        maxDump,
		RetryFor:       opts.retryFor,
		Log:            log,
	})
	status := func() rsync.SyncStatus { return s.Status().SyncStatus }
	if addr := opts.statusAddr; addr != "" {
		metrics := newSyncMetrics(status)
		addScanMetrics(metrics, s.Status)
		stop, bound, err := serveStatus(addr, func() any { return s.Status() }, metrics.reg, log)
		if err != nil {
			return usageErrorf("sync: --status-addr %s: %v", addr, err)
		}
		defer stop()
		log.Info("status served", "page", "http://"+bound+"/", "url", "http://"+bound+"/status", "metrics", "http://"+bound+"/metrics")
	}
	log.Info("sync (scan)", "from", from.String(), "to", to.String(), "source_version", srcInfo.Version, "target_version", dstInfo.Version,
		"source_cluster", srcInfo.Cluster, "target_cluster", dstInfo.Cluster)
	started := time.Now()
	// A bar while a pass reads the keys; the log says when each pass
	// begins and ends, the status page and /metrics count its keys.
	stopBar := scanSyncProgress(gopts, opts.quiet, s.Status)
	err = withAdvice(s.Run(ctx))
	stopBar()
	st := s.Status()
	rep := syncReport{From: from.String(), To: to.String(), Mode: modeScan, SyncStatus: st.SyncStatus, ScanCounts: &st.ScanCounts}
	rep.finish(ctx, started, err)
	if opts.format == "json" {
		writeSyncReport(gopts, &rep)
	}
	if err != nil {
		var ne *rsync.NotifyError
		if errors.As(err, &ne) {
			hint := fmt.Sprintf("set notify-keyspace-events %s on the source (managed services: in the parameter group), or run with a user allowed CONFIG SET: redkit then sets it for the sync and puts the old value back", ne.Want)
			if !ne.Checked {
				hint = fmt.Sprintf("make sure notify-keyspace-events is %s (or has K and A) on the source, then add --assume-notifications; or give a user allowed CONFIG, or SET and DEL on redkit:probe:* keys", ne.Want)
			}
			return failed(gopts, exitError, err, "sync: "+rsync.Redact(err.Error()), hint)
		}
		if h := connectHint(err); h != "" {
			return failed(gopts, exitError, err, fmt.Sprintf("sync %s -> %s: %s", from, to, rsync.Redact(err.Error())), h)
		}
		return fmt.Errorf("sync %s -> %s: %s", from, to, rsync.Redact(err.Error()))
	}
	log.Info("sync "+rep.Result, rep.logAttrs()...)
	return nil
}

// scanSyncProgress draws, on a terminal and never in --log-format json,
// a bar of each pass that reads the source's keys: the keys read of
// the source's key count when the pass began.
func scanSyncProgress(gopts globalOptions, quiet bool, status func() rsync.ScanSyncStatus) (stop func()) {
	if quiet || gopts.logFormat == "json" || !onTerminal(gopts.stderr) {
		return func() {}
	}
	return drawScanSyncProgress(gopts.stderr, status, 200*time.Millisecond)
}

// scanSyncText is the text of a scan sync's bar.
func scanSyncText(done, total int64, rate float64) string {
	return keysText("sync (scan)", done, total, "", rate)
}

// drawScanSyncProgress polls status every tick and draws a key bar on w
// (whatever w is) while the phase is scanning.
func drawScanSyncProgress(w io.Writer, status func() rsync.ScanSyncStatus, tick time.Duration) (stop func()) {
	stopc, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var stopBar func()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-stopc:
				if stopBar != nil {
					stopBar()
				}
				return
			case <-t.C:
			}
			scanning := status().Phase == rsync.PhaseScanning
			switch {
			case scanning && stopBar == nil:
				stopBar = drawKeyBar(w, "sync (scan): keys read", tick,
					func() int64 { return status().KeysScanned },
					func() int64 { return status().KeysExpected },
					scanSyncText)
			case !scanning && stopBar != nil:
				stopBar()
				stopBar = nil
			}
		}
	}()
	return func() {
		close(stopc)
		<-done
	}
}
