// Package backup is redkit's backup engine, on top of package storage
// (which only moves bytes). It knows what the objects of a storage mean:
//
//   - The catalog: a backup is a folder backups/<id>/ of objects and a
//     manifest.json written last (Manifest, format redkit-backup/1): a
//     backup without one does not exist. Ids (NewID, IDTime) are a start
//     time and a random suffix, so they sort by time and are never
//     reused. WriteManifest, ReadManifest, List (complete, incomplete and
//     damaged backups), Resolve (an id or latest), Key (an object's key),
//     OpenObject (an object of a manifest through storage's codec) and
//     CheckKeys (the keys read against the manifest's count:
//     *KeyCountError, ErrKeyCount). A manifest that cannot be used is
//     ErrBadManifest.
//   - Backups (Run): a backup is a set of snapshots, each read from
//     its source, parsed on the way (an RDB's keys counted per
//     database and its CRC64 checked, an AOF file's commands counted)
//     while it is compressed, encrypted and hashed into one object of
//     the storage (CopySnapshot, a tee: nothing is written to a
//     temporary file, nothing is read twice); the manifest is written
//     last, once every object is stored: a backup without a manifest
//     does not exist. A live source gives one snapshot per master (a
//     cluster), taken at once over the replication protocol, or, where
//     a master refuses replication (RunOptions.SourceMode, scan.go),
//     read key by key (rsync.ScanDump through a pipe, then the same
//     path): the manifest then says ConsistencyPerKey, with ScanStarted
//     and ScanEnded, and each object its SourceMode; a
//     multi-part AOF one object per file its manifest lists, all opened
//     before any is read. The first failure cancels the other
//     snapshots and aborts every upload.
//   - Locks' policy: Run, Prune (unless a dry run) and the store of a
//     continuous backup's base hold the storage's lock (Lock), and
//     Lock removes, once it holds it, what runs that died left behind
//     (pending multipart uploads, temporary files); a lock not
//     refreshed for the lock timeout is taken over. A continuous
//     backup takes it only while a base is stored, and waits while
//     another run holds it (up to BaseOptions.LockWait).
//   - Errors: *LockError (the lock could not be taken; ErrLocked from
//     storage inside when another run holds it), *ConnectError (a
//     live source or one of its masters could not be reached),
//     *RefusedError (a source refusing replication where keys may not
//     be read instead: SourceReplication, or a continuous backup),
//     *RunError (a backup with an id failed: nothing of it is
//     stored), *IOError inside when the output or the source failed
//     rather than the bytes, which do not parse otherwise. No error
//     names a flag of redkit's commands.
//   - Continuous backups: a generation is a base backup (a Manifest whose
//     Continuous is set, with its ReplPosition) and the segments of the
//     source's replication stream after it, under continuous/<generation>/
//     (generation.go). A segment (segment.go, format RKSEG1) holds
//     commands with their receive times and CRC-32C; its key carries
//     everything a restore plans with (SegmentInfo). ListSegments and
//     ListGenerations read them back; a hole in a generation is a
//     *GapError (ErrGap); a damaged segment is ErrSegmentCorrupt.
//   - Point-in-time plans: PlanRestore picks a generation and its
//     segments for a Cutoff (an instant or an offset); its refusals wrap
//     ErrNotRestorable (ErrNoGenerations, *AfterRecoveryPointError).
//     Replay reads the segments back as the RESP commands a target
//     applies, transactions whole, checking every record and segment.
//   - Restores (restore.go, restore_at.go), built on package pipeline:
//     Restore streams a backup's objects (or its multi-part AOF's files
//     in order) as pipeline sources into a RestoreFunc, the caller's
//     writer to a target, checking each object's SHA-256 at its end and
//     its keys against the manifest (*StreamedChecksumError,
//     *MismatchError; a target that fails first is a *StoppedEarlyError:
//     the object was read in part and its checksum says nothing).
//     CheckOpen and VerifyObject check objects before anything is
//     written; OpenStream reads one object as its content for a reader
//     that does not restore (analyze, check), an *ObjectStream whose
//     Read at the end, or Close before it, reports a damaged object as a
//     *ChecksumError (wrapping storage.ErrChecksum); CheckObject checks
//     an object as it is copied to a file, which the caller renames into
//     place only when it returns nil.
//     PlanAt, VerifyAt, RestoreAt and RestoreAtToFile restore a
//     continuous backup to a point in time: the base, then the
//     segments' commands pipelined (Piper) or replayed into memory and
//     written as one RDB (*SegmentsError, *IncompleteError).
//   - Retention: Policy.Apply decides which backups to keep and why
//     (Decision), its rules applied to each source's backups apart
//     (SourceInfo.Key); DeleteBackup, DeleteSegments and
//     OrphanGenerations remove what it lets go.
//   - Continuous capture: Continuous is a replica (package sync's
//     replication link) that stores a base, then the stream in segments,
//     acknowledging to the source only what is stored.
//
// Commands are recognised through package aof (CommandName, Classify,
// SelectedDB). Errors state what happened and never name a command-line
// flag: cmd/redkit adds that advice.
package backup
