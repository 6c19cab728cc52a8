package sync

import (
	"context"
	"errors"
	"time"

	"github.com/redkit/redkit/aof"
)

// Command is one command for a Writer.
type Command struct {
	// DB is the database, selected with SELECT on a standalone target
	// (a cluster has only db 0: a Command for another DB fails with
	// ErrClusterDB).
	DB int
	// Key routes the command to its slot's master on a cluster; nil sends
	// it to one node on a standalone target and to every master of a
	// cluster (FUNCTION RESTORE, FLUSHALL...), Done then being called once
	// with the first error, if any.
	Key []byte
	// Args is the command. The Writer copies what it needs before Send
	// returns: the caller may reuse the slices.
	Args [][]byte
	// Chunked, when not nil, is the argument at index ChunkedArg (whose
	// Args entry is ignored), as consecutive pieces that the Writer sends
	// without copying: the caller leaves them untouched until Done has
	// been called. For values of megabytes, which would otherwise be
	// copied whole.
	Chunked    [][]byte
	ChunkedArg int
	// Idempotent commands (RESTORE ... REPLACE, SET, DEL) are sent again
	// when their connection breaks before the reply came. Others then fail
	// with ErrUnknownOutcome: they may or may not have been applied.
	Idempotent bool
	// Done, if not nil, is called with the reply or the error, exactly once
	// per Send, from one of the Writer's goroutines; it must not block for
	// long, and must not call Send or Close.
	Done func(reply aof.Value, err error)
}

// ErrUnknownOutcome means a non-idempotent command's connection broke
// before its reply: it may or may not have been applied.
var ErrUnknownOutcome = errors.New("connection lost before the reply: the command may or may not have been applied")

// ErrClusterDB means a command for a database other than 0 was sent to a
// cluster.
var ErrClusterDB = errors.New("a cluster has only database 0")

// WriterOptions configure a Writer.
type WriterOptions struct {
	Conn Options // credentials, TLS, timeouts; Conn.DB is ignored (Command.DB rules)
	// Depth is the most commands in flight on one connection (default 512).
	Depth int
	// RetryFor bounds how long transient failures (LOADING, TRYAGAIN,
	// CLUSTERDOWN, refused or broken connections, a failover) are retried,
	// with exponential backoff from 50ms to 2s (default 60s).
	RetryFor time.Duration
	// Log, if set, receives one line per notable event (reconnect, topology
	// change, MOVED). Never a password.
	Log func(format string, args ...any)
}

// WriterStats are a Writer's counters.
type WriterStats struct {
	Commands, Bytes int64 // sent and acknowledged
	Retries         int64 // commands sent again (MOVED, ASK, TRYAGAIN, reconnects)
	Redirects       int64 // MOVED and ASK replies followed
	Reconnects      int64
}

// A Writer sends commands to one standalone server or to a Redis
// Cluster, pipelined over one connection per node, and follows the
// cluster through MOVED, ASK and failovers. It is safe for one goroutine
// to Send while Done callbacks run on others.
type Writer interface {
	// Send queues one command. It blocks while Depth commands are in
	// flight on its connection. It fails only when the Writer has failed or
	// ctx is done; per-command errors go to Done.
	Send(ctx context.Context, cmd *Command) error
	// Close waits for every reply, then closes the connections. It returns
	// the error that made the Writer fail, if any.
	Close() error
	// Cluster tells whether the target is a cluster.
	Cluster() bool
	// Stats returns the counters so far.
	Stats() WriterStats
}

// NewWriter connects to addr: a standalone server, or any node of a
// cluster when cluster is set (Info tells which).
//
// Implemented in pipeline.go (standalone) and cluster.go (cluster).
func NewWriter(ctx context.Context, addr string, cluster bool, opts WriterOptions) (Writer, error) {
	if cluster {
		return newClusterWriter(ctx, addr, opts)
	}
	return newPipelineWriter(ctx, addr, opts)
}
