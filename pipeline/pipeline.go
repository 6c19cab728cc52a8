package pipeline

import (
	"context"
	"errors"
	"io"
	"slices"

	"github.com/redkit/redkit/rdb"
)

// Item is one thing an input holds that a sink writes: a key, a function
// library's code, a module's auxiliary data, or an AOF command. Exactly
// one of Key, Function, ModuleAux and Command is set. An Item, and what
// it points to, is valid only until the next call to its Source's Next.
type Item struct {
	Key       *rdb.KeyValue
	Function  []byte
	ModuleAux *rdb.Record // a KindModuleAux record
	Command   [][]byte    // an AOF command, to run in DB
	DB        int         // the database of Command
}

// Source reads items from one input, filtered. Next returns io.EOF at
// the end; any other error stops the input.
type Source interface {
	Next() (Item, error)
}

// Sink writes items in one output format, or into a live server.
type Sink interface {
	// NeedsKeyspace tells that AOF commands must be replayed into a
	// keyspace before this sink can write keys.
	NeedsKeyspace() bool
	Key(kv *rdb.KeyValue) error
	Function(code []byte) error
	// ModuleAux writes a module's auxiliary data (a KindModuleAux
	// record), or notes in the stats that the format cannot carry it.
	ModuleAux(rec *rdb.Record) error
	// Command passes an AOF command through; sinks that need a keyspace
	// refuse it with ErrNeedsReplay.
	Command(args [][]byte, db int) error
	// Close flushes what is buffered. Copy does not call it.
	Close() error
}

// Stats counts what a sink wrote, for a summary.
type Stats struct {
	Keys, Functions, Commands int64
	AuxLeftOut                []string // modules whose auxiliary data the format could not carry
}

// leaveOutAux notes a module whose auxiliary data is not written.
func (st *Stats) leaveOutAux(rec *rdb.Record) {
	if name := rec.Module.Name(); !slices.Contains(st.AuxLeftOut, name) {
		st.AuxLeftOut = append(st.AuxLeftOut, name)
	}
}

// Options tune Copy. The zero value copies items as they are.
type Options struct {
	// DBMap moves keys (and commands) of a source database to another:
	// source database -> target database. Nil moves nothing.
	DBMap map[int]int
	// Replay replays an AOF's commands into the keys even when they
	// follow an RDB part (an AOF with an RDB preamble), for a sink that
	// needs a keyspace. Plain and multi-part AOFs always are.
	Replay bool
	// Now is the Unix time in ms that relative expiries in replayed AOF
	// commands count from when no #TS annotation gives one; 0 refuses
	// them.
	Now int64
}

// Copy copies every item of src to sink, moving keys to the databases
// opts.DBMap names. When src is an *AOFSource holding commands (or
// opts.Replay is set) and sink needs a keyspace, the AOF is replayed into
// an in-memory keyspace first (the whole data set is held), whose
// function libraries and keys are then written. Copy stops at the first
// error of src or sink, or when ctx is done, and does not close sink.
func Copy(ctx context.Context, src Source, sink Sink, opts Options) error {
	if as, ok := src.(*AOFSource); ok && sink.NeedsKeyspace() && (as.commands || opts.Replay) {
		return replay(ctx, as, sink, opts)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		it, err := src.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case it.Key != nil:
			if db, ok := opts.DBMap[it.Key.DB]; ok {
				it.Key.DB = db
			}
			err = sink.Key(it.Key)
		case it.ModuleAux != nil:
			err = sink.ModuleAux(it.ModuleAux)
		case it.Command != nil:
			db := it.DB
			if d, ok := opts.DBMap[db]; ok {
				db = d
			}
			err = sink.Command(it.Command, db)
		default:
			err = sink.Function(it.Function)
		}
		if err != nil {
			return err
		}
	}
}
