// Package aof reads, writes, checks and replays Redis append-only files:
// RESP command streams, single-file AOFs with an RDB preamble (read
// through package rdb), and Redis 7 multi-part AOFs with their manifest.
// It also turns keys into the commands that recreate them.
//
// # Formats
//
// The specification is Redis 7.0's aof.c and redis-check-aof.c:
//
//   - A plain AOF is a sequence of commands, each a RESP array of bulk
//     strings, with "#" annotation lines between them; "#TS:<unix
//     seconds>" (aof-timestamp-enabled) is the one Redis writes.
//   - An AOF with an RDB preamble (aof-use-rdb-preamble, Redis 4 to 6) is
//     an RDB file, its CRC64, then a plain AOF tail. A file is taken as
//     RDB when it starts with "REDIS" (or Valkey's "VALKEY").
//   - A multi-part AOF (Redis 7) is a directory (appendonlydir) with a
//     manifest listing one base file (an RDB, or a plain AOF with
//     aof-use-rdb-preamble no), incr files (plain AOFs) and history files
//     (not loaded). ParseManifest applies Redis's own rules and refuses
//     file names that would lead outside the directory.
//
// # Reading
//
// RESPReader reads RESP2 and RESP3 values (ReadValue) and, on its fast
// path, commands (ReadCommand), tracking byte offsets. Reader (Open or
// NewReader) yields an AOF's entries in replay order with Next until
// io.EOF: an RDB part as a KindRDB entry carrying the *rdb.Reader to
// read its records from, then commands. Each command says the database
// it applies to (SELECT commands are consumed, not yielded), its place in
// a MULTI/EXEC transaction (MULTI and EXEC are yielded, marked TxMulti
// and TxExec, the commands between them TxQueued), the #TS annotation in
// force, and its file and offset. Transactions are not buffered: memory
// stays bounded by the largest single command.
//
// Scanner is the incremental form for bytes relayed as they come: fed
// chunks of any size, it tells where each command ends (and where the
// last one outside MULTI/EXEC ends) without copying them. AppendCommand
// is the one RESP encoder, and Classify the one classification of a
// replication stream's commands (PING, REPLCONF, PUBLISH, SELECT,
// MULTI/EXEC).
//
// Commands returned by ReadCommand and Next point into buffers the reader
// reuses: they are valid until the next call. Values returned by
// ReadValue own their memory. Lengths read from the input are never
// trusted for allocation: bulk strings grow in chunks as their bytes
// arrive, so a declared length of 2^60 fails as truncated input.
//
// # Errors
//
// Parse errors are *ParseError values with the file name and byte
// offset. Truncated input wraps io.ErrUnexpectedEOF, including a MULTI
// without EXEC at the end of a file, which Redis reverts as a short read;
// malformed input wraps ErrProtocol (inline commands included: AOFs never
// hold them), ErrMulti (a nested MULTI, or EXEC without MULTI, as
// redis-check-aof reports them) or ErrManifest; errors in an RDB part
// wrap the *rdb.ParseError. Errors are sticky. Reader.ValidOffset gives
// where a truncated last file can be cut, as redis-check-aof --fix does.
//
// # Writing, rewriting, checking, replaying
//
// Writer writes commands as RESP arrays of bulk strings. Rewriter turns
// an rdb.KeyValue into the commands that recreate it, as Redis's AOF
// rewrite does (SET, RPUSH, SADD, ZADD, HSET, HPEXPIREAT, XADD, XSETID,
// XGROUP, XCLAIM, RESTORE for module values, PEXPIREAT), in batches, or
// into one RESTORE ... ABSTTL per key. Check reports an AOF's contents
// and where a truncated tail can be cut; Truncate cuts it after keeping a
// backup. Keyspace replays commands (and RDB parts) into an in-memory
// model of the data set with Redis 7.0's semantics and yields its keys
// as rdb.KeyValues: AOF -> RDB compaction. It holds the whole data set
// in memory and refuses commands it does not model, never skipping them.
package aof
