package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	gosync "sync"
	"time"

	rsync "github.com/redkit/redkit/sync"
)

// SourceMode is how a live source is read: as a replica (a snapshot of
// one moment), or key by key (rsync.ScanDump: per-key consistency) for
// sources that refuse replication (managed services, proxies, ACL users
// without +psync +sync).
type SourceMode string

// The source modes. The zero value is SourceAuto.
const (
	// SourceAuto reads each master as a replica, and key by key where it
	// refuses replication (rsync.ReplicationRefused).
	SourceAuto SourceMode = "auto"
	// SourceReplication reads as a replica only: a source that refuses
	// replication is a *RefusedError.
	SourceReplication SourceMode = "replication"
	// SourceScan reads key by key only.
	SourceScan SourceMode = "scan"
)

// Log messages of a backup of a live source, which the caller may
// rewrite (to add advice) by matching them.
const (
	// LogReadingKeys says, once per backup, that a master refused
	// replication and is read key by key instead; its attributes are
	// "from", "master" and "reason" (the server's reply).
	LogReadingKeys = "backup: the source refuses replication: reading its keys instead, each as of when it is read (per-key consistency)"
	// LogScanMode says, once per backup, that the source is read key by
	// key because SourceScan was asked for.
	LogScanMode = "backup: reading the source's keys (per-key consistency)"
)

var _ error = (*RefusedError)(nil)

// RefusedError is a live source (or one of its masters, Addr) refusing
// replication (Err is its reply: an unknown or renamed PSYNC, NOPERM, a
// proxy's error) where its keys may not be read instead: a backup in
// SourceReplication mode, or a continuous backup (Continuous), which
// follows the replication stream.
type RefusedError struct {
	Addr       string
	Continuous bool
	Err        error
}

func (e *RefusedError) Error() string {
	if e.Continuous {
		return e.Addr + " refuses replication (" + rsync.Redact(e.Err.Error()) + "): a continuous backup follows the replication stream"
	}
	return e.Addr + " refuses replication (" + rsync.Redact(e.Err.Error()) + ")"
}
func (e *RefusedError) Unwrap() error { return e.Err }

// errScanStopped ends a key scan whose reader stopped early (the job
// failed, or another one did).
var errScanStopped = errors.New("the backup stopped reading")

// liveReader opens the snapshots of a live source's masters, as a
// replica or key by key (mode), and logs once which way and why.
type liveReader struct {
	src     *LiveSource
	mode    SourceMode
	maxDump int64
	// memoryHint is RunOptions.ScanMemoryHint.
	memoryHint func(live int64)
	log        *slog.Logger
	said       gosync.Once
}

// open opens j's snapshot: a replication link's, or an RDB that
// rsync.ScanDump writes into a pipe, read like the link's; j.mode says
// which.
func (lr *liveReader) open(ctx context.Context, j *snapshotJob) (io.Reader, int64, func(), error) {
	master := j.master
	if lr.mode != SourceScan {
		l, err := rsync.OpenLink(ctx, master, rsync.ReplicaOptions{Conn: lr.src.Conn, RDBOnly: true, Timeout: lr.src.LinkTimeout})
		switch {
		case err == nil:
			j.mode = SourceReplication
			stop := context.AfterFunc(ctx, func() { l.Close() })
			snap, err := l.Snapshot()
			if err != nil {
				stop()
				l.Close()
				return nil, 0, nil, fmt.Errorf("snapshot of %s: %w", master, err)
			}
			return snap, l.SnapshotSize(), func() { stop(); l.Close() }, nil
		case ctx.Err() != nil || !rsync.ReplicationRefused(err):
			return nil, 0, nil, err
		case lr.mode == SourceReplication:
			return nil, 0, nil, &RefusedError{Addr: master, Err: err}
		}
		lr.said.Do(func() {
			lr.log.Warn(LogReadingKeys, "from", lr.src.URL, "master", master, "reason", rsync.Redact(err.Error()))
		})
	} else {
		lr.said.Do(func() { lr.log.Info(LogScanMode, "from", lr.src.URL) })
	}
	j.mode = SourceScan
	return lr.scan(ctx, j)
}

// scan starts rsync.ScanDump of j's master into a pipe and returns its
// reading end; closing stops the scan and waits for it, after which
// j.scan holds its statistics.
func (lr *liveReader) scan(ctx context.Context, j *snapshotJob) (io.Reader, int64, func(), error) {
	conn := lr.src.Conn
	// Every database, as a replication snapshot has (a URL's database
	// would make ScanDump read that one alone).
	conn.DB = 0
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		st, err := rsync.ScanDump(ctx, j.master, &conn, pw, rsync.ScanOptions{MaxDump: lr.maxDump, MemoryHint: lr.memoryHint})
		j.scan = &st
		pw.CloseWithError(err) // nil: the reader's io.EOF
	}()
	return pr, -1, func() { pr.CloseWithError(errScanStopped); <-done }, nil
}

// recordScans marks a backup some of whose objects were read key by key
// as of per-key consistency, with the span of its scans and each
// object's way, and logs what each scan met (keys gone between SCAN and
// DUMP, functions not read, expiries from PTTL).
func recordScans(m *Manifest, jobs []*snapshotJob, log *slog.Logger) {
	var scans []*snapshotJob
	for _, j := range jobs {
		if j.mode == SourceScan {
			scans = append(scans, j)
		}
	}
	if len(scans) == 0 {
		return // snapshots only: the manifest as it always was
	}
	m.Consistency = ConsistencyPerKey
	for i, j := range jobs {
		if j.mode != "" {
			m.Objects[i].SourceMode = j.mode
		}
	}
	var started, ended time.Time
	for _, j := range scans {
		st := j.scan
		if st == nil {
			continue
		}
		if started.IsZero() || st.Started.Before(started) {
			started = st.Started
		}
		if st.Ended.After(ended) {
			ended = st.Ended
		}
		attrs := []any{"master", j.master, "keys", st.Keys, "vanished", st.Vanished, "functions", st.Functions,
			"started", st.Started.UTC().Format(time.RFC3339Nano), "ended", st.Ended.UTC().Format(time.RFC3339Nano)}
		if st.FunctionsSkipped != "" {
			attrs = append(attrs, "functions_skipped", st.FunctionsSkipped)
		}
		if st.RelativeTTL {
			attrs = append(attrs, "relative_ttl", true)
		}
		log.Info("backup: keys read", attrs...)
		if st.FunctionsSkipped != "" {
			log.Warn("backup: functions not read", "master", j.master, "reason", st.FunctionsSkipped)
		}
		if st.RelativeTTL {
			log.Warn("backup: the source has no PEXPIRETIME (before Redis 7.0): expiries come from PTTL and may be some milliseconds early", "master", j.master)
		}
	}
	m.ScanStarted, m.ScanEnded = started.UTC().Truncate(time.Millisecond), ended.UTC().Truncate(time.Millisecond)
}
