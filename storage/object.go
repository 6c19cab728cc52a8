package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"filippo.io/age"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/redkit/redkit/internal/countio"
)

// ErrChecksum is returned when an object's stored bytes do not have the
// SHA-256 given for them.
var ErrChecksum = errors.New("checksum mismatch")

var (
	_ io.WriteCloser = (*ObjectWriter)(nil)
	_ io.WriteCloser = (*Encoder)(nil)
	_ io.ReadCloser  = (*ObjectReader)(nil)
)

// Codec says how objects are compressed and encrypted.
type Codec struct {
	Compression string // zstd (default), gzip or none
	Level       int    // zstd 1 to 22 (default 3), gzip 1 to 9 (default 6)
	// Recipients encrypt with age; empty: no encryption.
	Recipients []age.Recipient
	// Identities decrypt.
	Identities []age.Identity
}

// Ext is the file extension of the codec's RDB objects.
func (c Codec) Ext() string { return ".rdb" + c.Suffix() }

// Suffix is what the codec adds to a file's name: .zst or .gz, and .age.
func (c Codec) Suffix() string {
	e := ""
	switch c.Compression {
	case "", "zstd":
		e += ".zst"
	case "gzip":
		e += ".gz"
	}
	if len(c.Recipients) > 0 {
		e += ".age"
	}
	return e
}

// CheckCompression validates a compression name and level.
func CheckCompression(name string, level int) error {
	switch name {
	case "", "zstd":
		if level != 0 && (level < 1 || level > 22) {
			return fmt.Errorf("zstd level %d: want 1 to 22", level)
		}
	case "gzip":
		if level != 0 && (level < 1 || level > 9) {
			return fmt.Errorf("gzip level %d: want 1 to 9", level)
		}
	case "none":
	default:
		return fmt.Errorf("compression %q: want zstd, gzip or none", name)
	}
	return nil
}

// ObjectWriter streams one object: what is written is compressed, then
// encrypted, hashed and uploaded as it goes, with bounded memory and no
// temporary file. Compression runs in a goroutine of its own, so that the
// writer (a parser checking the snapshot) and the compressor use two
// cores. Close finishes the upload; Abort cancels it, leaving nothing
// stored. Write and Close are for one goroutine.
type ObjectWriter struct {
	key    string
	pw     *io.PipeWriter
	enc    io.WriteCloser // compressor; nil for none
	crypt  io.WriteCloser // age; nil without recipients
	top    io.Writer      // where the chunks go
	raw    int64
	sum    hash.Hash
	stored atomic.Int64
	done   chan error // the upload's result
	cancel context.CancelFunc

	chunks    chan []byte // to the compressing goroutine
	free      chan []byte // buffers back from it
	allocated int
	stage     chan error // the compressing goroutine's result
	failed    atomic.Pointer[error]
	closeOnce sync.Once
	stageOnce sync.Once
	stageErr  error
}

const (
	chunkSize = 256 << 10
	maxChunks = 8 // 2 MiB in flight to the compressor
)

// CreateObject starts the upload of key.
func CreateObject(ctx context.Context, b Backend, key string, c Codec) (*ObjectWriter, error) {
	if err := CheckCompression(c.Compression, c.Level); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	w := &ObjectWriter{key: key, pw: pw, sum: sha256.New(), done: make(chan error, 1), cancel: cancel,
		chunks: make(chan []byte, maxChunks), free: make(chan []byte, maxChunks), stage: make(chan error, 1)}
	// The upload reads the pipe from the start: age writes its header
	// right away.
	go func() {
		_, err := b.Put(ctx, key, pr)
		pr.CloseWithError(err) // unblock a writer if Put gave up early
		w.done <- err
	}()
	fail := func(err error) (*ObjectWriter, error) {
		w.closeOnce.Do(func() { close(w.chunks) })
		w.stage <- nil
		w.Abort(err)
		return nil, err
	}
	// pipe <- hash <- age <- compressor <- chunks <- Write
	var out io.Writer = io.MultiWriter(pw, w.sum)
	out = &countio.Writer{W: out, N: &w.stored}
	crypt, enc, out, err := encodeTo(out, c)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", key, err))
	}
	w.crypt, w.enc = crypt, enc
	w.top = out
	go w.compress()
	return w, nil
}

// encodeTo stacks the codec's encryption and compression on out: what
// is written to top comes out compressed, then encrypted. Close enc,
// then crypt (either may be nil).
func encodeTo(out io.Writer, c Codec) (crypt, enc io.WriteCloser, top io.Writer, err error) {
	if len(c.Recipients) > 0 {
		cw, err := age.Encrypt(out, c.Recipients...)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("encrypt: %w", err)
		}
		crypt, out = cw, cw
	}
	switch c.Compression {
	case "", "zstd":
		level := c.Level
		if level == 0 {
			level = 3
		}
		zw, err := zstd.NewWriter(out, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, nil, nil, err
		}
		enc, out = zw, zw
	case "gzip":
		level := c.Level
		if level == 0 {
			level = 6
		}
		gw, err := gzip.NewWriterLevel(out, level)
		if err != nil {
			return nil, nil, nil, err
		}
		enc, out = gw, gw
	}
	return crypt, enc, out, nil
}

// Encoder stacks a codec's compression and encryption on a writer:
// what is written to it comes out compressed, then encrypted. Close
// flushes both; it does not close the writer under it.
type Encoder struct {
	top        io.Writer
	enc, crypt io.WriteCloser // either may be nil
}

// NewEncoder stacks c's compression and encryption on out.
func NewEncoder(out io.Writer, c Codec) (*Encoder, error) {
	crypt, enc, top, err := encodeTo(out, c)
	if err != nil {
		return nil, err
	}
	return &Encoder{top: top, enc: enc, crypt: crypt}, nil
}

// Write compresses (and encrypts) p.
func (e *Encoder) Write(p []byte) (int, error) { return e.top.Write(p) }

// Close finishes the compression, then the encryption.
func (e *Encoder) Close() error {
	if e.enc != nil {
		if err := e.enc.Close(); err != nil {
			return err
		}
	}
	if e.crypt != nil {
		return e.crypt.Close()
	}
	return nil
}

// compress writes the chunks through the compressor, then finishes it.
func (w *ObjectWriter) compress() {
	var err error
	for b := range w.chunks {
		if err == nil {
			if _, err = w.top.Write(b); err != nil {
				w.failed.Store(&err)
			}
		}
		w.free <- b[:cap(b)]
	}
	if err == nil && w.enc != nil {
		err = w.enc.Close()
	}
	if err == nil && w.crypt != nil {
		err = w.crypt.Close()
	}
	w.stage <- err
}

// Write hands p to the compressor.
func (w *ObjectWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if e := w.failed.Load(); e != nil {
			return n, *e
		}
		var b []byte
		select {
		case b = <-w.free:
		default:
			if w.allocated < maxChunks {
				w.allocated++
				b = make([]byte, chunkSize)
			} else {
				b = <-w.free
			}
		}
		k := copy(b, p)
		w.chunks <- b[:k]
		p = p[k:]
		n += k
		w.raw += int64(k)
	}
	return n, nil
}

// finish ends the compressing goroutine and returns its result.
func (w *ObjectWriter) finish() error {
	w.closeOnce.Do(func() { close(w.chunks) })
	w.stageOnce.Do(func() { w.stageErr = <-w.stage })
	return w.stageErr
}

// Close flushes the compressor and the encryption, and waits for the
// upload to complete.
func (w *ObjectWriter) Close() error {
	if err := w.finish(); err != nil {
		w.Abort(err)
		return fmt.Errorf("finish %s: %w", w.key, err)
	}
	w.pw.Close()
	err := <-w.done
	w.done <- err // for a later Abort
	w.cancel()
	return err
}

// Abort cancels the upload: nothing is stored.
func (w *ObjectWriter) Abort(cause error) {
	if cause == nil {
		cause = errors.New("aborted")
	}
	w.cancel()
	w.pw.CloseWithError(cause) // the compressor's writes fail from now on
	w.finish()
	err := <-w.done
	w.done <- err // a second Abort or Close returns at once
}

// StoredBytes is how many bytes were stored so far: after Close, the
// object's size.
func (w *ObjectWriter) StoredBytes() int64 { return w.stored.Load() }

// SHA256 is the hex SHA-256 of the stored bytes, complete after Close.
func (w *ObjectWriter) SHA256() string { return hex.EncodeToString(w.sum.Sum(nil)) }

// RawBytes is how many bytes were written so far.
func (w *ObjectWriter) RawBytes() int64 { return w.raw }

// ObjectReader reads an object back: the stored bytes are hashed as they
// come, decrypted and decompressed. Verify (or a read to the end) checks
// the SHA-256 against the one its ObjectParams give.
type ObjectReader struct {
	key    string
	body   io.ReadCloser
	hashed *hashReader
	want   string
	r      io.Reader // what Read returns
	dec    func()    // closes the decompressor
	err    error
}

type hashReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

// ObjectParams says how a stored object was written, as its catalog
// records it.
type ObjectParams struct {
	SHA256      string // of the stored bytes, hex: checked at their end
	Compression string // zstd, gzip or none ("" is none)
	// Encrypted says the object is encrypted with age, to Recipients
	// (public keys, for errors only).
	Encrypted  bool
	Recipients []string
}

// ErrEncrypted is wrapped by an *EncryptedError: an object is encrypted
// and no identity was given to decrypt it.
var ErrEncrypted = errors.New("encrypted")

// EncryptedError is an encrypted object opened without an identity. It
// wraps ErrEncrypted.
type EncryptedError struct {
	Recipients []string // public keys it is encrypted to
}

func (e *EncryptedError) Error() string {
	return fmt.Sprintf("encrypted (age, to %s)", strings.Join(e.Recipients, ", "))
}

func (e *EncryptedError) Unwrap() error { return ErrEncrypted }

// ErrUnknownCompression is returned for an object whose compression
// the codec does not know.
var ErrUnknownCompression = errors.New("unknown compression")

// OpenObject opens the object stored under key, written as p says, for
// reading: an *EncryptedError if it is encrypted and c has no identity.
// An identity that does not decrypt it gives an error wrapping
// *age.NoIdentityMatchError.
func OpenObject(ctx context.Context, b Backend, key string, p ObjectParams, c Codec) (*ObjectReader, error) {
	if p.Encrypted && len(c.Identities) == 0 {
		return nil, &EncryptedError{Recipients: p.Recipients}
	}
	body, err := b.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	return NewObjectReader(key, body, p, c)
}

// NewObjectReader reads the stored bytes of the object key from body, as
// p says they were written, checking them against their SHA-256 (for a
// caller that fetched them itself). It closes body on error.
func NewObjectReader(key string, body io.ReadCloser, p ObjectParams, c Codec) (*ObjectReader, error) {
	or := &ObjectReader{key: key, body: body, want: p.SHA256}
	or.hashed = &hashReader{r: body, h: sha256.New()}
	var r io.Reader = or.hashed
	if p.Encrypted {
		dr, err := age.Decrypt(r, c.Identities...)
		if err != nil {
			body.Close()
			var nm *age.NoIdentityMatchError
			if errors.As(err, &nm) {
				return nil, fmt.Errorf("none of the identities given decrypts it (it is encrypted to %s): %w", strings.Join(p.Recipients, ", "), err)
			}
			return nil, fmt.Errorf("decrypt %s: %w", key, err)
		}
		r = dr
	}
	switch p.Compression {
	case "zstd":
		// Two: the stream is decoded ahead in a goroutine of its own, on
		// another core than the reader's parser.
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(2))
		if err != nil {
			body.Close()
			return nil, err
		}
		or.dec, r = zr.Close, zr
	case "gzip":
		gr, err := gzip.NewReader(r)
		if err != nil {
			body.Close()
			return nil, fmt.Errorf("%s: %w (or %w)", key, err, ErrChecksum)
		}
		or.dec, r = func() { gr.Close() }, gr
	case "none", "":
	default:
		body.Close()
		return nil, fmt.Errorf("%w %q", ErrUnknownCompression, p.Compression)
	}
	or.r = r
	return or, nil
}

// Read returns the object's raw bytes (the RDB). At the end of the
// stored bytes it checks the checksum: ErrChecksum instead of io.EOF.
func (o *ObjectReader) Read(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.r.Read(p)
	if err == io.EOF {
		if verr := o.Verify(); verr != nil {
			o.err = verr
			return n, verr
		}
		o.err = io.EOF
	} else if err != nil {
		// Damaged bytes break the decompressor or the decryption first:
		// the checksum says whether the store has the bytes written.
		if verr := o.Verify(); errors.Is(verr, ErrChecksum) {
			err = fmt.Errorf("%w (reading it: %v)", verr, err)
		} else {
			err = fmt.Errorf("read %s at stored byte %d: %w", o.key, o.hashed.n, err)
		}
		o.err = err
	}
	return n, err
}

// Verify reads what is left of the stored bytes and checks their
// SHA-256 against the manifest's. It stops the decompressor first: a
// zstd decoder reads the stored bytes ahead in goroutines of its own,
// and none may read them (or hash them) while Verify does; the object
// cannot be read after Verify.
func (o *ObjectReader) Verify() error {
	o.stopDecoder()
	if _, err := io.Copy(io.Discard, o.hashed); err != nil {
		return fmt.Errorf("read %s: %w", o.key, err)
	}
	if got := hex.EncodeToString(o.hashed.h.Sum(nil)); got != o.want {
		return fmt.Errorf("%s: %w: its %d bytes have SHA-256 %s, the manifest says %s", o.key, ErrChecksum, o.hashed.n, got, o.want)
	}
	return nil
}

// errReaderStopped is what Read returns after Verify or Close.
var errReaderStopped = errors.New("object read after its check or close")

// StoredBytes is how many stored bytes were read so far.
func (o *ObjectReader) StoredBytes() int64 { return o.hashed.n }

// Close releases the download.
func (o *ObjectReader) Close() error {
	o.stopDecoder()
	return o.body.Close()
}

// stopDecoder closes the decompressor, once: when it returns, no
// goroutine of the decoder reads the stored bytes any more.
func (o *ObjectReader) stopDecoder() {
	if o.dec != nil {
		o.dec()
		o.dec = nil
	}
	if o.err == nil {
		o.err = errReaderStopped
	}
}
