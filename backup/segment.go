package backup

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"time"
)

// A segment holds a stretch of a replication stream for continuous
// backups: each command's exact bytes (as the source sent them, so that
// offsets add up), the replication offset after it, and the time it was
// received, to the millisecond. Its layout, before compression:
//
//	"RKSEG1\n"
//	uvarint n, then n bytes of JSON: SegmentHeader
//	records, each:
//	  uvarint  milliseconds since the previous record (the first: since Header.Start)
//	  uvarint  length of the command's bytes
//	  bytes    the command, RESP, as received
//	  4 bytes  CRC-32C (Castagnoli) of the three fields above, little-endian
//
// A record's replication offset is the previous one's plus its length,
// from Header.StartOffset. The per-record checksum lets a reader stop at
// the last good command of a damaged segment and say where it broke.

const segmentMagic = "RKSEG1\n"

// ErrSegmentCorrupt is wrapped by errors about damaged segments.
var ErrSegmentCorrupt = errors.New("corrupt segment")

// SegmentHeader starts a segment.
type SegmentHeader struct {
	ReplID      string    `json:"replid"`
	StartOffset int64     `json:"start_offset"` // the offset before the first record
	Start       time.Time `json:"start"`        // the reference for the first record's time
	DB          int       `json:"db"`           // the database selected at StartOffset
}

// SegmentRecord is one command of a segment.
type SegmentRecord struct {
	Command  []byte    // RESP, as received; valid until the next call to Next
	Offset   int64     // the replication offset after it
	Received time.Time // when it was received, to the millisecond
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SegmentWriter writes a segment's records to w.
type SegmentWriter struct {
	w      *bufio.Writer
	offset int64
	last   int64 // Unix ms of the previous record
	n      int64
	first  time.Time
	buf    []byte
}

// NewSegmentWriter writes the header.
func NewSegmentWriter(w io.Writer, h SegmentHeader) (*SegmentWriter, error) {
	h.Start = h.Start.Truncate(time.Millisecond)
	js, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	sw := &SegmentWriter{w: bufio.NewWriterSize(w, 64<<10), offset: h.StartOffset, last: h.Start.UnixMilli()}
	sw.w.WriteString(segmentMagic)
	sw.w.Write(binary.AppendUvarint(nil, uint64(len(js))))
	sw.w.Write(js)
	return sw, nil
}

// Append adds a command received at t. Times must not go backwards
// (a clock that does is held at the last time).
func (s *SegmentWriter) Append(cmd []byte, t time.Time) error {
	ms := t.UnixMilli()
	if ms < s.last {
		ms = s.last
	}
	s.buf = binary.AppendUvarint(s.buf[:0], uint64(ms-s.last))
	s.buf = binary.AppendUvarint(s.buf, uint64(len(cmd)))
	crc := crc32.Update(crc32.Checksum(s.buf, castagnoli), castagnoli, cmd)
	s.w.Write(s.buf)
	s.w.Write(cmd)
	s.buf = binary.LittleEndian.AppendUint32(s.buf[:0], crc) // not a local array: it would escape
	if _, err := s.w.Write(s.buf); err != nil {
		return err
	}
	if s.n == 0 {
		s.first = time.UnixMilli(ms)
	}
	s.last = ms
	s.offset += int64(len(cmd))
	s.n++
	return nil
}

// Offset is the replication offset after the last record.
func (s *SegmentWriter) Offset() int64 { return s.offset }

// Records is how many records were appended.
func (s *SegmentWriter) Records() int64 { return s.n }

// Span is the receive time of the first and the last record.
func (s *SegmentWriter) Span() (first, last time.Time) { return s.first, time.UnixMilli(s.last) }

// Flush writes out what is buffered.
func (s *SegmentWriter) Flush() error { return s.w.Flush() }

// SegmentReader reads a segment's records.
type SegmentReader struct {
	r      *bufio.Reader
	h      SegmentHeader
	offset int64
	last   int64
	pos    int64 // bytes read, for error positions
	rec    SegmentRecord
	buf    []byte
	err    error
}

// NewSegmentReader reads the header.
func NewSegmentReader(r io.Reader) (*SegmentReader, error) {
	sr := &SegmentReader{r: bufio.NewReaderSize(r, 64<<10)}
	magic := make([]byte, len(segmentMagic))
	if _, err := io.ReadFull(sr.r, magic); err != nil || string(magic) != segmentMagic {
		return nil, fmt.Errorf("%w: no segment header", ErrSegmentCorrupt)
	}
	n, err := binary.ReadUvarint(sr.r)
	if err != nil || n > 1<<16 {
		return nil, fmt.Errorf("%w: bad header length", ErrSegmentCorrupt)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(sr.r, js); err != nil {
		return nil, fmt.Errorf("%w: header cut short", ErrSegmentCorrupt)
	}
	if err := json.Unmarshal(js, &sr.h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrSegmentCorrupt, err)
	}
	sr.pos = int64(len(segmentMagic)) + int64(len(binary.AppendUvarint(nil, n))) + int64(n)
	sr.offset, sr.last = sr.h.StartOffset, sr.h.Start.UnixMilli()
	return sr, nil
}

// Header is the segment's header.
func (s *SegmentReader) Header() SegmentHeader { return s.h }

// Next returns the next record, io.EOF after the last. A damaged record
// is an error wrapping ErrSegmentCorrupt that gives its byte position
// and the replication offset of the last good command; the error sticks.
func (s *SegmentReader) Next() (*SegmentRecord, error) {
	if s.err != nil {
		return nil, s.err
	}
	start := s.pos
	fail := func(why string, err error) (*SegmentRecord, error) {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			// Not the segment's bytes: the reader's (a checksum, a download).
			s.err = fmt.Errorf("at byte %d of the segment (its last good record ends at offset %d): %w", start, s.offset, err)
			return nil, s.err
		}
		s.err = fmt.Errorf("%w at byte %d of the segment (its last good record ends at offset %d): %s", ErrSegmentCorrupt, start, s.offset, why)
		return nil, s.err
	}
	dt, err := binary.ReadUvarint(s.r)
	if err == io.EOF {
		s.err = io.EOF
		return nil, io.EOF
	}
	if err != nil {
		return fail("record cut short", err)
	}
	n, err := binary.ReadUvarint(s.r)
	if err != nil {
		return fail("record cut short", err)
	}
	if n > 1<<32 {
		return fail("bad record length", nil)
	}
	s.buf = binary.AppendUvarint(s.buf[:0], dt)
	s.buf = binary.AppendUvarint(s.buf, n)
	head := len(s.buf)
	// The length is not trusted for allocation: the buffer grows with
	// the bytes that actually come.
	for want := head + int(n) + 4; len(s.buf) < want; {
		k := min(want-len(s.buf), 64<<10)
		s.buf = slices.Grow(s.buf, k)
		got, err := io.ReadFull(s.r, s.buf[len(s.buf):len(s.buf)+k])
		s.buf = s.buf[:len(s.buf)+got]
		if err != nil {
			return fail("record cut short", err)
		}
	}
	body := s.buf[:head+int(n)]
	if binary.LittleEndian.Uint32(s.buf[head+int(n):]) != crc32.Checksum(body, castagnoli) {
		return fail("record checksum mismatch", nil)
	}
	s.pos += int64(len(s.buf))
	s.last += int64(dt)
	s.offset += int64(n)
	s.rec = SegmentRecord{Command: s.buf[head : head+int(n)], Offset: s.offset, Received: time.UnixMilli(s.last)}
	return &s.rec, nil
}
