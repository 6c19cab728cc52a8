package backup

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/redkit/redkit/storage"
)

// ChecksumError is an object of a backup whose stored bytes do not have
// the SHA-256 its manifest gives: damaged (or replaced) in the store.
// It wraps storage.ErrChecksum; Err names the object's key.
type ChecksumError struct {
	ID     string // the backup
	Object string // the object's name in the backup
	Err    error
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("backup %s, object %s: %v", e.ID, e.Object, e.Err)
}

func (e *ChecksumError) Unwrap() error { return e.Err }

// ObjectStream reads one object of a backup as its content (the RDB or
// AOF file backed up): the stored bytes stream from the storage through
// their SHA-256, decryption and decompression, with bounded memory and
// no temporary file. The checksum is known only once every stored byte
// was read: at the end of the stream Read returns a *ChecksumError
// instead of io.EOF when it does not match, and Close checks it too for
// a stream not read to its end (a parser stops at its end marker),
// reading what is left of the stored bytes. Read and Close are for one
// goroutine.
type ObjectStream struct {
	ctx      context.Context
	or       *storage.ObjectReader
	id, name string
	stored   int64
	verified bool  // the end was reached and checked
	err      error // the checksum's verdict, once known
}

// OpenStream opens the object e of the backup m (OpenObject): the
// errors of a missing object (wrapping fs.ErrNotExist), of an encrypted
// backup without an identity (storage.ErrEncrypted) or with none that
// decrypts it (*age.NoIdentityMatchError) name the backup and the
// object.
func OpenStream(ctx context.Context, b storage.Backend, m *Manifest, e ObjectEntry, c storage.Codec) (*ObjectStream, error) {
	or, err := OpenObject(ctx, b, m, e, c)
	if err != nil {
		if errors.Is(err, storage.ErrEncrypted) || errors.Is(err, storage.ErrUnknownCompression) {
			return nil, err // objectErr named the backup
		}
		return nil, fmt.Errorf("backup %s, object %s: %w", m.ID, e.Name, err)
	}
	return &ObjectStream{ctx: ctx, or: or, id: m.ID, name: e.Name, stored: e.StoredBytes}, nil
}

// Read returns the object's content. At its end it checks the stored
// bytes' SHA-256: a *ChecksumError instead of io.EOF when it does not
// match. A read that fails because the stored bytes are damaged (the
// decompressor or the decryption notices first) is a *ChecksumError
// too.
func (s *ObjectStream) Read(p []byte) (int, error) {
	n, err := s.or.Read(p)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, storage.ErrChecksum) {
		s.verified, s.err = true, &ChecksumError{ID: s.id, Object: s.name, Err: err}
		return n, s.err
	}
	if err == io.EOF { // the codec returns it unwrapped, once verified
		s.verified = true
	}
	return n, err
}

// StoredBytes is how many stored bytes were read so far.
func (s *ObjectStream) StoredBytes() int64 { return s.or.StoredBytes() }

// Verify reads what is left of the stored bytes and checks their
// SHA-256, once: nil, a *ChecksumError, or the error reading them. The
// content cannot be read after it.
func (s *ObjectStream) Verify() error {
	if s.verified {
		return s.err
	}
	s.verified = true
	if err := s.or.Verify(); err != nil {
		if errors.Is(err, storage.ErrChecksum) {
			s.err = &ChecksumError{ID: s.id, Object: s.name, Err: err}
		} else {
			s.err = fmt.Errorf("backup %s, object %s: %w", s.id, s.name, err)
		}
	}
	return s.err
}

// Close checks the checksum when the stream was not read to its end
// (Verify), unless the context is done, and releases the download: a
// *ChecksumError when the stored bytes are damaged.
func (s *ObjectStream) Close() error {
	var err error
	if s.ctx.Err() == nil {
		err = s.Verify()
	}
	s.or.Close() // what was read is checked: releasing it says nothing more
	return err
}
