package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"
)

// Continuous backups keep the replication stream after a base backup, in
// segments, by generation (a base and the segments that follow it):
//
//	continuous/<generation>/<start>-<end>.seg.zst   a segment (offsets zero-padded to 20 digits)
//	continuous/<generation>/<start>-<end>.json      its SegmentInfo, written after it
//
// A segment without its info does not exist, as a backup without its
// manifest does not.

// ContinuousDir is the folder of the generations, under the root.
const ContinuousDir = "continuous/"

// SegmentInfo describes a stored segment.
type SegmentInfo struct {
	Generation  string    `json:"generation"`
	ReplID      string    `json:"replid"`
	StartOffset int64     `json:"start_offset"` // the offset before its first command
	EndOffset   int64     `json:"end_offset"`   // the offset after its last
	DB          int       `json:"db"`           // the database selected at StartOffset
	First       time.Time `json:"first"`        // receive time of its first command
	Last        time.Time `json:"last"`         // and of its last
	Records     int64     `json:"records"`
	Object      string    `json:"object"` // relative to the generation's folder
	RawBytes    int64     `json:"raw_bytes"`
	StoredBytes int64     `json:"stored_bytes"`
	SHA256      string    `json:"sha256"`
}

func segmentBase(start, end int64) string { return fmt.Sprintf("%020d-%020d", start, end) }

// SegmentRecorder is a segment being written to a backend.
type SegmentRecorder struct {
	ow   *ObjectWriter
	sw   *SegmentWriter
	gen  string
	h    SegmentHeader
	name string
}

// CreateSegment starts a segment of generation gen. Its object gets its
// final name on Close, from the offsets it covers: it is written under a
// name with the start offset only, then the info names it.
func CreateSegment(ctx context.Context, b Backend, gen string, h SegmentHeader, c Codec) (*SegmentRecorder, error) {
	name := fmt.Sprintf("%020d.seg%s", h.StartOffset, c.Suffix())
	ow, err := CreateObject(ctx, b, ContinuousDir+gen+"/"+name, c)
	if err != nil {
		return nil, err
	}
	sw, err := NewSegmentWriter(ow, h)
	if err != nil {
		ow.Abort(err)
		return nil, err
	}
	return &SegmentRecorder{ow: ow, sw: sw, gen: gen, h: h, name: name}, nil
}

// Append adds a command received at t.
func (r *SegmentRecorder) Append(cmd []byte, t time.Time) error { return r.sw.Append(cmd, t) }

// Writer is the segment's writer: its offset, records and time span.
func (r *SegmentRecorder) Writer() *SegmentWriter { return r.sw }

// Abort drops the segment: nothing is stored.
func (r *SegmentRecorder) Abort(cause error) { r.ow.Abort(cause) }

// Close stores the segment, then its info: from then on it exists.
func (r *SegmentRecorder) Close(ctx context.Context, b Backend) (*SegmentInfo, error) {
	if err := r.sw.Flush(); err != nil {
		r.ow.Abort(err)
		return nil, err
	}
	if err := r.ow.Close(); err != nil {
		return nil, err
	}
	e := r.ow.Entry(r.name)
	first, last := r.sw.Span()
	info := &SegmentInfo{Generation: r.gen, ReplID: r.h.ReplID, StartOffset: r.h.StartOffset, EndOffset: r.sw.Offset(), DB: r.h.DB,
		First: first, Last: last, Records: r.sw.Records(), Object: r.name, RawBytes: e.RawBytes, StoredBytes: e.StoredBytes, SHA256: e.SHA256}
	data, _ := json.Marshal(info)
	key := ContinuousDir + r.gen + "/" + segmentBase(info.StartOffset, info.EndOffset) + ".json"
	if _, err := b.Put(ctx, key, bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("segment info %s: %w", key, err)
	}
	return info, nil
}

// ErrGap is returned by ListSegments when a generation's segments do not
// follow each other: a command is missing.
var ErrGap = errors.New("gap between segments")

// ListSegments returns a generation's segments, by offset. Two that do
// not follow each other are an error wrapping ErrGap, with the segments
// before the gap.
func ListSegments(ctx context.Context, b Backend, gen string) ([]SegmentInfo, error) {
	objs, err := b.List(ctx, ContinuousDir+gen+"/")
	if err != nil {
		return nil, err
	}
	var out []SegmentInfo
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		data, err := readSmall(ctx, b, o.Key, 1<<20)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		var si SegmentInfo
		if err := json.Unmarshal(data, &si); err != nil {
			return nil, fmt.Errorf("%w: segment info %s: %v", ErrSegmentCorrupt, o.Key, err)
		}
		out = append(out, si)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartOffset < out[j].StartOffset })
	for i := 1; i < len(out); i++ {
		if out[i].StartOffset != out[i-1].EndOffset {
			return out[:i], fmt.Errorf("%w: generation %s: a segment ends at offset %d, the next starts at %d", ErrGap, gen, out[i-1].EndOffset, out[i].StartOffset)
		}
	}
	return out, nil
}

// SegmentStream is a stored segment read back.
type SegmentStream struct {
	*SegmentReader
	obj *ObjectReader
}

// OpenSegment opens a stored segment: its checksum is checked as it is
// read (Verify at the end), and its records come from Next.
func OpenSegment(ctx context.Context, b Backend, si SegmentInfo, compression string, c Codec) (*SegmentStream, error) {
	m := &Manifest{ID: si.Generation, Compression: compression}
	if len(c.Identities) > 0 {
		m.Encryption = &Encryption{Kind: "age"}
	}
	body, err := b.Get(ctx, ContinuousDir+si.Generation+"/"+si.Object, 0, -1)
	if err != nil {
		return nil, err
	}
	obj, err := openObjectBody(ContinuousDir+si.Generation+"/"+si.Object, body, m, si.SHA256, c)
	if err != nil {
		return nil, err
	}
	sr, err := NewSegmentReader(obj)
	if err != nil {
		obj.Close()
		if verr := obj.Verify(); errors.Is(verr, ErrChecksum) {
			return nil, verr
		}
		return nil, err
	}
	return &SegmentStream{SegmentReader: sr, obj: obj}, nil
}

// Verify checks the segment's checksum (after its last record).
func (s *SegmentStream) Verify() error { return s.obj.Verify() }

// Close releases the download.
func (s *SegmentStream) Close() error { return s.obj.Close() }
