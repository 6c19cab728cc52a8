package rdb

import (
	"bytes"
	"errors"
	"io"
)

const (
	// asyncCRCMin is the smallest block hashed on another goroutine.
	asyncCRCMin    = 32 << 10
	defaultBufSize = 256 << 10
	// maxInline is the largest string handed out as a slice of the read
	// buffer; longer strings are copied or skipped in chunks.
	maxInline = 64 << 10
)

// input is a buffered reader that tracks the file offset, feeds every
// consumed byte to the CRC64 and, when set, to a tee writer.
type input struct {
	r    io.Reader
	buf  []byte
	pos  int   // next unread byte in buf
	end  int   // end of valid data in buf
	base int64 // file offset of buf[0]
	err  error // sticky read error

	crc    uint64 // CRC of the bytes hashed inline, after those of pipe
	crcOn  bool
	crcPos int // buf index up to which crc has been computed
	// pipe hashes large blocks on other cores once the input proves large.
	pipe  *crcPipeline
	fills int

	tee    io.Writer // receives consumed bytes while set
	teePos int
	teeErr error
}

func newInput(r io.Reader) *input {
	return &input{r: r, buf: make([]byte, defaultBufSize), crcOn: true}
}

// newInputBytes reads data, all of the input, in place: data is the
// buffer (fill may move its bytes), and reading past it is the end.
func newInputBytes(data []byte) *input {
	return &input{r: bytes.NewReader(nil), buf: data, end: len(data), crcOn: true}
}

// offset is the file offset of the next unread byte.
func (in *input) offset() int64 { return in.base + int64(in.pos) }

// flush feeds consumed bytes to the CRC and the tee.
func (in *input) flush() {
	if in.crcOn && in.crcPos < in.pos {
		p := in.buf[in.crcPos:in.pos]
		if in.pipe != nil {
			in.pipe.add(p)
		} else {
			in.crc = crcUpdate(in.crc, p)
		}
	}
	in.crcPos = in.pos
	if in.tee != nil && in.teePos < in.pos {
		if in.teeErr == nil {
			_, in.teeErr = in.tee.Write(in.buf[in.teePos:in.pos])
		}
	}
	in.teePos = in.pos
}

// fill makes at least n bytes available (n <= len(buf)). It returns
// io.ErrUnexpectedEOF (or the read error) when the input ends first.
func (in *input) fill(n int) error {
	if in.end-in.pos >= n {
		return nil
	}
	in.flush()
	if in.fills++; in.fills == 4 && in.crcOn && in.pipe == nil {
		// A large input: hash further blocks in parallel with parsing.
		in.pipe = &crcPipeline{crc: in.crc}
		in.crc = 0
	}
	// Slide unread bytes to the front.
	if in.pos > 0 {
		copy(in.buf, in.buf[in.pos:in.end])
		in.base += int64(in.pos)
		in.end -= in.pos
		in.pos, in.crcPos, in.teePos = 0, 0, 0
	}
	for in.end < n {
		if in.err != nil {
			return in.err
		}
		m, err := in.r.Read(in.buf[in.end:])
		in.end += m
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			} else {
				err = readErr{err} // told apart from a callback's error
			}
			in.err = err
		}
	}
	return nil
}

func (in *input) readByte() (byte, error) {
	if in.pos >= in.end {
		if err := in.fill(1); err != nil {
			return 0, err
		}
	}
	b := in.buf[in.pos]
	in.pos++
	return b, nil
}

// peek returns the next n bytes without consuming them (n <= len(buf)).
func (in *input) peek(n int) ([]byte, error) {
	if err := in.fill(n); err != nil {
		return nil, err
	}
	return in.buf[in.pos : in.pos+n], nil
}

// next consumes n bytes (n <= len(buf)) and returns them. The slice is
// valid until the next read.
func (in *input) next(n int) ([]byte, error) {
	if in.end-in.pos < n {
		if err := in.fill(n); err != nil {
			return nil, err
		}
	}
	b := in.buf[in.pos : in.pos+n]
	in.pos += n
	return b, nil
}

// skip consumes n bytes of any size.
func (in *input) skip(n int64) error {
	for n > 0 {
		if in.pos == in.end {
			if err := in.fill(1); err != nil {
				return err
			}
		}
		k := int64(in.end - in.pos)
		if k > n {
			k = n
		}
		in.pos += int(k)
		n -= k
	}
	return nil
}

// readFull consumes n bytes of any size, appending them to dst. It grows
// dst as data arrives, so a bogus length costs no more memory than the
// input holds.
func (in *input) readFull(dst []byte, n int64) ([]byte, error) {
	for n > 0 {
		if in.pos == in.end {
			if err := in.fill(1); err != nil {
				return dst, err
			}
		}
		k := int64(in.end - in.pos)
		if k > n {
			k = n
		}
		if len(dst)+int(k) > cap(dst) {
			// Double, capped at what the string still needs: a long string
			// costs about twice its size in allocations, where append's
			// gentler growth for big slices would copy it many times.
			grown := make([]byte, len(dst), min(int64(len(dst))+n, max(2*int64(cap(dst)), int64(len(dst))+k, 256<<10)))
			copy(grown, dst)
			dst = grown
		}
		dst = append(dst, in.buf[in.pos:in.pos+int(k)]...)
		in.pos += int(k)
		n -= k
	}
	return dst, nil
}

// startTee sends every byte consumed from now on to w, until stopTee.
func (in *input) startTee(w io.Writer) {
	in.flush()
	in.tee, in.teeErr = w, nil
}

func (in *input) stopTee() error {
	in.flush()
	in.tee = nil
	return in.teeErr
}

// sum returns the CRC64 of everything consumed so far.
func (in *input) sum() uint64 {
	in.flush()
	if in.pipe != nil {
		return in.pipe.sum()
	}
	return in.crc
}
