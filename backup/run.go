package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/redkit/redkit/storage"
	rsync "github.com/redkit/redkit/sync"
)

var (
	_ error = (*LockError)(nil)
	_ error = (*ConnectError)(nil)
	_ error = (*RunError)(nil)
)

// LockError is a failure to take the storage's lock for an operation.
type LockError struct {
	Op  string // backup, prune
	Err error
}

func (e *LockError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *LockError) Unwrap() error { return e.Err }

// ConnectError is a failure to reach a live source: Addr is its URL
// (without secrets), or the address of one of its masters.
type ConnectError struct {
	Addr string
	Err  error
}

func (e *ConnectError) Error() string {
	if e.Addr == "" { // a file source: its error names its path
		return e.Err.Error()
	}
	return e.Addr + ": " + e.Err.Error()
}
func (e *ConnectError) Unwrap() error { return e.Err }

// RunError is the failure of a backup that has an id: nothing of it is
// stored (its uploads were aborted, or its manifest not written).
type RunError struct {
	ID  string
	Err error
}

func (e *RunError) Error() string { return "backup " + e.ID + ": " + e.Err.Error() }
func (e *RunError) Unwrap() error { return e.Err }

// LiveSource is a live server to back up, resolved.
type LiveSource struct {
	URL  string            // its URL, without secrets: the manifest's and the logs'
	Addr string            // the server's address (a Sentinel's master's)
	Info *rsync.ServerInfo // what it is: a cluster gives a snapshot per master
	Conn rsync.Options     // how to connect to it and to its masters
	// LinkTimeout is the longest a replication link may go without a
	// byte (rsync.ReplicaOptions.Timeout: 0 is its default, negative no
	// limit).
	LinkTimeout time.Duration
}

// RunOptions configure a backup. The source is Live when set, else
// AOFDir when set, else RDBFile.
type RunOptions struct {
	Backend storage.Backend
	Codec   storage.Codec
	// Recipients are the age public keys Codec encrypts to, recorded in
	// the manifest (none: not encrypted).
	Recipients []string
	// Live resolves a live source, once the storage's lock is held. Its
	// error is returned as it is.
	Live func(ctx context.Context) (*LiveSource, error)
	// AOFDir is a multi-part AOF: its directory, or its manifest file.
	AOFDir string
	// RDBFile is an RDB file (compressed or not: internal/dumpfile).
	RDBFile string
	// LockTimeout: a lock not refreshed for that long is taken over (its
	// run died); 0 is storage.AcquireLock's default.
	LockTimeout time.Duration
	Version     string       // redkit's, recorded in the manifest
	Log         *slog.Logger // nil: no logs
	// Read, when not nil, counts the bytes read from the sources, for a
	// progress display.
	Read *atomic.Int64
	// SourceMode is how a live source's masters are read: as a replica,
	// key by key, or (SourceAuto, and "") key by key where replication
	// is refused. A manifest with an object read key by key says
	// ConsistencyPerKey.
	SourceMode SourceMode
	// MaxDump is rsync.ScanOptions.MaxDump for the masters read key by
	// key (0: its default).
	MaxDump int64
	// ScanMemoryHint is rsync.ScanOptions.MemoryHint for each master
	// read key by key: told the bytes that scan keeps live.
	ScanMemoryHint func(live int64)
	// Started, when not nil, is told how many snapshots are about to be
	// read, once they are opened (to reserve memory for their uploads:
	// 16 MiB parts, 4 in flight and one or two filling, each).
	Started func(snapshots int)
}

// Run takes a backup and returns its manifest, stored: the storage's
// lock held, every snapshot read, parsed and stored at once (the first
// failure cancels the others), then the manifest. A live source's
// masters are read as SourceMode says (as a replica, or key by key).
// Its errors: the package's (*LockError, *ConnectError, with a
// *RefusedError inside for SourceReplication, *RunError), Live's own, or
// others (a context's, an AOF directory that cannot be read).
func Run(ctx context.Context, o RunOptions) (*Manifest, error) {
	log := logOrDiscard(o.Log)
	mode := o.SourceMode
	switch mode {
	case "":
		mode = SourceAuto
	case SourceAuto, SourceReplication, SourceScan:
	default:
		return nil, fmt.Errorf("source mode %q: want auto, replication or scan", mode)
	}
	lock, err := Lock(ctx, o.Backend, "backup", o.LockTimeout, log)
	if err != nil {
		return nil, err
	}
	defer releaseLock(ctx, lock, log)

	start := time.Now()
	m := &Manifest{
		ID:            NewID(start),
		Started:       start.UTC(),
		RedkitVersion: o.Version,
		Compression:   o.Codec.Compression,
		Level:         o.Codec.Level,
	}
	if len(o.Recipients) > 0 {
		m.Encryption = &Encryption{Kind: "age", Recipients: o.Recipients}
	}
	codec, backend := o.Codec, o.Backend
	read := o.Read
	if read == nil {
		read = new(atomic.Int64)
	}

	// The snapshots: a live server's over the replication protocol (one
	// per master of a cluster), or a file.
	var jobs []*snapshotJob
	switch {
	case o.Live != nil:
		src, err := o.Live(ctx)
		if err != nil {
			return nil, err
		}
		info := src.Info
		m.Source = SourceInfo{Kind: "live", URL: src.URL, Host: src.Addr, Role: info.Role, Server: info.Server, Version: info.Version, Cluster: info.Cluster}
		lr := &liveReader{src: src, mode: mode, maxDump: o.MaxDump, memoryHint: o.ScanMemoryHint, log: log}
		liveJob := func(name, master string) *snapshotJob {
			j := &snapshotJob{name: name, master: master}
			j.open = func(ctx context.Context) (io.Reader, int64, func(), error) { return lr.open(ctx, j) }
			return j
		}
		if !info.Cluster {
			jobs = append(jobs, liveJob("dump"+codec.Ext(), src.Addr))
		} else {
			copts := src.Conn
			shards, err := rsync.ClusterShards(ctx, src.Addr, &copts)
			if err != nil {
				return nil, &ConnectError{Addr: src.URL, Err: err}
			}
			for _, sh := range shards {
				j := liveJob(fmt.Sprintf("shard-%05d%s", sh.FirstSlot, codec.Ext()), sh.Master)
				for _, r := range sh.Ranges {
					j.slots = append(j.slots, [2]int{r.Start, r.End})
				}
				jobs = append(jobs, j)
			}
		}
		log.Info("backup: snapshots started", "id", m.ID, "from", src.URL, "to", backend.URL(), "snapshots", len(jobs), "cluster", info.Cluster)
	case o.AOFDir != "":
		aofJobs, manifest, closeAll, err := openAOFSet(o.AOFDir, codec)
		if err != nil {
			return nil, err
		}
		defer closeAll()
		jobs = aofJobs
		m.AOFManifest = manifest
		m.Source = SourceInfo{Kind: "aof-dir", URL: o.AOFDir}
		log.Info("backup: reading a multi-part AOF", "id", m.ID, "from", o.AOFDir, "files", len(jobs), "to", backend.URL())
	default:
		from := o.RDBFile
		jobs = append(jobs, &snapshotJob{name: "dump" + codec.Ext(), open: func(ctx context.Context) (io.Reader, int64, func(), error) {
			f, err := dumpfile.Open(ctx, from)
			if err != nil {
				return nil, 0, nil, err
			}
			return f, f.Size, func() { f.Close() }, nil
		}})
		m.Source = SourceInfo{Kind: "rdb-file", URL: from}
		log.Info("backup: reading a file", "id", m.ID, "from", from, "to", backend.URL())
	}

	if o.Started != nil {
		o.Started(len(jobs))
	}
	// All snapshots at once; the first failure cancels the others.
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg gosync.WaitGroup
	for _, j := range jobs {
		j.read = read
		wg.Go(func() {
			if j.err = j.run(jctx, backend, m.ID, codec); j.err != nil {
				cancel(j.err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(jctx); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: the upload was aborted, nothing stored", ctx.Err())
		}
		var je *jobError
		if errors.As(err, &je) && je.connect {
			return nil, &ConnectError{Addr: je.job.master, Err: je.err}
		}
		return nil, &RunError{ID: m.ID, Err: fmt.Errorf("%w: the upload was aborted, nothing stored", err)}
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
	recordScans(m, jobs, log)
	m.Completed = time.Now().UTC()
	m.Duration = time.Since(start).Seconds()
	if err := WriteManifest(ctx, backend, m); err != nil {
		return nil, &RunError{ID: m.ID, Err: err}
	}
	return m, nil
}
