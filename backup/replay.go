package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/storage"
)

// ErrNotRestorable is wrapped by PlanRestore's refusals: the instant or
// offset asked for is not held by any generation.
var ErrNotRestorable = errors.New("not restorable")

// ErrNoGenerations is wrapped, with ErrNotRestorable, by PlanRestore's
// refusal when it is given no generation: the storage holds no
// continuous backup.
var ErrNoGenerations = errors.New("no continuous backup in this storage")

// ErrAfterRecoveryPoint is wrapped, with ErrNotRestorable, by
// PlanRestore's refusal of an instant after everything the newest
// generation stores: nothing received later is stored yet.
var ErrAfterRecoveryPoint = errors.New("after the recovery point")

// Cutoff says where a point-in-time restore stops: after the last
// command received at or before At, or ending at or before Offset (zero
// values: no limit).
type Cutoff struct {
	At     time.Time
	Offset int64
}

func (c Cutoff) String() string {
	switch {
	case !c.At.IsZero():
		return c.At.UTC().Format(time.RFC3339Nano)
	case c.Offset > 0:
		return "offset " + strconv.FormatInt(c.Offset, 10)
	}
	return "latest"
}

// PlanRestore picks the generation a restore to cut replays (the newest
// whose base is at or before it) and the segments it needs. gens are
// oldest first, as ListGenerations gives them. A generation with a gap
// restores up to it: a cutoff after it is refused, naming the gap;
// latest gives the segments before it (a Replay given the gap ends there
// with an error).
func PlanRestore(gens []*Generation, cut Cutoff) (*Generation, []SegmentInfo, error) {
	if len(gens) == 0 {
		return nil, nil, fmt.Errorf("%w: %w", ErrNotRestorable, ErrNoGenerations)
	}
	var g *Generation
	switch {
	case !cut.At.IsZero():
		for i := len(gens) - 1; i >= 0; i-- {
			if !gens[i].From().After(cut.At) {
				g = gens[i]
				if cut.At.After(g.Until()) {
					if g.Gap != nil {
						next := ""
						if i < len(gens)-1 {
							next = fmt.Sprintf("; generation %s restores from %s", gens[i+1].ID(), gens[i+1].From().Format(time.RFC3339Nano))
						}
						return nil, nil, fmt.Errorf("%w: %s is after %s, the last instant generation %s restores to: %w%s",
							ErrNotRestorable, cut, g.Until().Format(time.RFC3339Nano), g.ID(), g.Gap, next)
					}
					if i == len(gens)-1 {
						return nil, nil, &AfterRecoveryPointError{Cut: cut, RecoveryPoint: g.Until(), Generation: g.ID()}
					}
					return nil, nil, fmt.Errorf("%w: %s falls between generation %s, which restores up to %s, and generation %s, which restores from %s",
						ErrNotRestorable, cut, g.ID(), g.Until().Format(time.RFC3339Nano), gens[i+1].ID(), gens[i+1].From().Format(time.RFC3339Nano))
				}
				break
			}
		}
		if g == nil {
			return nil, nil, fmt.Errorf("%w: %s is before the oldest restorable instant, %s (generation %s)", ErrNotRestorable, cut, gens[0].From().Format(time.RFC3339Nano), gens[0].ID())
		}
	case cut.Offset > 0:
		for i := len(gens) - 1; i >= 0; i-- {
			b := gens[i].Base.Replication
			if b != nil && b.Offset <= cut.Offset && cut.Offset <= gens[i].EndOffset() {
				g = gens[i]
				break
			}
		}
		if g == nil {
			for i := len(gens) - 1; i >= 0; i-- {
				b, gap := gens[i].Base.Replication, gens[i].Gap
				if b != nil && gap != nil && b.Offset <= cut.Offset && cut.Offset <= gap.AfterEnd {
					return nil, nil, fmt.Errorf("%w: offset %d is after %d, the last offset generation %s restores to: %w",
						ErrNotRestorable, cut.Offset, gens[i].EndOffset(), gens[i].ID(), gap)
				}
			}
			return nil, nil, fmt.Errorf("%w: no generation holds offset %d (see redkit backup list)", ErrNotRestorable, cut.Offset)
		}
	default:
		g = gens[len(gens)-1]
	}
	var segs []SegmentInfo
	for _, s := range g.Segments {
		if !cut.At.IsZero() && s.Records > 0 && s.First.After(cut.At) {
			break
		}
		if cut.Offset > 0 && s.StartOffset >= cut.Offset {
			break
		}
		segs = append(segs, s)
	}
	return g, segs, nil
}

// AfterRecoveryPointError is PlanRestore's refusal of an instant after
// the recovery point of the newest generation, the last instant it
// restores to. It wraps ErrNotRestorable and ErrAfterRecoveryPoint.
type AfterRecoveryPointError struct {
	Cut           Cutoff
	RecoveryPoint time.Time
	Generation    string
}

func (e *AfterRecoveryPointError) Error() string {
	return fmt.Sprintf("%s: %s is after the recovery point %s of generation %s (nothing received later is stored yet)",
		ErrNotRestorable, e.Cut, e.RecoveryPoint.Format(time.RFC3339Nano), e.Generation)
}

func (e *AfterRecoveryPointError) Unwrap() []error {
	return []error{ErrNotRestorable, ErrAfterRecoveryPoint}
}

// Replay reads a generation's segments back as the RESP commands a
// target applies, up to a cutoff: each segment's commands from its
// database (a SELECT first), without the master's PINGs and REPLCONFs
// and the messages it forwarded (PUBLISH, SPUBLISH: a restore publishes
// nothing),
// and with each MULTI ... EXEC whole or not at all (a transaction the
// cutoff or the end of what is stored cuts is left out). Every record's
// CRC is checked as it comes and each segment's SHA-256 at its end: a
// damaged segment ends the replay with an error naming it and the last
// good command, all commands before which were given: Read then ends
// (io.EOF), so that whatever applies the commands finishes with every
// good one, and Err tells why it ended early. So does a Gap after the
// segments, when the cutoff is beyond it.
type Replay struct {
	ctx         context.Context
	b           storage.Backend
	segs        []SegmentInfo
	compression string
	codec       storage.Codec
	cut         Cutoff

	cur     *SegmentStream
	curInfo SegmentInfo
	out     bytes.Buffer // ready to read
	txn     bytes.Buffer // a transaction being gathered
	inTxn   bool
	txnN    int64 // its commands
	done    bool
	err     error

	// Gap, set before the first Read, is the gap after the last of the
	// segments (their Generation's): a replay whose cutoff is beyond it
	// (latest, or a cutoff after Gap.Until or Gap.From) ends there with
	// Err wrapping ErrGap, naming it and the last good command, instead of
	// ending as if nothing had been left out.
	Gap *GapError

	// What was given: commands (aof's Noop classes left out), and the
	// offset after the last and its receive time.
	Commands     int64
	LastOffset   int64
	LastReceived time.Time
}

// NewReplay replays segs (in order, of one generation), whose objects
// use the generation's compression, decrypted with codec's identities.
func NewReplay(ctx context.Context, b storage.Backend, segs []SegmentInfo, compression string, codec storage.Codec, cut Cutoff) *Replay {
	r := &Replay{ctx: ctx, b: b, segs: segs, compression: compression, codec: codec, cut: cut}
	if len(segs) > 0 {
		r.LastOffset = segs[0].StartOffset
	}
	return r
}

// Read gives the commands' bytes.
func (r *Replay) Read(p []byte) (int, error) {
	for r.out.Len() == 0 {
		if r.err != nil || r.done {
			return 0, io.EOF
		}
		r.err = r.fill()
	}
	return r.out.Read(p)
}

// fill moves the next commands to out.
func (r *Replay) fill() error {
	if r.cur == nil {
		if len(r.segs) == 0 {
			r.done = true
			if g := r.Gap; g != nil && (r.cut == Cutoff{} || r.cut.At.After(g.Until) || r.cut.Offset > g.From) {
				return fmt.Errorf("%w; the replay stopped after the last good command before it (%s)", g, r.last())
			}
			return nil
		}
		if err := r.ctx.Err(); err != nil {
			return err
		}
		r.curInfo, r.segs = r.segs[0], r.segs[1:]
		ss, err := OpenSegment(r.ctx, r.b, r.curInfo, r.compression, r.codec)
		if err != nil {
			return r.fail(err)
		}
		r.cur = ss
		if h := ss.Header(); h.StartOffset != r.curInfo.StartOffset {
			return r.fail(fmt.Errorf("%w: its header starts at offset %d, its name at %d", ErrSegmentCorrupt, h.StartOffset, r.curInfo.StartOffset))
		}
		if !r.inTxn {
			r.out.Write(aof.SelectCommand(ss.Header().DB))
		}
	}
	for range 256 {
		rec, err := r.cur.Next()
		if err == io.EOF {
			verr := r.cur.Verify()
			r.cur.Close()
			r.cur = nil
			if verr != nil {
				return r.fail(verr)
			}
			return nil
		}
		if err != nil {
			return r.fail(err)
		}
		if (!r.cut.At.IsZero() && rec.Received.After(r.cut.At)) || (r.cut.Offset > 0 && rec.Offset > r.cut.Offset) {
			r.cur.Close()
			r.cur, r.done = nil, true
			return nil
		}
		class := aof.Classify(aof.CommandName(rec.Command))
		switch {
		case class.Noop():
			continue
		case class == aof.ClassMulti:
			r.inTxn, r.txnN = true, 1
			r.txn.Reset()
			r.txn.Write(rec.Command)
			continue
		case r.inTxn:
			r.txn.Write(rec.Command)
			r.txnN++
			if class == aof.ClassExec {
				r.inTxn = false
				r.out.Write(r.txn.Bytes())
				r.Commands += r.txnN - 1
				r.give(rec)
			}
			continue
		}
		r.out.Write(rec.Command)
		r.give(rec)
	}
	return nil
}

// Err is why the replay ended before its cutoff (a damaged or missing
// segment, a failed download), nil if it did not.
func (r *Replay) Err() error { return r.err }

func (r *Replay) give(rec *SegmentRecord) {
	r.Commands++
	r.LastOffset, r.LastReceived = rec.Offset, rec.Received
}

func (r *Replay) fail(err error) error {
	if r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
	return fmt.Errorf("segment %s: %w; the replay stopped after the last good command before it (%s)", r.curInfo.Key(), err, r.last())
}

// last describes the last command given.
func (r *Replay) last() string {
	if r.Commands == 0 {
		return "none of it"
	}
	return fmt.Sprintf("offset %d, received %s", r.LastOffset, r.LastReceived.UTC().Format(time.RFC3339Nano))
}

// Close releases the segment being read.
func (r *Replay) Close() error {
	if r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
	return nil
}
