package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/pipeline"
	"github.com/redkit/redkit/rdb"
	"github.com/redkit/redkit/storage"
)

// AtPlan is what a restore to a point in time reads: the base of a
// generation of continuous backups, then its segments in order up to the
// cutoff.
type AtPlan struct {
	Cut        Cutoff
	Generation *Generation
	Base       *Manifest // the generation's base backup
	Segments   []SegmentInfo
}

// UnknownGenerationError is returned by PlanAt for a generation the
// storage does not hold.
type UnknownGenerationError struct{ ID string }

func (e *UnknownGenerationError) Error() string {
	return fmt.Sprintf("%s is not a generation of a continuous backup", e.ID)
}

// PlanAt plans a restore of the continuous backups in b to cut
// (PlanRestore), within the generation genID when it is neither "" nor
// "latest". Errors: the listing's, an *UnknownGenerationError, or
// PlanRestore's (ErrNotRestorable, *AfterRecoveryPointError).
func PlanAt(ctx context.Context, b storage.Backend, genID string, cut Cutoff) (*AtPlan, error) {
	l, err := List(ctx, b)
	if err != nil {
		return nil, err
	}
	gens, err := ListGenerations(ctx, b, l)
	if err != nil {
		return nil, err
	}
	if genID != "" && genID != "latest" {
		var only []*Generation
		for _, g := range gens {
			if g.ID() == genID {
				only = append(only, g)
			}
		}
		if len(only) == 0 {
			return nil, &UnknownGenerationError{ID: genID}
		}
		gens = only
	}
	g, segs, err := PlanRestore(gens, cut)
	if err != nil {
		return nil, err
	}
	return &AtPlan{Cut: cut, Generation: g, Base: g.Base, Segments: segs}, nil
}

// SegmentBytes is the segments' stored size.
func (p *AtPlan) SegmentBytes() int64 {
	var n int64
	for _, s := range p.Segments {
		n += s.StoredBytes
	}
	return n
}

// BaseObject is the base's one object (an RDB).
func (p *AtPlan) BaseObject() (ObjectEntry, error) {
	if len(p.Base.Objects) != 1 {
		return ObjectEntry{}, fmt.Errorf("generation %s has %d base objects, want 1", p.Base.ID, len(p.Base.Objects))
	}
	return p.Base.Objects[0], nil
}

// What an AtVerifyError found wrong.
const (
	AtGap     = "gap"     // latest would stop at a gap (Err is the *GapError)
	AtBase    = "base"    // the base does not verify
	AtSegment = "segment" // a segment does not verify
)

// AtVerifyError is returned by VerifyAt: what does not verify (AtGap,
// AtBase or AtSegment), and why.
type AtVerifyError struct {
	What string
	Err  error
}

func (e *AtVerifyError) Error() string { return e.Err.Error() }
func (e *AtVerifyError) Unwrap() error { return e.Err }

// VerifyAt checks a plan whole before anything is written: a latest
// restore that would stop at a gap is refused before anything is read;
// then the base (VerifyObject) and every segment (VerifySegment: SHA-256,
// record CRCs and counts) are read.
func VerifyAt(ctx context.Context, b storage.Backend, p *AtPlan, c storage.Codec) error {
	g, m := p.Generation, p.Base
	if g.Gap != nil && (p.Cut == Cutoff{}) {
		return &AtVerifyError{What: AtGap, Err: g.Gap}
	}
	base, err := p.BaseObject()
	if err == nil {
		err = VerifyObject(ctx, b, m, base, c)
	}
	if err != nil {
		return &AtVerifyError{What: AtBase, Err: err}
	}
	for _, si := range p.Segments {
		if err := VerifySegment(ctx, b, si, m.Compression, c); err != nil {
			return &AtVerifyError{What: AtSegment, Err: err}
		}
	}
	return nil
}

// Piper sends a stream of commands to a server, pipelined, and counts
// the replies and the errors among them (rsync.Conn.Pipe).
type Piper interface {
	Pipe(r io.Reader, onError func(msg string)) (replies, errs int64, err error)
}

// AtOptions tune RestoreAt. Into is required.
type AtOptions struct {
	Restore RestoreOptions
	// Into restores the base into the target (RestoreObject).
	Into RestoreFunc
	// Conn, when not nil, takes the segments' commands after the base;
	// nil when the plan has no segment.
	Conn Piper
	// OnCommandError is told each command the target refused.
	OnCommandError func(msg string)
}

// AtResult is what RestoreAt and RestoreAtToFile did.
type AtResult struct {
	Piped    bool          // the commands went to the target
	PipeTime time.Duration // how long they took
	Failed   int64         // commands the target refused
	// Commands, LastOffset and LastReceived are the Replay's: the
	// commands given, the offset after the last and its receive time.
	Commands     int64
	LastOffset   int64
	LastReceived time.Time
	Keys         int64 // RestoreAtToFile: keys written
}

// PipeError is a failure of the link to the target while the commands
// were replayed.
type PipeError struct{ Err error }

func (e *PipeError) Error() string { return e.Err.Error() }
func (e *PipeError) Unwrap() error { return e.Err }

// SegmentsError is returned when the replay of the segments stopped
// early (a damaged or missing segment, a gap): the base and Commands
// commands were restored, up to offset UpTo.
type SegmentsError struct {
	Commands int64
	UpTo     int64
	Err      error
}

func (e *SegmentsError) Error() string { return e.Err.Error() }
func (e *SegmentsError) Unwrap() error { return e.Err }

// RestoreAt restores a plan into a target: the base through opts.Into
// (its errors as RestoreObject returns them), then the commands of the
// segments, as they are, pipelined through opts.Conn: the target
// executes them, as a replica does its master's, and they follow their
// SELECTs. Without segments the plan's gap, if any, is still told. The
// result is returned with a *PipeError or a *SegmentsError.
func RestoreAt(ctx context.Context, b storage.Backend, p *AtPlan, opts AtOptions) (*AtResult, error) {
	m := p.Base
	base, err := p.BaseObject()
	if err != nil {
		return nil, err
	}
	rp := NewReplay(ctx, b, p.Segments, m.Compression, opts.Restore.Codec, p.Cut)
	rp.Gap = p.Generation.Gap
	defer rp.Close()
	res := &AtResult{}
	if err := RestoreObject(ctx, b, m, base, 0, opts.Into, opts.Restore); err != nil {
		return res, err
	}
	if opts.Conn != nil {
		start := time.Now()
		var err error
		if _, res.Failed, err = opts.Conn.Pipe(rp, opts.OnCommandError); err != nil {
			return res, &PipeError{Err: err}
		}
		res.Piped, res.PipeTime = true, time.Since(start)
	} else if _, err := io.Copy(io.Discard, rp); err != nil { // no segment: a gap after the base is still told
		return res, err
	}
	return res, replayDone(p, rp, res)
}

// replayDone fills res from the replay, and returns its error, if any,
// as a *SegmentsError.
func replayDone(p *AtPlan, rp *Replay, res *AtResult) error {
	res.Commands, res.LastOffset, res.LastReceived = rp.Commands, rp.LastOffset, rp.LastReceived
	if rerr := rp.Err(); rerr != nil {
		upTo := rp.LastOffset
		if len(p.Segments) == 0 && p.Base.Replication != nil {
			upTo = p.Base.Replication.Offset
		}
		return &SegmentsError{Commands: rp.Commands, UpTo: upTo, Err: rerr}
	}
	return nil
}

// IncompleteError is returned by RestoreAtToFile when the file would
// hold only part of the plan (a damaged base, a damaged or missing
// segment): nothing was written to it.
type IncompleteError struct{ Err error }

func (e *IncompleteError) Error() string { return e.Err.Error() }
func (e *IncompleteError) Unwrap() error { return e.Err }

// RestoreAtToFile replays a plan's base and commands into memory (the
// whole data set is held: hold, when not nil, is called first, to lift a
// memory limit) and writes the keys as one RDB to the writer create
// returns, in the base's RDB version (10 when redkit does not write it).
// The caller renames the file into place only when it returns no error:
// an *IncompleteError when the base or a segment is damaged; a replay's
// error says "replay: ...".
func RestoreAtToFile(ctx context.Context, b storage.Backend, p *AtPlan, c storage.Codec, hold func(), create func() (io.Writer, error)) (*AtResult, error) {
	m := p.Base
	base, err := p.BaseObject()
	if err != nil {
		return nil, err
	}
	rp := NewReplay(ctx, b, p.Segments, m.Compression, c, p.Cut)
	rp.Gap = p.Generation.Gap
	defer rp.Close()
	var baseReader *storage.ObjectReader
	am := &aof.Manifest{Base: &aof.ManifestFile{Name: "base", Seq: 1, Type: aof.TypeBase},
		Incrs: []aof.ManifestFile{{Name: "segments", Seq: 1, Type: aof.TypeIncr}}}
	ar, err := aof.NewMultiReader(ctx, am, func(name string) (io.ReadCloser, error) {
		if name == "segments" {
			return io.NopCloser(replayReader{rp}), nil
		}
		or, err := OpenObject(ctx, b, m, base, c)
		if err != nil {
			return nil, err
		}
		baseReader = or
		return or, nil
	})
	if err != nil {
		return nil, err
	}
	defer ar.Close()
	if hold != nil {
		hold()
	}
	w, err := create()
	if err != nil {
		return nil, err
	}
	version := m.Source.RDBVersion
	if _, err := rdb.NewWriter(io.Discard, rdb.WriterOptions{Version: version}); err != nil {
		version = 10 // a version redkit does not write: the one every Redis 7 loads
	}
	sink, err := pipeline.NewRDBSink(w, rdb.WriterOptions{Version: version})
	if err != nil {
		return nil, err
	}
	err = pipeline.Copy(ctx, pipeline.NewAOFSource(ar, &rdb.Filter{}, true), sink, pipeline.Options{})
	if err == nil {
		err = sink.Close()
	}
	if baseReader != nil {
		if verr := baseReader.Verify(); errors.Is(verr, storage.ErrChecksum) {
			return nil, &IncompleteError{Err: verr}
		}
	}
	if rerr := rp.Err(); rerr != nil {
		// A damaged or missing segment: the file would hold only what is
		// before it.
		return nil, &IncompleteError{Err: rerr}
	}
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	res := &AtResult{Keys: sink.Stats().Keys}
	return res, replayDone(p, rp, res)
}

// replayReader ends with the replay's error instead of io.EOF when it
// stopped early (a damaged or missing segment), so that the replay into
// memory fails before a key is written.
type replayReader struct{ rp *Replay }

func (r replayReader) Read(p []byte) (int, error) {
	n, err := r.rp.Read(p)
	if err == io.EOF && r.rp.Err() != nil {
		err = r.rp.Err()
	}
	return n, err
}
