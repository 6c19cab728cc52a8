// Package analysis aggregates the keys of RDB dumps in bounded memory:
// totals by database, type and encoding, an expiry profile, the N biggest
// keys (a heap) and memory by key prefix (a map bounded by depth and by a
// maximum number of entries), plus a flame graph page of the prefix tree
// (WriteFlameGraph: one self-contained HTML file whose size is bounded by
// a number of nodes, not by the number of keys).
//
// Scan drives an *rdb.Reader through an *rdb.Filter and hands every
// selected key with its value statistics to a callback. Aggregators take
// records through Add; records and their byte slices belong to the reader
// and are only valid during the call, so aggregators copy what they keep.
// Every aggregator has a Merge method so that dumps read in parallel (one
// aggregator per goroutine) can be combined; an aggregator itself is not
// safe for concurrent use.
//
// Memory figures are the reader's estimates of what Redis 7 would use
// (rdb.ValueStats.Memory), not what the file takes on disk.
package analysis
