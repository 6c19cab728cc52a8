// Package countio counts the bytes that go through a reader or a writer,
// for progress bars and sizes, readable from other goroutines.
package countio

import (
	"io"
	"sync/atomic"
)

// Reader adds the bytes read from R to N.
type Reader struct {
	R io.Reader
	N *atomic.Int64
}

// NewReader counts into a counter of its own.
func NewReader(r io.Reader) *Reader { return &Reader{R: r, N: new(atomic.Int64)} }

func (c *Reader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N.Add(int64(n))
	return n, err
}

// Writer adds the bytes written to W to N.
type Writer struct {
	W io.Writer
	N *atomic.Int64
}

func (c *Writer) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N.Add(int64(n))
	return n, err
}
