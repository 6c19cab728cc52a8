package pipeline

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/redkit/redkit/rdb"
	rsync "github.com/redkit/redkit/sync"
)

// Target is a live server or cluster, connected: its URL, its facts and
// a Writer to it.
type Target struct {
	Endpoint *rsync.Endpoint
	Info     *rsync.ServerInfo
	Writer   rsync.Writer
}

// LiveOptions tune a LiveSink. The zero value works.
type LiveOptions struct {
	// Restore configures the rsync.Restorer that writes the keys.
	Restore rsync.RestoreOptions
	// NoFunctions leaves the input's function libraries out: a cluster
	// backup's shards after the first (every master holds the same
	// libraries).
	NoFunctions bool
}

// LiveSink writes keys and function libraries into a live target
// through an rsync.Restorer. It needs a keyspace: AOF commands are
// refused with ErrNeedsReplay (Copy replays them into keys). Module
// auxiliary data is left out: no command sets it on a live server.
type LiveSink struct {
	ctx         context.Context
	r           *rsync.Restorer
	t           Target
	noFunctions bool
	start       time.Time
}

var _ Sink = (*LiveSink)(nil)

// NewLiveSink returns a sink writing into t; ctx bounds every write. It
// owns t.Writer from then on, and closes it on error (an invalid
// opts.Restore).
func NewLiveSink(ctx context.Context, t Target, opts LiveOptions) (*LiveSink, error) {
	r, err := rsync.NewRestorer(t.Writer, t.Info, opts.Restore)
	if err != nil {
		t.Writer.Close()
		return nil, err
	}
	return &LiveSink{ctx: ctx, r: r, t: t, noFunctions: opts.NoFunctions, start: time.Now()}, nil
}

// Flush empties the target (FLUSHALL on every master). On error the
// sink is closed.
func (s *LiveSink) Flush(ctx context.Context) error {
	if err := s.r.Flush(ctx); err != nil {
		s.t.Writer.Close()
		return err
	}
	return nil
}

// Stats returns what the sink did so far; safe while a Copy runs.
func (s *LiveSink) Stats() rsync.RestoreStats { return s.r.Stats() }

func (s *LiveSink) NeedsKeyspace() bool { return true }

func (s *LiveSink) Key(kv *rdb.KeyValue) error { return s.r.Key(s.ctx, kv) }

func (s *LiveSink) Function(code []byte) error {
	if s.noFunctions {
		return nil
	}
	return s.r.Function(s.ctx, code)
}

// ModuleAux skips module auxiliary data: no command sets it on a live
// server.
func (s *LiveSink) ModuleAux(*rdb.Record) error { return nil }

// Command refuses AOF commands with ErrNeedsReplay.
func (s *LiveSink) Command([][]byte, int) error { return ErrNeedsReplay }

// Close waits for every reply and closes the Writer (rsync.Restorer's
// Close): it returns the error that stopped the restore, if any.
func (s *LiveSink) Close() error { return s.r.Close() }

// ErrKeysFailed tells a restore that ran to its end while the target
// refused some keys (RestoreResult.Failures): what a caller returns for
// it, wrapped with the count, so that a restore of several inputs goes on
// with the next.
var ErrKeysFailed = errors.New("keys failed")

// RestoreResult is what Restore did.
type RestoreResult struct {
	Stats  rsync.RestoreStats
	Writer rsync.WriterStats
	// Failures are the keys the target refused (at most
	// rsync.MaxFailures); nil when ctx was done, as the keys in flight
	// were then cut off, not refused.
	Failures []*rsync.KeyError
	// Elapsed runs from NewLiveSink (a flush included) to the end.
	Elapsed time.Duration
}

// Restore copies src into sink's target (Copy) and closes sink. On a
// standalone target the URL's database, when it names one, is where
// database 0 goes unless opts.DBMap says otherwise. The result is always
// returned, with the first error of the copy or of the close.
func Restore(ctx context.Context, src Source, sink *LiveSink, opts Options) (*RestoreResult, error) {
	ep, info := sink.t.Endpoint, sink.t.Info
	if ep.DBSet && ep.DB != 0 && !info.Cluster {
		if _, ok := opts.DBMap[0]; !ok {
			m := maps.Clone(opts.DBMap)
			if m == nil {
				m = map[int]int{}
			}
			m[0] = ep.DB
			opts.DBMap = m
		}
	}
	err := Copy(ctx, src, sink, opts)
	cerr := sink.Close()
	res := &RestoreResult{Elapsed: time.Since(sink.start), Stats: sink.r.Stats(), Writer: sink.t.Writer.Stats()}
	if err == nil {
		err = cerr
	}
	if ctx.Err() == nil {
		res.Failures = sink.r.Failures()
	}
	return res, err
}
