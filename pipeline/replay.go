package pipeline

import (
	"context"
	"errors"
	"io"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/rdb"
)

// replay replays an AOF (its RDB parts and its commands) into an
// in-memory keyspace, then writes the keyspace's function libraries and
// keys to sink, filtered by the source's filter and moved to the
// databases opts.DBMap names.
func replay(ctx context.Context, src *AOFSource, sink Sink, opts Options) error {
	ks, err := ReplayKeyspace(ctx, src, opts.Now)
	if err != nil {
		return err
	}
	if err := ks.Functions(sink.Function); err != nil {
		return err
	}
	return ks.Keys(func(kv *rdb.KeyValue) error {
		r := rdb.Record{Kind: rdb.KindKey, DB: kv.DB, Key: kv.Key, Type: kv.Type, ExpireAt: kv.ExpireAt}
		if !src.filter.MatchKey(&r) {
			return nil
		}
		if db, ok := opts.DBMap[kv.DB]; ok {
			kv.DB = db
		}
		return sink.Key(kv)
	})
}

// ReplayKeyspace replays what is left of src's AOF (its RDB parts and
// its commands, unfiltered) into an in-memory keyspace, with Redis's
// semantics: a command Redis itself would refuse (aof.ErrRejected)
// changes nothing, as when Redis loads the file. now is the Unix time in
// ms that relative expiries count from without a #TS annotation (0:
// refuse them).
func ReplayKeyspace(ctx context.Context, src *AOFSource, now int64) (*aof.Keyspace, error) {
	ks := aof.NewKeyspace(aof.KeyspaceOptions{Now: now})
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := src.rd.Next()
		if errors.Is(err, io.EOF) {
			return ks, nil
		}
		if err != nil {
			return nil, err
		}
		if e.Kind == aof.KindRDB {
			err = ks.LoadRDB(e.RDB)
			src.noteVersion(e.RDB)
		} else {
			err = ks.Apply(e)
		}
		if err != nil && !errors.Is(err, aof.ErrRejected) {
			return nil, err
		}
	}
}

// ReplayedRDB replays what is left of src's AOF (ReplayKeyspace, the
// whole keyspace held in memory) and returns it as the RDB a server
// would save of it, written as it is read: the function libraries, then
// the keys in the encodings a server of the AOF's RDB version holds them
// in (rdb.WriterOptions.Compact; RDB 10, Redis 7.0, for an AOF without
// an RDB part) and with the AUX fields that name the server
// (AOFSource.ServerAux), so that the memory a reader estimates from it is
// the server's, by that server's memory model. It returns the version written. Close the reader to stop
// the writing early.
func ReplayedRDB(ctx context.Context, src *AOFSource, now int64) (io.ReadCloser, int, error) {
	ks, err := ReplayKeyspace(ctx, src, now)
	if err != nil {
		return nil, 0, err
	}
	version := min(max(src.RDBVersion(), 10), rdb.MaxRedisVersion)
	pr, pw := io.Pipe()
	go func() {
		w, err := rdb.NewWriter(pw, rdb.WriterOptions{Version: version, Compact: true})
		for _, f := range src.ServerAux() {
			if err == nil {
				err = w.WriteAux(f[0], f[1])
			}
		}
		if err == nil {
			err = ks.Functions(w.WriteFunction)
		}
		if err == nil {
			err = ks.Keys(w.WriteKey)
		}
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, version, nil
}
