package sync

import (
	"errors"
	"fmt"
)

// Errors that say what a target or a setting cannot do. They name no
// command-line flag: a caller that has flags adds its own advice (redkit's
// command layer names its flags there).

// ErrTLSKeyPair means TLSOptions has a client certificate without its
// key, or a key without its certificate.
var ErrTLSKeyPair = errors.New("TLS: a client certificate and its key go together")

// ErrMixedKeys means a command of the stream touches keys both kept and
// dropped by the SyncFilter, and cannot be applied in part.
var ErrMixedKeys = errors.New("touches keys both inside and outside the filter, and cannot be applied in part")

// ErrRestoreMode means ModeRestore was asked of a target older than
// Redis 7.0: EncodeDump writes payloads of RDB 10 and later only.
var ErrRestoreMode = errors.New("the restore mode needs Redis 7.0 or later here")

// ErrCrossSlotTx means a transaction of the stream spans several slots
// of a cluster target and SyncOptions.Strict refuses to split it.
var ErrCrossSlotTx = errors.New("a cluster cannot apply it atomically")

// ErrNativeCluster means a native sync was asked of a cluster target:
// only a standalone server can be a replica of redkit.
var ErrNativeCluster = errors.New("a native sync needs a standalone target")

// ErrNativeReplica means a native sync's target is the replica of
// another master, its link up: only a master (or the replica of an
// earlier native sync) can become the replica of redkit.
var ErrNativeReplica = errors.New("a native sync needs a master as its target (or the replica of an earlier native sync)")

// ErrNativeVersion means a native sync's target loads older RDB
// versions than the source's snapshots: it cannot load them itself.
var ErrNativeVersion = errors.New("a native sync needs a target that loads the source's RDB version")

// A PayloadVersionError means a key's DUMP payload is of an RDB version
// the target does not load, under ModeRestore (ModeAuto would rebuild
// the key with commands). It is a per-key failure.
type PayloadVersionError struct {
	Payload int    // the payload's RDB version
	Server  string // the target's server (redis, valkey) and version
	Version string
	Loads   int // the newest RDB version the target loads
}

func (e *PayloadVersionError) Error() string {
	return fmt.Sprintf("payload of RDB %d: %s %s loads RDB %d and older", e.Payload, e.Server, e.Version, e.Loads)
}

// A ClusterDBError is a key, or a command of the replication stream,
// for a database other than 0, which a cluster target does not have. It
// wraps ErrClusterDB.
type ClusterDBError struct {
	DB int
	// Key is the key a Restorer was given, when Command is "".
	Key []byte
	// Command is the command of the stream (upper case) and Offset where
	// it ends; "" for a key.
	Command string
	Offset  int64
}

func (e *ClusterDBError) Error() string {
	if e.Command != "" {
		return fmt.Sprintf("%s at offset %d is for database %d: %v", e.Command, e.Offset, e.DB, ErrClusterDB)
	}
	return fmt.Sprintf("key %q is in db %d: %v", e.Key, e.DB, ErrClusterDB)
}

func (e *ClusterDBError) Unwrap() error { return ErrClusterDB }

// A ClusterTargetDBError is a target URL that names a database other
// than 0 of a cluster, which has only database 0. It wraps ErrClusterDB.
type ClusterTargetDBError struct {
	Endpoint *Endpoint
	DB       int
}

func (e *ClusterTargetDBError) Error() string {
	return fmt.Sprintf("%s is a cluster: it has only database 0", e.Endpoint)
}

func (e *ClusterTargetDBError) Unwrap() error { return ErrClusterDB }

// Warnings logged with these messages (and attributes) name no flag
// either: a caller that has flags may add its advice to them.
const (
	// LogTxSplit: a transaction of the stream spanning several slots of
	// a cluster target is applied per slot (SyncOptions.Strict refuses
	// it instead).
	LogTxSplit = "a transaction spanning several slots is applied per slot: no longer atomic across them"
	// LogDenied: a command of the stream named in SyncFilter.Deny was
	// left out.
	LogDenied = "command not applied (denied)"
)
