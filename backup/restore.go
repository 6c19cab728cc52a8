package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/countio"
	"github.com/redkit/redkit/pipeline"
	"github.com/redkit/redkit/rdb"
	"github.com/redkit/redkit/storage"
)

// RestoreInput is one input of a restore from a backup, given to a
// RestoreFunc: one snapshot's object, or a multi-part AOF's files in the
// order Redis loads them, as a pipeline source read from the storage
// through its checksum, decryption and decompression.
type RestoreInput struct {
	Source pipeline.Source
	// Object is the snapshot object's name; "" for a multi-part AOF (one
	// input).
	Object string
	// Index counts the snapshots, from 0: a flush goes with the first,
	// and function libraries come from the first only (every master of
	// a cluster holds the same).
	Index int
	// BytesRead counts the bytes of the input read so far, safe to call
	// while the RestoreFunc runs; nil when not counted.
	BytesRead func() int64
}

// RestoreFunc writes one input into the target, reporting it as it
// likes; it returns an error wrapping pipeline.ErrKeysFailed when it ran
// to the end but some keys failed: the other snapshots still go.
type RestoreFunc func(ctx context.Context, in RestoreInput) error

// RestoreOptions tune Restore and RestoreObject. The zero value works
// for a backup that is not encrypted.
type RestoreOptions struct {
	Codec  storage.Codec // decrypts the objects
	Filter *rdb.Filter   // keys restored (nil: all)
	// Replay tells that the RestoreFunc replays the keys into a keyspace
	// first: the keys read are then not checked against the manifest's
	// counts.
	Replay bool
}

// StoppedEarlyError is returned when the RestoreFunc failed (the
// target, or an interrupt) with an object read in part: its checksum,
// known only at its end, was not checked, and the target may hold a
// partial restore. Err is the RestoreFunc's error.
type StoppedEarlyError struct {
	ID     string // the backup
	Object string // the object read in part ("" for a multi-part AOF)
	Read   int64  // its stored bytes read
	Stored int64  // its stored bytes
	Err    error
}

func (e *StoppedEarlyError) Error() string { return e.Err.Error() }
func (e *StoppedEarlyError) Unwrap() error { return e.Err }

// StreamedChecksumError is returned when an object streamed into the
// target turns out damaged (storage.ErrChecksum) at its end: the target
// may hold a partial restore.
type StreamedChecksumError struct {
	AOF bool // the backup is of a multi-part AOF
	Err error
}

func (e *StreamedChecksumError) Error() string { return e.Err.Error() }
func (e *StreamedChecksumError) Unwrap() error { return e.Err }

// MismatchError is returned when an object read whole into the target
// does not hold the keys its manifest counts (Err wraps ErrKeyCount).
type MismatchError struct {
	ID  string
	Err error
}

func (e *MismatchError) Error() string { return e.Err.Error() }
func (e *MismatchError) Unwrap() error { return e.Err }

// CheckOpen opens every object of m and closes it: each must open (the
// identity decrypts it) before anything is written.
func CheckOpen(ctx context.Context, b storage.Backend, m *Manifest, c storage.Codec) error {
	for _, e := range m.Objects {
		or, err := OpenObject(ctx, b, m, e, c)
		if err != nil {
			return err
		}
		or.Close()
	}
	return nil
}

// Restore restores the backup m into a target through into: each of its
// snapshots' objects in turn (RestoreObject), or its multi-part AOF's
// files in order as one input. Errors of into are returned as they are,
// or in a *StoppedEarlyError; a damaged object is a
// *StreamedChecksumError, keys that differ from the manifest's a
// *MismatchError. After keys failed in a snapshot (pipeline.ErrKeysFailed)
// the next snapshots still go, and the last such error is returned.
func Restore(ctx context.Context, b storage.Backend, m *Manifest, into RestoreFunc, opts RestoreOptions) error {
	if m.AOFManifest != "" {
		return restoreAOF(ctx, b, m, into, opts)
	}
	var problems error
	for i, e := range m.Objects {
		err := RestoreObject(ctx, b, m, e, i, into, opts)
		if errors.Is(err, pipeline.ErrKeysFailed) && ctx.Err() == nil {
			// Some keys failed, each reported: the other snapshots still go.
			problems = err
			continue
		}
		if err != nil {
			return err
		}
	}
	return problems
}

// RestoreObject restores one of m's objects (an RDB), the snapshot
// index of the backup, into the target, streamed through its checksum.
// The checksum is known only at the end: a mismatch then is a
// *StreamedChecksumError. Errors opening the object are returned as they
// are.
func RestoreObject(ctx context.Context, b storage.Backend, m *Manifest, e ObjectEntry, index int, into RestoreFunc, opts RestoreOptions) error {
	or, err := OpenObject(ctx, b, m, e, opts.Codec)
	if err != nil {
		return err
	}
	var readErr error
	var keysRead map[int]int64
	if !opts.Replay { // a replay loads the keys into a keyspace first
		keysRead = map[int]int64{}
	}
	in := countio.NewReader(readErrs{r: or, first: &readErr})
	src, rerr := pipeline.Sniff("-", in, opts.Filter)
	if rerr == nil {
		if as, ok := src.(*pipeline.AOFSource); ok {
			as.CountKeys(keysRead)
		}
		rerr = into(ctx, RestoreInput{Source: src, Object: e.Name, Index: index, BytesRead: in.N.Load})
	}
	if stoppedEarly(ctx, rerr, readErr) {
		// The target failed (or the store did) with the object read in
		// part: its checksum, known only at its end, says nothing.
		or.Close()
		if ctx.Err() != nil {
			return rerr
		}
		return &StoppedEarlyError{ID: m.ID, Object: e.Name, Read: or.StoredBytes(), Stored: e.StoredBytes, Err: rerr}
	}
	verr := or.Verify()
	or.Close()
	if errors.Is(verr, storage.ErrChecksum) || errors.Is(rerr, storage.ErrChecksum) {
		if verr == nil {
			verr = rerr
		}
		return &StreamedChecksumError{Err: verr}
	}
	if keysRead != nil && (rerr == nil || readToEnd(ctx, rerr)) {
		// The object was read to its end: it must hold what its
		// manifest counts.
		if err := e.CheckKeys(keysRead); err != nil {
			return &MismatchError{ID: m.ID, Err: err}
		}
	}
	return rerr
}

// readToEnd tells an error of a RestoreFunc that ran to the end: some
// keys failed.
func readToEnd(ctx context.Context, err error) bool {
	return ctx.Err() == nil && errors.Is(err, pipeline.ErrKeysFailed)
}

// stoppedEarly tells whether a restore from a backup's object ended on
// an error that is not the object's own (the target's, an interrupt):
// the object was read in part, so its checksum says nothing. An error
// reading the object (readErr), or of its contents (a parse error), is
// the checksum's to explain.
func stoppedEarly(ctx context.Context, rerr, readErr error) bool {
	if rerr == nil || readToEnd(ctx, rerr) {
		return false // read to its end
	}
	return readErr == nil && !errors.Is(rerr, storage.ErrChecksum) && !isInputError(rerr)
}

// isInputError tells an error in the input's content: a parse error of
// an RDB or an AOF.
func isInputError(err error) bool {
	var ape *aof.ParseError
	var rpe *rdb.ParseError
	return errors.As(err, &ape) || errors.As(err, &rpe)
}

// readErrs keeps in *first the first error other than io.EOF that
// reading r returned, when *first is still nil (several readers can
// share one).
type readErrs struct {
	r     io.Reader
	first *error
}

func (r readErrs) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && *r.first == nil {
		*r.first = err
	}
	return n, err
}

// restoreAOF replays a backed-up multi-part AOF, its files read from
// their objects in the manifest's order, as Redis loads them.
func restoreAOF(ctx context.Context, b storage.Backend, m *Manifest, into RestoreFunc, opts RestoreOptions) error {
	am, err := aof.ParseManifest(strings.NewReader(m.AOFManifest))
	if err != nil {
		return fmt.Errorf("backup %s: its AOF manifest: %w", m.ID, err)
	}
	byFile := map[string]ObjectEntry{}
	for _, e := range m.Objects {
		byFile[e.File] = e
	}
	var opened []*storage.ObjectReader
	var readErr error
	ar, err := aof.NewMultiReader(ctx, am, func(name string) (io.ReadCloser, error) {
		e, ok := byFile[name]
		if !ok {
			return nil, fmt.Errorf("backup %s has no object for the AOF file %s", m.ID, name)
		}
		or, err := OpenObject(ctx, b, m, e, opts.Codec)
		if err != nil {
			return nil, err
		}
		opened = append(opened, or)
		return struct {
			io.Reader
			io.Closer
		}{readErrs{r: or, first: &readErr}, or}, nil
	})
	if err != nil {
		return fmt.Errorf("backup %s: %w", m.ID, err)
	}
	rerr := into(ctx, RestoreInput{Source: pipeline.NewAOFSource(ar, opts.Filter, true)})
	ar.Close()
	if stoppedEarly(ctx, rerr, readErr) {
		for _, or := range opened {
			or.Close()
		}
		if ctx.Err() != nil {
			return rerr
		}
		return &StoppedEarlyError{ID: m.ID, Err: rerr}
	}
	var verr error
	for _, or := range opened {
		if err := or.Verify(); err != nil && verr == nil {
			verr = err
		}
	}
	if errors.Is(verr, storage.ErrChecksum) || errors.Is(rerr, storage.ErrChecksum) {
		if verr == nil {
			verr = rerr
		}
		return &StreamedChecksumError{AOF: true, Err: verr}
	}
	return rerr
}
