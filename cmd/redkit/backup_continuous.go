package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
	rsync "github.com/redkit/redkit/sync"
)

// runContinuousBackup is backup --continuous: a base snapshot, then the
// replication stream in segments, until stopped (SIGINT, SIGTERM: what
// was received is stored first).
func runContinuousBackup(c *cli.Context, gopts globalOptions, backend storage.Backend, codec storage.Codec, recipientKeys []string, log *slog.Logger) error {
	ctx := c.Context
	interval := c.Duration("segment-interval")
	size, err := parseSize(c.String("segment-size"))
	if err != nil || interval < 100*time.Millisecond || size < 1024 || size > 1<<30 {
		return usageErrorf("backup --continuous: --segment-interval %s, --segment-size %s: want at least 100ms, and 1kb to 1gb", interval, c.String("segment-size"))
	}
	if si := c.Duration("snapshot-interval"); si != 0 && si < time.Second {
		return usageErrorf("backup --continuous: --snapshot-interval %s: want 0 (never) or at least 1s", si)
	}
	ep, copts, addr, info, err := backupSource(c, gopts)
	if err != nil {
		return err
	}
	if info.Cluster {
		return usageErrorf("backup --continuous: %s is a cluster node: continuous backups take one standalone source (or a Sentinel's master) for now; back a cluster up with snapshots (without --continuous)", ep.String())
	}
	source := backup.SourceInfo{Kind: "live", URL: ep.String(), Host: addr, Role: info.Role, Server: info.Server, Version: info.Version}

	// The generation to continue: the newest of this source's, unless a
	// segment is missing from it.
	l, err := backup.List(ctx, backend)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	gens, err := backup.ListGenerations(ctx, backend, l)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	var resume *backup.Generation
	for i := len(gens) - 1; i >= 0; i-- {
		g := gens[i]
		if g.Base.Source.URL == source.URL && g.Base.Replication != nil {
			if g.Gap != nil {
				log.Warn("the newest generation of this source misses a segment: a new one starts", "generation", g.ID(), "err", g.Gap)
				break
			}
			resume = g
			break
		}
	}
	opts := backup.ContinuousOptions{
		Source: addr, Conn: copts, LinkTimeout: linkTimeout(c), Backend: backend, Codec: codec,
		SegmentInterval: interval, SegmentSize: size, SnapshotInterval: c.Duration("snapshot-interval"),
		Resume: resume, RetryFor: c.Duration("retry-for"), Log: log,
		Resolve: func(ctx context.Context) (string, error) {
			a, _, err := resolveServer(ctx, ep, &copts)
			return a, err
		},
	}
	opts.StoreBase = func(ctx context.Context, r io.Reader, size int64, pos backup.ReplPosition) (*backup.Manifest, error) {
		return storeBase(ctx, c, backend, codec, recipientKeys, source, r, pos, log)
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
	if addr := c.String("status-addr"); addr != "" {
		stop, bound, err := serveStatus(addr, func() any { return cb.Status() }, continuousMetrics(cb.Status), log)
		if err != nil {
			return usageErrorf("backup: --status-addr %s: %v", addr, err)
		}
		defer stop()
		log.Info("status served", "url", "http://"+bound+"/status", "metrics", "http://"+bound+"/metrics")
	}
	err = cb.Run(ctx)
	st := cb.Status()
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

// storeBase stores a generation's base as a backup: the storage's lock
// held meanwhile (a prune waits), the manifest marked Continuous with
// the snapshot's place in the stream.
func storeBase(ctx context.Context, c *cli.Context, backend storage.Backend, codec storage.Codec, recipientKeys []string, source backup.SourceInfo,
	r io.Reader, pos backup.ReplPosition, log *slog.Logger) (*backup.Manifest, error) {
	var lock *storage.Lock
	for {
		var err error
		lock, err = lockStorage(ctx, backend, "backup", c.Duration("lock-timeout"), log)
		if err == nil {
			break
		}
		if !errors.Is(err, storage.ErrLocked) {
			return nil, err
		}
		log.Warn("the storage is locked by another run: waiting to store the base", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
	defer lock.Release(context.WithoutCancel(ctx))
	start := time.Now()
	m := &backup.Manifest{
		ID:            backup.NewID(start),
		Started:       start.UTC(),
		RedkitVersion: versionString(),
		Source:        source,
		Compression:   codec.Compression,
		Level:         codec.Level,
		Continuous:    true,
		Replication:   &pos,
	}
	if len(recipientKeys) > 0 {
		m.Encryption = &backup.Encryption{Kind: "age", Recipients: recipientKeys}
	}
	j := &snapshotJob{name: "dump" + codec.Ext(), open: func(context.Context) (io.Reader, int64, func(), error) {
		return r, 0, func() {}, nil
	}}
	if err := j.run(ctx, backend, m.ID, codec); err != nil {
		return nil, err
	}
	m.Objects = []backup.ObjectEntry{j.entry}
	m.Keys, m.RawBytes, m.StoredBytes = j.entry.Keys, j.entry.RawBytes, j.entry.StoredBytes
	m.Source.RDBVersion = j.entry.RDBVersion
	m.Completed = time.Now().UTC()
	m.Duration = time.Since(start).Seconds()
	if err := backup.WriteManifest(ctx, backend, m); err != nil {
		return nil, err
	}
	log.Info("base stored", "id", m.ID, "keys", m.TotalKeys(), "stored_bytes", m.StoredBytes, "offset", pos.Offset, "seconds", m.Duration)
	return m, nil
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
