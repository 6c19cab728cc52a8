// Package sync talks to live Redis and Valkey servers: connection URLs
// (redis://, rediss://, redis+sentinel://) with redaction of passwords,
// TLS and ACL authentication, server facts (INFO: version, role, cluster,
// the newest RDB version it loads), cluster slot maps, and the writers
// that restore dumps into standalone servers and clusters. The
// replication client (acting as a replica) comes with its issue. Inside
// this package the standard library's sync is imported as gosync "sync".
package sync
