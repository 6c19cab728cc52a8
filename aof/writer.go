package aof

import (
	"bufio"
	"io"
)

// Writer writes commands as RESP arrays of bulk strings, the form of AOF
// files, of the replication stream and of what redis-cli --pipe reads.
// It buffers: call Flush at the end.
type Writer struct {
	w   *bufio.Writer
	buf []byte
	n   int64 // commands written
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10)}
}

// WriteCommand writes one command. Arguments are binary-safe.
func (w *Writer) WriteCommand(args ...[]byte) error {
	b := AppendArrayHeader(w.buf[:0], len(args))
	for _, a := range args {
		b = AppendBulkHeader(b, len(a))
		if len(a) > 4096 {
			// Large arguments go straight to the writer, not through buf.
			if _, err := w.w.Write(b); err != nil {
				return err
			}
			if _, err := w.w.Write(a); err != nil {
				return err
			}
			b = b[:0]
		} else {
			b = append(b, a...)
		}
		b = append(b, '\r', '\n')
	}
	w.buf = b
	w.n++
	_, err := w.w.Write(b)
	return err
}

// Commands returns the number of commands written.
func (w *Writer) Commands() int64 { return w.n }

// Flush writes buffered data to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }
