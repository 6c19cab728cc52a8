// Package sync will talk to live Redis servers: connection URLs, TLS and
// ACL; a replication client that acts as a replica (PSYNC, full then
// incremental, resumable); and writers to standalone and cluster targets.
// It is empty until that work lands. Inside it, the standard library's
// package is imported as gosync "sync".
package sync
