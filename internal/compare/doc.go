// Package compare compares two Redis data sets key by key: dumps (any
// input that yields rdb.KeyValues: RDB files, redkit JSON, a replayed
// AOF) and live servers (standalone, Sentinel-resolved or cluster).
//
// # What is compared
//
// Every key of every database (a cluster has only database 0), except
// keys under the prefix "redkit:" (redkit's own checkpoint keys) and keys
// already expired when they are read, which a server would not serve.
// For each key: its type, its absolute expiry (within Options.TTLTolerance)
// and its value, through a digest.
//
// # Digests
//
// A value is never held whole (strings aside: a string is one element).
// Each element is hashed with a keyed 128-bit hash (two hash/maphash
// seeds drawn per Hasher, so digests only compare within one run) over a
// length-prefixed encoding of the element, and the per-element hashes are
// added modulo 2^64 in each of two lanes, with the element count kept
// beside. A sum is order-independent, which suits sets, hashes and sorted
// sets read in any order; ordered values put the position into the
// element (lists: the index; streams: the entry ID, which orders them).
// Sorted-set scores are hashed as their IEEE 754 bits (servers reply
// with text that parses back to the same bits), -0 as 0, which Redis
// does not tell apart; hash field expiries are
// part of the field's element. A stream's metadata (last, first and
// max-deleted IDs, entries added, consumer groups with their last
// delivered ID, entries read, pending entries with consumer and delivery
// count, and consumer names) goes into a second digest, so a report can
// tell entries from metadata. Delivery, seen and active times are not
// compared: replaying a stream (redkit convert, XCLAIM) resets them.
// Module values are compared by their DUMP payload without its version
// and CRC trailer.
//
// # Reading live servers
//
// Keys come from SCAN (COUNT 1000) per database and, on a cluster, per
// master. Per batch of keys, TYPE and PEXPIRETIME (PTTL added to the time
// of reading before Redis 7.0) are pipelined, then the first chunk of
// every value: GET, LRANGE and ZRANGE ... WITHSCORES by index chunks of
// 1000, SSCAN and HSCAN with COUNT 1000, XRANGE with COUNT 1000 plus
// XINFO STREAM and XINFO GROUPS, DUMP for module values; further chunks,
// XPENDING in chunks and XINFO CONSUMERS follow per key.
//
// SSCAN and HSCAN may return an element twice when the server rehashes
// between calls, which would spoil a sum. The reader checks that the
// number of elements seen equals SCARD or HLEN and, when it does not,
// reads the key again, up to three times, then fails with an error
// naming the key: it never falls back to SMEMBERS or HGETALL, which would
// hold the whole value.
//
// # Memory
//
// Compare reads both sides at once and keeps one Entry (key, type,
// expiry, counts, digests) per key seen on one side and not yet on the
// other: memory grows with the number of keys, never with value sizes.
package compare
