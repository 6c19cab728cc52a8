// Package rdb reads Redis and Valkey RDB snapshots as a stream of records.
//
// # Format
//
// It reads files with the magic REDIS and versions 1 to 14 (Redis 1.0 to
// 8.8) and VALKEY 80 and 81 (Valkey 9), as specified by Redis's and
// Valkey's rdb.h and rdb.c:
// every opcode (AUX, SELECTDB, RESIZEDB, EXPIRETIME, EXPIRETIME_MS, IDLE,
// FREQ, FUNCTION_PRE_GA, FUNCTION2, MODULE_AUX, SLOT_INFO, EOF) and every
// value type: strings (raw, integer, LZF), lists (linked, ziplist,
// quicklist of ziplists, quicklist of listpacks or plain nodes), sets
// (hash table, intset, listpack), sorted sets (text and binary scores,
// ziplist, listpack), hashes (hash table, zipmap, ziplist, listpack, and
// with field expiries in the Redis 7.4 pre-GA and GA forms), streams
// (listpacks 1 to 5 with consumer groups, PELs and consumers, Redis
// 8.6's IDMP producers and Redis 8.8's NACK zones), Redis 8.8's sparse
// arrays (element by element, see array.go), and module values of
// RDB_TYPE_MODULE_2 carried through opaque. Values of the
// pre-GA RDB_TYPE_MODULE cannot be skipped without the module and are
// reported as ErrUnsupportedType.
//
// The meaning of bytes 22 and up depends on the magic, as in Valkey's own
// loader: in REDIS files 22 to 25 are Redis 7.4's field-expiry hashes, 26
// is Redis 8.6's stream with IDMP producers and opcode 243 is the KEY_META
// prefix of a key (kept raw in Record.Meta); in VALKEY files 22 is
// Valkey 9's hash with per-field expiry and 243 is a SLOT_IMPORT record.
// In REDIS 14 files 27 is Redis 8.8's stream with NACK zones and 28 its
// array. Redis Enterprise's opcodes RAM_LRU (107) and SLOT_NUM (121), one
// length each, are read past as librdb does and counted (Skipped); any
// other unknown opcode is ErrUnsupportedType at its offset.
//
// # Use
//
// NewReader wraps an io.Reader; Next returns records until io.EOF, which
// it returns only after the EOF opcode and, for version 5 and later, a
// matching CRC64 trailer (a zero trailer means the writer disabled
// checksums). For a key record, the value is read lazily: Stats walks it
// and summarizes it (element count, largest element, in-memory encoding,
// estimated memory), Elements calls a function for each element, and
// WriteValue copies its exact serialized bytes. The next call to Next
// skips whatever was not read, still validating it. Collections are walked
// element by element, so memory stays bounded by the largest single
// string or encoded blob, never by the size of a collection.
//
// Records, keys and elements point into buffers owned by the Reader: they
// are valid until the next call to Next (elements: until the callback
// returns). Copy what must outlive that.
//
// # Errors
//
// Errors are *ParseError values carrying the file offset and the key being
// read. Truncated input wraps io.ErrUnexpectedEOF (see IsTruncated);
// damaged input wraps ErrCorrupt, ErrChecksum, ErrBadMagic,
// ErrUnsupportedVersion or ErrUnsupportedType. Lengths are never trusted
// for allocation: strings are read in chunks as their bytes arrive, so a
// hostile length costs no more memory than the input holds.
//
// # Memory estimates
//
// ValueStats.Memory models what the server that wrote the dump, on a
// 64-bit jemalloc build, reports with MEMORY USAGE key SAMPLES 0: what it
// keeps for the key, the robj, and the encoding's own structures
// (jemalloc size classes; dict or hashtable tables; listpack, intset and
// quicklist allocations; skiplist nodes at their expected level; stream
// radix trees, listpacks, consumer groups and PELs). Encodings no longer
// kept in memory (zipmap, ziplist, linked lists) are costed as the
// listpacks and quicklists the server converts them into.
//
// There is one model per server layout (MemoryModelNames: redis-7.0,
// redis-7.2, redis-7.4, redis-8.0, valkey-7.2, valkey-8.0, valkey-8.1,
// valkey-9.0). The Reader picks it from the header and the redis-ver or
// valkey-ver AUX field (ChooseMemoryModel), once per change of those,
// before the first key; Reader.SetMemoryModel forces one and
// Reader.MemoryModel tells which is used and why. redis-7.0 and valkey-8.0
// are measured against the live servers (TestMemoryAccuracy); the others
// are modelled from the server source. Where a model holds a value in a
// different encoding than the dump's (a list of one node as a listpack, a
// short string not embedded beside a long key), ValueStats.Encoding is the
// model's.
//
// # Writing
//
// Writer writes KeyValues, function libraries, AUX fields and module
// auxiliary data to an RDB file (RDB 10 by default) in the plain
// encodings, leaving compact
// encodings to the loading server; a key's elements are gathered before
// it is written. Reader.WriteDump and KeyValue.Dump give a key as the
// DUMP payload RESTORE takes, built from the file's own bytes. A value
// too big to gather is written element by element through a spool
// (Collection, Writer.WriteCollection), the count first. Arrays and
// streams with NACKed entries need RDB 14 (a VersionError otherwise);
// Collection does not take arrays.
//
// # JSON
//
// JSONWriter writes keys (KeyValue), function libraries, AUX fields and
// module auxiliary data as JSON Lines or one JSON array, streaming each
// value element by element; JSONReader reads either layout back into
// KeyValues (NextRecord also returns the other records). The encoding is
// lossless: byte strings that are not valid UTF-8 become {"base64": ...},
// scores read back bit-exact, expiries are absolute Unix ms, and stream
// metadata, module DUMP payloads and module aux payloads are kept in full. json.go specifies the format
// field by field; field names follow hdt3213/rdb where it has them.
//
// # Why our own decoder
//
// github.com/hdt3213/rdb decodes whole objects into memory and does not
// verify the CRC64 trailer. Measured here (2 cores): on BenchmarkReader's
// 46 MB mixed dump its decoder runs at 56 MB/s with 3 million allocations
// and 200 MB allocated per pass, where this Reader walks every value at
// 150-160 MB/s with 15 thousand allocations. On the 1.1 GB dump of
// bench/run.sh (3.6 million keys, a 5-million-member sorted set) this
// Reader computes every key's stats at about 410 MB/s in 7 MB of RSS
// (the CRC64 of large inputs is hashed on other cores, see crc.go), while
// hdt3213's memory report takes 13.6 s and 490 MB. So the hot path is this
// package; the hdt3213 decoder serves in tests as a differential oracle
// (TestCorpus), and its encoder will write RDB files.
package rdb
