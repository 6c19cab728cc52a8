package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
	rsync "github.com/redkit/redkit/sync"
)

// runContinuousBackup is backup --continuous: a base snapshot, then the
// replication stream in segments, until stopped (SIGINT, SIGTERM: what
// was received is stored first).
func runContinuousBackup(ctx context.Context, gopts globalOptions, bopts backupOptions, backend storage.Backend, codec storage.Codec, recipientKeys []string, log *slog.Logger) error {
	interval := bopts.segmentInterval
	size, err := parseSize(bopts.segmentSize)
	if err != nil || interval < 100*time.Millisecond || size < 1024 || size > 1<<30 {
		return usageErrorf("backup --continuous: --segment-interval %s, --segment-size %s: want at least 100ms, and 1kb to 1gb", interval, bopts.segmentSize)
	}
	if si := bopts.snapshotInterval; si != 0 && si < time.Second {
		return usageErrorf("backup --continuous: --snapshot-interval %s: want 0 (never) or at least 1s", si)
	}
	ep, copts, addr, info, err := backupSource(ctx, bopts)
	if err != nil {
		return backupFailure(gopts, bopts.logFormat, err)
	}
	if info.Cluster {
		return usageErrorf("backup --continuous: %s is a cluster node: continuous backups take one standalone source (or a Sentinel's master) for now; back a cluster up with snapshots (without --continuous)", ep.String())
	}
	source := backup.SourceInfo{Kind: "live", URL: ep.String(), Host: addr, Role: info.Role, Server: info.Server, Version: info.Version}

	resume, err := backup.ResumeGeneration(ctx, backend, source.URL, log)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	opts := backup.ContinuousOptions{
		Source: addr, Conn: copts, LinkTimeout: linkTimeoutOf(bopts.timeout), Backend: backend, Codec: codec,
		SegmentInterval: interval, SegmentSize: size, SnapshotInterval: bopts.snapshotInterval,
		Resume: resume, RetryFor: bopts.retryFor, Log: log,
		Base: backup.BaseOptions{Source: source, Recipients: recipientKeys, LockTimeout: bopts.lockTimeout, LockWait: bopts.retryFor, Version: versionString()},
		Resolve: func(ctx context.Context) (string, error) {
			a, _, err := rsync.Resolve(ctx, ep, &copts, rsync.ConnectRetryFor, nil)
			return a, err
		},
	}
	cb, err := backup.NewContinuous(opts)
	if err != nil {
		return err
	}
	if resume != nil {
		log.Info("backup: continuing a generation", "generation", resume.ID(), "offset", resume.EndOffset(),
			"recovery_point", resume.Until().Format(time.RFC3339Nano), "segments", len(resume.Segments))
	} else {
		log.Info("backup: continuous backup starting with a base snapshot", "from", ep.String(), "to", backend.URL())
	}
	// The base's upload buffers and the segments waiting in memory.
	reserveMemory(6*(16<<20) + 5*size)
	if addr := bopts.statusAddr; addr != "" {
		stop, bound, err := serveStatus(addr, func() any { return cb.Status() }, continuousMetrics(cb.Status), log)
		if err != nil {
			return usageErrorf("backup: --status-addr %s: %v", addr, err)
		}
		defer stop()
		log.Info("status served", "page", "http://"+bound+"/", "url", "http://"+bound+"/status", "metrics", "http://"+bound+"/metrics")
	}
	err = cb.Run(ctx)
	st := cb.Status()
	if re := (*backup.RefusedError)(nil); errors.As(err, &re) && st.Generation == "" {
		if bopts.logFormat == "json" {
			return fmt.Errorf("backup --continuous: %w", err) // runBackup logs it, with its hint
		}
		return failed(gopts, exitError, err, "backup --continuous: "+rsync.Redact(err.Error()), refusedHint(err))
	}
	if err != nil {
		if st.Generation == "" {
			return fmt.Errorf("backup --continuous: %w (no generation started)", err)
		}
		return fmt.Errorf("backup --continuous: %w (generation %s stored up to offset %d, recovery point %s)",
			err, st.Generation, st.Durable, st.RecoveryPoint.Format(time.RFC3339Nano))
	}
	log.Info("backup: continuous backup stopped, everything received stored", "generation", st.Generation,
		"durable_offset", st.Durable, "recovery_point", st.RecoveryPoint.Format(time.RFC3339Nano),
		"segments", st.Segments, "commands", st.Commands, "segment_bytes", st.SegmentBytes)
	return nil
}

// continuousMetrics are backup --continuous's Prometheus metrics.
func continuousMetrics(status func() backup.ContinuousStatus) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	sm := statusMetrics[backup.ContinuousStatus]{reg, "redkit_backup", status}
	gauge, counter := sm.gauge, sm.counter
	gauge("recovery_point_timestamp_seconds", "Every command received before this Unix time is stored: a restore can go up to it.",
		func(st backup.ContinuousStatus) float64 { return float64(st.RecoveryPoint.UnixMilli()) / 1000 })
	gauge("recovery_lag_seconds", "How far the recovery point is behind now.", func(st backup.ContinuousStatus) float64 { return st.RecoveryLagSeconds })
	gauge("received_offset", "Replication offset after the last command received.", func(st backup.ContinuousStatus) float64 { return float64(st.Received) })
	gauge("durable_offset", "Replication offset after the last command stored.", func(st backup.ContinuousStatus) float64 { return float64(st.Durable) })
	gauge("pending_segments", "Segments closed and not yet stored.", func(st backup.ContinuousStatus) float64 { return float64(st.PendingSegments) })
	gauge("streaming", "1 while the stream is read.", func(st backup.ContinuousStatus) float64 {
		if st.Phase == rsync.PhaseStreaming {
			return 1
		}
		return 0
	})
	counter("segments_total", "Segments stored.", func(st backup.ContinuousStatus) float64 { return float64(st.Segments) })
	counter("segment_bytes_total", "Bytes of segments stored.", func(st backup.ContinuousStatus) float64 { return float64(st.SegmentBytes) })
	counter("commands_total", "Commands stored.", func(st backup.ContinuousStatus) float64 { return float64(st.Commands) })
	counter("generations_total", "Generations started (base snapshots stored).", func(st backup.ContinuousStatus) float64 { return float64(st.Generations) })
	counter("reconnects_total", "Reconnections after an error.", func(st backup.ContinuousStatus) float64 { return float64(st.Reconnects) })
	counter("errors_total", "Errors (a lost link, a failed upload).", func(st backup.ContinuousStatus) float64 { return float64(st.Errors) })
	return reg
}
