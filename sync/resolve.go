package sync

import (
	"context"
	"fmt"
	"time"

	"github.com/redkit/redkit/internal/retry"
)

// ConnectRetryFor is how long a first connection keeps being retried
// while the server refuses connections, is loading or is failing over.
const ConnectRetryFor = 10 * time.Second

// WaitInfo connects to addr and reads the server's facts (Info),
// retrying transient failures (a refused connection, LOADING, ...; see
// Transient) with backoff for up to retryFor. INFO is safe to repeat.
// log, when not nil, is told of the first retry.
func WaitInfo(ctx context.Context, addr string, opts *Options, retryFor time.Duration, log func(format string, args ...any)) (*ServerInfo, error) {
	deadline := time.Now().Add(retryFor)
	backoff := retry.Backoff{First: 50 * time.Millisecond, Max: 2 * time.Second}
	for try := 1; ; try++ {
		wait := backoff.Delay(try - 1)
		conn, err := Dial(ctx, addr, opts)
		var info *ServerInfo
		if err == nil {
			info, err = Info(conn)
			conn.Close()
		}
		if err == nil || !Transient(err) || time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			return info, err
		}
		if try == 1 && log != nil {
			log("%s: %v; retrying for up to %v", addr, err, retryFor)
		}
		if !retry.Wait(ctx, wait) {
			return nil, ctx.Err()
		}
	}
}

// Resolve finds the server of ep (its Sentinel master, if any:
// ResolveSentinel) and reads its facts, waiting for one that is starting
// (WaitInfo). It returns the server's address.
func Resolve(ctx context.Context, ep *Endpoint, opts *Options, retryFor time.Duration, log func(format string, args ...any)) (string, *ServerInfo, error) {
	addr, err := ResolveSentinel(ctx, ep, opts)
	if err != nil {
		return "", nil, err
	}
	info, err := WaitInfo(ctx, addr, opts, retryFor, log)
	return addr, info, err
}

// A Target is a server resolved to be written to (ResolveTarget).
type Target struct {
	Endpoint *Endpoint
	Addr     string // a Sentinel's master resolved
	Opts     Options
	Info     *ServerInfo
}

// ResolveTarget resolves ep (Sentinel included) and connects once to
// read the server's facts, waiting up to retryFor for one that is
// starting or loading (WaitInfo, which tells log of its first retry).
// A cluster with a database other than 0 in the URL is a
// *ClusterTargetDBError. A failure to read the server's facts is wrapped
// with ep.
func ResolveTarget(ctx context.Context, ep *Endpoint, opts Options, retryFor time.Duration, log func(format string, args ...any)) (*Target, error) {
	addr, err := ResolveSentinel(ctx, ep, &opts)
	if err != nil {
		return nil, err
	}
	info, err := WaitInfo(ctx, addr, &opts, retryFor, log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	if info.Cluster && ep.DBSet && ep.DB != 0 {
		return nil, &ClusterTargetDBError{Endpoint: ep, DB: ep.DB}
	}
	return &Target{Endpoint: ep, Addr: addr, Opts: opts, Info: info}, nil
}

// NewWriter opens a Writer to t (NewWriter) with t's connection options;
// a failure is wrapped with t's URL.
func (t *Target) NewWriter(ctx context.Context, o WriterOptions) (Writer, error) {
	o.Conn = t.Opts
	w, err := NewWriter(ctx, t.Addr, t.Info.Cluster, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Endpoint, err)
	}
	return w, nil
}
