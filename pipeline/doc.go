// Package pipeline copies Redis data from a source to a sink: the engine
// of redkit's convert and of every restore.
//
// # Sources
//
// Open (a path, or "-" for stdin) and Sniff (an io.Reader) detect the
// input from its first bytes, after gzip or zstd decompression:
//
//   - an RDB dump (REDIS or VALKEY magic, every version package rdb
//     reads), or an AOF with an RDB preamble: an *AOFSource yielding the
//     RDB part's keys, function libraries and module auxiliary data, then
//     any commands after it;
//   - a plain AOF (RESP commands, or a #TS annotation first), or a Redis 7
//     multi-part AOF given as its directory or manifest (IsAOFSet): an
//     *AOFSource that holds commands;
//   - redkit's JSON or JSON Lines (rdb.JSONReader): a *JSONSource.
//
// Anything else is a *FormatError, no bytes at all ErrEmptyInput. A
// Source's Next returns Items until io.EOF. Sources apply an rdb.Filter
// to keys; AOF commands pass a filter by database only, and any other
// filter refuses them with a *CommandFilterError.
//
// # Sinks
//
// A Sink writes one format: RESPSink (RESP commands that recreate each
// key, what redis-cli --pipe reads and an AOF Redis loads), JSONSink
// (redkit JSON or JSON Lines), RDBSink (an RDB file), or LiveSink (a live
// server or cluster through an rsync.Restorer). Sinks that need a
// keyspace (JSON, RDB, live) refuse AOF commands with ErrNeedsReplay.
//
// # Copy
//
// Copy moves every item of a source to a sink, moving keys between
// databases as Options.DBMap says. An AOF's commands reach a sink that
// needs a keyspace only through a replay: the AOF is replayed into an
// in-memory aof.Keyspace (the whole data set is held) with Redis's
// semantics, then its function libraries and keys are written. Commands
// Redis itself rejects change nothing, as when Redis loads the file;
// commands the keyspace cannot replay are refused with their name and
// offset, never skipped. Restore is Copy into a LiveSink with the
// target's counts. ReplayedRDB replays an AOF the same way and reads
// the keyspace back as the RDB a server would save of it, in the
// server's compact encodings (for an analysis of memory).
//
// # Buffers and errors
//
// An Item and the key, function code, record and arguments it points to
// belong to the source and are valid only until the next call to Next;
// sinks must copy what they keep. Copy modifies an Item's KeyValue.DB in
// place when it moves a key. Copy returns the first error of the source
// (parse errors are the rdb and aof packages' typed errors, wrapped), of
// the sink (a writer's errors as they are), or ctx.Err(); it never closes
// the sink. Errors say what happened and never name command-line flags.
package pipeline
