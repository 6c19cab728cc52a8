// Package sync talks to live Redis and Valkey servers: connection URLs
// (redis://, rediss://, redis+sentinel://) with redaction of passwords,
// TLS and ACL authentication, server facts (INFO: version, role, cluster,
// the newest RDB version it loads), finding the server of a URL and
// waiting for one that is starting or loading (resolve.go: Resolve,
// WaitInfo, ResolveTarget), cluster slot maps, the writers that
// restore dumps into standalone servers and clusters (Writer, Restorer),
// and live sync (Syncer): the replica side of the replication protocol
// (OpenLink, Snapshot, Next, Ack in replica.go), the stream applied to a
// standalone target in MULTI/EXEC batches that carry their own checkpoint
// (apply.go: exactly once) or to a cluster by slot (apply_cluster.go: at
// least once), resumed with PSYNC from a Checkpoint (checkpoint.go),
// filtered (filter.go), one Syncer per master of a cluster source
// (shards.go).
//
// A replication link fails with a *StallError when the master sends no
// byte for ReplicaOptions.Timeout (60s) while redkit waits for one, and
// with ErrBadHandshake on a reply the protocol does not allow (+CONTINUE
// to a request for a full resynchronization, say); the Syncer, the
// native sync and backup.Continuous (through Retryable) retry the first
// like a cut link, never the second. The Syncer, the writers, the native
// sync and WaitInfo pace and bound their retries with internal/retry.
//
// Errors say what happened and name no command-line flag (errors.go): a
// key that exists under ConflictError is a *KeyError wrapping
// ErrConflict, a key or a stream command for a database a cluster does
// not have a *ClusterDBError (wrapping ErrClusterDB), a target URL that
// names such a database of a cluster a *ClusterTargetDBError (wrapping
// it too), a payload the target cannot load under ModeRestore a
// *PayloadVersionError; targets and settings that cannot work are
// sentinels (ErrRestoreMode, ErrCrossSlotTx, ErrMixedKeys,
// ErrTLSKeyPair, ErrNative*) wrapped with
// the server, version or offset. The warnings a caller may want to add
// advice to are logged with the messages LogTxSplit and LogDenied.
//
// Inside this package the standard library's sync is imported as gosync
// "sync".
//
// # Writer performance
//
// The Writer (pipeline.go, cluster.go) is hand-written on Conn: one
// connection per node, a writer goroutine that encodes nothing (commands
// are encoded once, in Send, into bytes kept until their reply) and a
// reader goroutine that matches replies in order, up to Depth commands in
// flight, streaming with no stop-and-wait batches. It was measured against
// go-redis v9 pipelines of the same depth (Pipeline, Exec every 512
// commands), against one redis-server 7.0.15 and a 3-master cluster on
// 127.0.0.1, on the 2-core machine of NOTES.md while other jobs ran (load
// average 2.3 to 2.7, so expect ±15% between runs):
//
//	go test ./sync -run XXX -bench Writer -benchtime 200000x -count 3
//
//	                          ours (ns/op, B/op, allocs)   go-redis (ns/op, B/op, allocs)
//	standalone SET 100 B      2241-2521, 318, 8            1926-2311, 326, 10
//	standalone RESTORE 1 KB   4424-4536, 545, 10           3808-3942, 422, 12
//	cluster SET 100 B         2722-3402, 343, 9            2414-3099, 386, 11
//	cluster RESTORE 1 KB      3402-4561, 575, 11           3853-4595, 487, 13
//
// A second standalone run (-count 2) a few minutes later, after the
// write deadline became per batch, gave ours 2648-2715 and 4837-4962,
// go-redis 2656-2703 and 5435-5448. (ns/op includes the benchmark's own
// argument conversions; Close, which waits for the last replies, is
// inside the timed loop.)
//
// On loopback the throughput is the same within the noise: the server
// and the two client goroutines compete for two cores, and a stop-and-wait
// batch costs nearly nothing when the round trip is 30 µs. What decided
// for the hand-written path is what go-redis pipelines cannot give per
// command: idempotent commands resent and the others reported as
// ErrUnknownOutcome after a broken connection (go-redis retries or fails
// a whole Exec), the SELECT of each command's DB on one connection,
// MOVED and ASK followed command by command while keeping a slot's order,
// a Done callback per command in Send order, and Send that never waits
// for a batch's slowest reply. Over a real network each go-redis batch
// also pays a full round trip that the streaming writer hides (not
// measured here: this machine has no way to add latency to loopback).
// What we gave up: go-redis was up to 10-15% faster standalone in the
// first run (equal in the second), the cost being mostly goroutine
// hand-offs (three goroutines per connection against one).
//
// # Restore performance
//
// The Restorer sends one RESTORE per key. Payloads that fit in one 256 KB
// chunk are copied into the command's bytes; bigger ones are lent to the
// Writer as pooled chunks (Command.Chunked) until their reply, so no value
// is copied or held twice, and the CLI raises the Go memory limit over
// the bytes lent (RestoreOptions.MemoryHint) so that a 300 MB payload does
// not make the garbage collector run without end. On the 1.1 GB bench
// dump (3.6 M keys, a 5 M-member zset whose payload is 297 MB), into an
// empty redis-server 7.0.15 on the same 2 cores (bench/restore.sh, best of
// 3 for redkit):
//
//	redkit restore                                    22.4 s   49.6 MiB/s   173 MiB RSS
//	librdb rdb-cli redis -r -l 512                    27.4 s   40.6 MiB/s   110 MiB RSS
//	HDT3213/rdb -c aof | redis-cli --pipe             70.3 s   15.8 MiB/s
//	redis-server loading the dump at start-up         17.0 s   65.6 MiB/s
//
// Before chunks and the memory hint the same restore took 49 s at 98% of
// a core, mostly in the garbage collector (a 40 MiB soft limit under a
// 300 MB live payload); a pipeline of 4096 commands (bounded by 64 MB in
// flight) instead of 512 took it from about 27 s to 23 s. Now the server is
// the bottleneck: it spends about 20 s of CPU on the RESTOREs (reading,
// CRC64 checks, decoding) against 17 s loading the file, and redkit about
// 16 s, on two shared cores.
package sync
