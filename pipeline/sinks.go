package pipeline

import (
	"errors"
	"io"
	"strconv"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/rdb"
)

// ErrNeedsReplay is returned by a sink that needs a keyspace (JSON, RDB,
// a live target) when it is given AOF commands: they follow the RDB part
// of an AOF with an RDB preamble and change keys already written. Copy
// with Options.Replay replays them into the keys instead.
var ErrNeedsReplay = errors.New("AOF commands follow the RDB part (an AOF with an RDB preamble)")

// RESPOptions tune a RESPSink. The zero value works.
type RESPOptions struct {
	// Batch is the most elements per RPUSH, SADD, ZADD or HSET
	// (aof.RewriteOptions.Batch; 0: its default).
	Batch int
	// RestorePayloads writes one RESTORE ... ABSTTL per key instead of
	// the commands that build it.
	RestorePayloads bool
}

// RESPSink writes RESP commands (what redis-cli --pipe reads, and an AOF
// Redis loads): keys as the commands that recreate them (aof.Rewriter),
// AOF commands as they are with a SELECT when the database changes.
// Module auxiliary data cannot be carried: Stats names the modules.
type RESPSink struct {
	db int // database of the last passed-through command, -1 unknown
	w  *aof.Writer
	rw *aof.Rewriter
	st Stats
}

var _ Sink = (*RESPSink)(nil)

// NewRESPSink returns a sink writing to w.
func NewRESPSink(w io.Writer, opts RESPOptions) *RESPSink {
	return &RESPSink{
		db: -1,
		w:  aof.NewWriter(w),
		rw: aof.NewRewriter(aof.RewriteOptions{Batch: opts.Batch, RestorePayloads: opts.RestorePayloads}),
	}
}

// Stats returns what was written; Commands is known after Close.
func (s *RESPSink) Stats() Stats { return s.st }

func (s *RESPSink) Key(kv *rdb.KeyValue) error {
	s.st.Keys++
	s.db = -1 // the rewriter may select another database
	return s.rw.Key(kv, s.w.WriteCommand)
}

func (s *RESPSink) Function(code []byte) error {
	s.st.Functions++
	return s.rw.Function(code, s.w.WriteCommand)
}

// ModuleAux notes the module in Stats().AuxLeftOut: RESP cannot carry
// its data.
func (s *RESPSink) ModuleAux(rec *rdb.Record) error {
	s.st.leaveOutAux(rec)
	return nil
}

func (s *RESPSink) NeedsKeyspace() bool { return false }

func (s *RESPSink) Command(args [][]byte, db int) error {
	if db != s.db {
		s.rw.Reset() // the next key selects its database again
		if err := s.w.WriteCommand([]byte("SELECT"), []byte(strconv.Itoa(db))); err != nil {
			return err
		}
		s.db = db
	}
	return s.w.WriteCommand(args...)
}

func (s *RESPSink) Close() error {
	s.st.Commands = s.w.Commands()
	return s.w.Flush()
}

// JSONSink writes keys, function libraries and module auxiliary data as
// redkit JSON or JSON Lines (rdb.JSONWriter).
type JSONSink struct {
	w  *rdb.JSONWriter
	st Stats
}

var _ Sink = (*JSONSink)(nil)

// NewJSONSink returns a sink writing to w.
func NewJSONSink(w io.Writer, opts rdb.JSONOptions) *JSONSink {
	return &JSONSink{w: rdb.NewJSONWriter(w, opts)}
}

// Stats returns what was written.
func (s *JSONSink) Stats() Stats { return s.st }

func (s *JSONSink) Key(kv *rdb.KeyValue) error {
	s.st.Keys++
	return s.w.WriteKey(kv)
}

func (s *JSONSink) Function(code []byte) error {
	s.st.Functions++
	return s.w.WriteFunction(code)
}

func (s *JSONSink) ModuleAux(rec *rdb.Record) error {
	return s.w.WriteModuleAux(rec.Module, rec.When, rec.Data)
}

func (s *JSONSink) Close() error { return s.w.Close() }

// Command refuses AOF commands with ErrNeedsReplay.
func (s *JSONSink) Command([][]byte, int) error { return ErrNeedsReplay }

func (s *JSONSink) NeedsKeyspace() bool { return true }

// RDBSink writes an RDB file (rdb.Writer).
type RDBSink struct {
	w  *rdb.Writer
	st Stats
}

var _ Sink = (*RDBSink)(nil)

// NewRDBSink returns a sink writing to w; it fails for an RDB version
// rdb.Writer does not write.
func NewRDBSink(w io.Writer, opts rdb.WriterOptions) (*RDBSink, error) {
	rw, err := rdb.NewWriter(w, opts)
	if err != nil {
		return nil, err
	}
	return &RDBSink{w: rw}, nil
}

// Stats returns what was written.
func (s *RDBSink) Stats() Stats { return s.st }

func (s *RDBSink) Key(kv *rdb.KeyValue) error {
	s.st.Keys++
	return s.w.WriteKey(kv)
}

func (s *RDBSink) Function(code []byte) error {
	s.st.Functions++
	return s.w.WriteFunction(code)
}

func (s *RDBSink) ModuleAux(rec *rdb.Record) error {
	return s.w.WriteModuleAux(rec.Module, rec.When, rec.Data)
}

func (s *RDBSink) Close() error { return s.w.Close() }

// Command refuses AOF commands with ErrNeedsReplay.
func (s *RDBSink) Command([][]byte, int) error { return ErrNeedsReplay }

func (s *RDBSink) NeedsKeyspace() bool { return true }
