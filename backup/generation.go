package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/storage"
)

// A continuous backup keeps a source's replication stream after a base
// backup, in segments. A base and the segments that follow it make a
// generation, named by the base's backup id:
//
//	backups/<generation>/...                 the base: a backup whose manifest is Continuous
//	continuous/<generation>/<segment key>    its segments
//
// A segment's key says all that restores and listings need, so that a
// listing of the folder (1000 keys a page on S3) is enough to plan a
// restore, without one read per segment:
//
//	<start>-<end>-<replid>-<first>-<last>-<closed>-<records>-<enddb>-<sha256>.seg.zst[.age]
//
// start and end are the replication offsets before its first command and
// after its last (20 digits, so that keys sort by offset); replid is the
// source's replication ID the offsets belong to; first, last
// and closed are Unix milliseconds: the receive times of its first and
// last commands, and the time it was closed (every command received
// before then is in it or in an earlier segment); records counts its
// commands; enddb is the database selected after its last command;
// sha256 is the checksum of the stored bytes. A segment is one PUT: it
// exists whole or not at all.

// ContinuousDir is the folder of the generations' segments, under the root.
const ContinuousDir = "continuous/"

// ReplPosition is where a generation's base stands in its source's
// replication stream: the snapshot holds every command before Offset.
type ReplPosition struct {
	ReplID string    `json:"replid"`
	Offset int64     `json:"offset"`
	Time   time.Time `json:"time"` // when the source began the snapshot (its FULLRESYNC reply was received)
}

// SegmentInfo describes a stored segment.
type SegmentInfo struct {
	Generation  string
	Object      string // its key, relative to the generation's folder
	ReplID      string // the replication ID its offsets belong to
	StartOffset int64  // the offset before its first command
	EndOffset   int64  // the offset after its last
	EndDB       int    // the database selected after its last command
	First, Last time.Time
	Closed      time.Time
	Records     int64
	StoredBytes int64
	SHA256      string
}

// Key is the segment's key under the root.
func (si *SegmentInfo) Key() string { return ContinuousDir + si.Generation + "/" + si.Object }

func segmentObject(si *SegmentInfo, suffix string) string {
	return fmt.Sprintf("%020d-%020d-%s-%d-%d-%d-%d-%d-%s.seg%s", si.StartOffset, si.EndOffset, si.ReplID,
		si.First.UnixMilli(), si.Last.UnixMilli(), si.Closed.UnixMilli(), si.Records, si.EndDB, si.SHA256, suffix)
}

// parseSegmentObject reads a segment's key (relative to its folder).
func parseSegmentObject(gen, name string, size int64) (SegmentInfo, bool) {
	base, _, ok := strings.Cut(name, ".seg")
	if !ok {
		return SegmentInfo{}, false
	}
	f := strings.Split(base, "-")
	if len(f) != 9 || len(f[8]) != 64 || !isHex(f[8]) || !isReplID(f[2]) {
		return SegmentInfo{}, false
	}
	replID := f[2]
	f = append(f[:2], f[3:]...)
	var n [7]int64
	for i := range n {
		if f[i] == "" || f[i][0] < '0' || f[i][0] > '9' {
			return SegmentInfo{}, false
		}
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil || v < 0 {
			return SegmentInfo{}, false
		}
		n[i] = v
	}
	if n[1] < n[0] || n[6] > 1<<20 {
		return SegmentInfo{}, false
	}
	return SegmentInfo{Generation: gen, Object: name, ReplID: replID, StartOffset: n[0], EndOffset: n[1],
		First: time.UnixMilli(n[2]).UTC(), Last: time.UnixMilli(n[3]).UTC(), Closed: time.UnixMilli(n[4]).UTC(),
		Records: n[5], EndDB: int(n[6]), SHA256: f[7], StoredBytes: size}, true
}

func isHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isReplID accepts what a key can hold of a replication ID (40 hex
// digits from Redis): up to 64 letters and digits.
func isReplID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// SegmentBuilder builds a segment in memory, compressed (and encrypted)
// as its commands come: a segment is stored with one PUT once closed,
// and can be put again if that fails, since its bytes are kept until
// then.
type SegmentBuilder struct {
	h      SegmentHeader
	c      storage.Codec
	buf    bytes.Buffer
	enc    *storage.Encoder
	sw     *SegmentWriter
	data   int64 // the offset after its last command changing data; 0: none
	dataDB int
}

// NewSegmentBuilder starts a segment.
func NewSegmentBuilder(h SegmentHeader, c storage.Codec) (*SegmentBuilder, error) {
	b := &SegmentBuilder{h: h, c: c}
	enc, err := storage.NewEncoder(&b.buf, c)
	if err != nil {
		return nil, err
	}
	b.enc = enc
	if b.sw, err = NewSegmentWriter(enc, h); err != nil {
		return nil, err
	}
	return b, nil
}

// Append adds a command received at t, db being the database selected
// after it.
func (b *SegmentBuilder) Append(cmd []byte, t time.Time, db int) error {
	if err := b.sw.Append(cmd, t); err != nil {
		return err
	}
	if c := aof.Classify(aof.CommandName(cmd)); !c.Noop() && c != aof.ClassSelect {
		b.data, b.dataDB = b.sw.Offset(), db
	}
	return nil
}

// DataEnd is the replication offset after its last command that changes
// data (not aof.Class.Noop, not SELECT; 0: it has none), and the database
// selected there: a failover's new master may not hold the commands
// after it, but holds everything before.
func (b *SegmentBuilder) DataEnd() (int64, int) { return b.data, b.dataDB }

// LastDataEnd reads segs (in order, of one generation) from the newest
// back, and returns the replication offset after the last command that
// changes data (not aof.Class.Noop, not SELECT) and the database selected there.
// With none in any of them, that is the first one's start (a base's
// offset, database 0); 0 when none of the newest 256 that hold records
// has one (an idle source's segments hold only the master's PINGs).
func LastDataEnd(ctx context.Context, b storage.Backend, segs []SegmentInfo, compression string, c storage.Codec) (int64, int, error) {
	read := 0
	for i := len(segs) - 1; i >= 0 && read < 256; i-- {
		if segs[i].Records == 0 {
			continue
		}
		read++
		ss, err := OpenSegment(ctx, b, segs[i], compression, c)
		if err != nil {
			return 0, 0, err
		}
		var end int64
		db, endDB := ss.Header().DB, 0
		for {
			rec, err := ss.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				ss.Close()
				return 0, 0, err
			}
			if d := aof.SelectedDB(rec.Command); d >= 0 {
				db = d
			} else if !aof.Classify(aof.CommandName(rec.Command)).Noop() {
				end, endDB = rec.Offset, db
			}
		}
		ss.Close()
		if end > 0 {
			return end, endDB, nil
		}
	}
	if read < 256 && len(segs) > 0 {
		return segs[0].StartOffset, 0, nil
	}
	return 0, 0, nil
}

// VerifySegment reads a stored segment whole: its SHA-256, every
// record's CRC-32C, and its record count against its name's.
func VerifySegment(ctx context.Context, b storage.Backend, si SegmentInfo, compression string, c storage.Codec) error {
	ss, err := OpenSegment(ctx, b, si, compression, c)
	if err != nil {
		return err
	}
	defer ss.Close()
	var n int64
	for {
		if _, err = ss.Next(); err != nil {
			break
		}
		n++
	}
	if err == io.EOF {
		err = ss.Verify()
	}
	if err == nil && n != si.Records {
		err = fmt.Errorf("%w: %d records, its name says %d", ErrSegmentCorrupt, n, si.Records)
	}
	if err != nil {
		return fmt.Errorf("segment %s: %w", si.Key(), err)
	}
	return nil
}

// Header is the segment's header.
func (b *SegmentBuilder) Header() SegmentHeader { return b.h }

// Records is how many commands it holds.
func (b *SegmentBuilder) Records() int64 { return b.sw.Records() }

// Offset is the replication offset after its last command.
func (b *SegmentBuilder) Offset() int64 { return b.sw.Offset() }

// Size is the bytes of commands it holds, before compression.
func (b *SegmentBuilder) Size() int64 { return b.sw.Offset() - b.h.StartOffset }

// Finish ends the segment, closed at the time given, with the database
// selected after its last command: its bytes and its description. The
// builder is done with.
func (b *SegmentBuilder) Finish(gen string, closed time.Time, endDB int) (*SegmentInfo, []byte, error) {
	err := b.sw.Flush()
	if err == nil {
		err = b.enc.Close()
	}
	if err != nil {
		return nil, nil, err
	}
	data := b.buf.Bytes()
	sum := sha256.Sum256(data)
	first, last := b.sw.Span()
	if b.sw.Records() == 0 {
		first, last = b.h.Start, b.h.Start
	}
	if closed.Before(last) {
		closed = last
	}
	si := &SegmentInfo{Generation: gen, ReplID: b.h.ReplID, StartOffset: b.h.StartOffset, EndOffset: b.sw.Offset(), EndDB: endDB,
		First: first.UTC(), Last: last.UTC(), Closed: closed.Truncate(time.Millisecond).UTC(), Records: b.sw.Records(),
		StoredBytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	si.Object = segmentObject(si, b.c.Suffix())
	return si, data, nil
}

// StoreSegment puts a finished segment: from then on it exists.
func StoreSegment(ctx context.Context, b storage.Backend, si *SegmentInfo, data []byte) error {
	if _, err := b.Put(ctx, si.Key(), bytes.NewReader(data)); err != nil {
		return fmt.Errorf("store segment %s: %w", si.Key(), err)
	}
	return nil
}

// ErrGap is wrapped by a *GapError: a generation's segments do not
// follow each other, commands are missing.
var ErrGap = errors.New("gap between segments")

// GapError tells that segments are missing in the middle of a
// generation (or at its start, after its base): the replication offsets
// From to To are not stored, so the segments stored after them cannot be
// replayed. It wraps ErrGap.
type GapError struct {
	Generation string
	From, To   int64     // the offsets missing: from the end of what is before the gap to the start of the next stored segment
	Until      time.Time // the last instant restorable before the gap: its last segment's close (the base's time if none)
	After      int       // the segments stored after it
	AfterEnd   int64     // the offset after the last of them
	AfterLast  time.Time // the receive time of the last command in them
}

func (e *GapError) Error() string {
	return fmt.Sprintf("%v: generation %s misses the segment(s) holding offsets %d to %d (the last instant restorable before them is %s); %d segment(s) stored after them, up to offset %d (received until %s), cannot be replayed",
		ErrGap, e.Generation, e.From, e.To, e.Until.UTC().Format(time.RFC3339Nano), e.After, e.AfterEnd, e.AfterLast.UTC().Format(time.RFC3339Nano))
}

func (e *GapError) Unwrap() error { return ErrGap }

// newGap describes the gap before out[i], the segments kept before it
// being segs.
func newGap(gen string, segs, out []SegmentInfo, i int) *GapError {
	prev := segs[len(segs)-1]
	e := &GapError{Generation: gen, From: prev.EndOffset, To: out[i].StartOffset, Until: prev.Closed}
	e.stored(out[i:])
	return e
}

// stored counts segs among those stored after the gap.
func (e *GapError) stored(segs []SegmentInfo) {
	for _, s := range segs {
		e.After++
		e.AfterEnd = max(e.AfterEnd, s.EndOffset)
		if s.Last.After(e.AfterLast) {
			e.AfterLast = s.Last
		}
	}
}

// ListSegments returns a generation's segments, by offset. Two that do
// not follow each other are a *GapError (wrapping ErrGap), with the
// segments before the gap. Two that start at the same offset (a segment
// stored again after a restart) keep the longer one.
func ListSegments(ctx context.Context, b storage.Backend, gen string) ([]SegmentInfo, error) {
	objs, err := b.List(ctx, ContinuousDir+gen+"/")
	if err != nil {
		return nil, err
	}
	var out []SegmentInfo
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, ContinuousDir+gen+"/")
		si, ok := parseSegmentObject(gen, name, o.Size)
		if !ok {
			continue // not a segment: ignored, as a file backend's temporary files are
		}
		out = append(out, si)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].StartOffset != out[j].StartOffset {
			return out[i].StartOffset < out[j].StartOffset
		}
		if out[i].EndOffset != out[j].EndOffset {
			return out[i].EndOffset > out[j].EndOffset
		}
		return out[i].Closed.Before(out[j].Closed) // empty ones: an idle source's, in time
	})
	var segs []SegmentInfo
	type cut struct {
		replID string
		at     int64
	}
	var cuts []cut // histories left at a failover: their segments from there are not followed
	for i, si := range out {
		left := false
		for _, c := range cuts {
			if si.ReplID == c.replID && si.StartOffset >= c.at {
				left = true
			}
		}
		if left {
			continue
		}
		if n := len(segs); n > 0 {
			prev := segs[n-1]
			// A failover: the new master's history, stored after the old
			// one's, replaces it from where it continued (before the old
			// master's trailing PINGs and PUBLISHes, which it never had).
			switched := si.ReplID != prev.ReplID && si.ReplID != "" && prev.ReplID != "" && si.Closed.After(prev.Closed)
			if switched && si.StartOffset == prev.EndOffset {
				cuts = append(cuts, cut{prev.ReplID, si.StartOffset})
			}
			if switched && si.StartOffset < prev.EndOffset {
				cuts = append(cuts, cut{prev.ReplID, si.StartOffset})
				for len(segs) > 1 && segs[len(segs)-1].ReplID == prev.ReplID && segs[len(segs)-1].StartOffset >= si.StartOffset {
					segs = segs[:len(segs)-1]
				}
				if last := segs[len(segs)-1]; last.EndOffset < si.StartOffset {
					return segs, newGap(gen, segs, out, i)
				}
				segs = append(segs, si)
				continue
			}
			if si.StartOffset < prev.EndOffset || (si.StartOffset == prev.StartOffset && si.EndOffset < prev.EndOffset) {
				continue // covered by the one before
			}
			if si.StartOffset != prev.EndOffset {
				return segs, newGap(gen, segs, out, i)
			}
		}
		segs = append(segs, si)
	}
	return segs, nil
}

// GenerationSegments lists the segments of the generation whose base is
// m, as ListSegments does; a first one that does not start at the base's
// offset (the first is missing) is a gap too, and then none is given.
func GenerationSegments(ctx context.Context, b storage.Backend, m *Manifest) ([]SegmentInfo, error) {
	segs, err := ListSegments(ctx, b, m.ID)
	var gap *GapError
	if err != nil && !errors.As(err, &gap) {
		return segs, err
	}
	r := m.Replication
	if r == nil || len(segs) == 0 || segs[0].StartOffset <= r.Offset {
		return segs, err
	}
	first := &GapError{Generation: m.ID, From: r.Offset, To: segs[0].StartOffset, Until: r.Time}
	first.stored(segs)
	if gap != nil {
		first.After += gap.After
		first.AfterEnd = max(first.AfterEnd, gap.AfterEnd)
		if gap.AfterLast.After(first.AfterLast) {
			first.AfterLast = gap.AfterLast
		}
	}
	return nil, first
}

// SegmentStream is a stored segment read back.
type SegmentStream struct {
	*SegmentReader
	obj *storage.ObjectReader
}

// OpenSegment opens a stored segment: its checksum is checked as it is
// read (Verify at the end), and its records come from Next.
func OpenSegment(ctx context.Context, b storage.Backend, si SegmentInfo, compression string, c storage.Codec) (*SegmentStream, error) {
	p := storage.ObjectParams{SHA256: si.SHA256, Compression: compression, Encrypted: len(c.Identities) > 0}
	body, err := b.Get(ctx, si.Key(), 0, -1)
	if err != nil {
		return nil, err
	}
	obj, err := storage.NewObjectReader(si.Key(), body, p, c)
	if err != nil {
		// A damaged age header fails here: the checksum tells.
		if cerr := checkSegmentSum(ctx, b, si); cerr != nil {
			return nil, cerr
		}
		return nil, objectErr(si.Generation, err)
	}
	sr, err := NewSegmentReader(obj)
	if err != nil {
		// The checksum explains a damaged header.
		verr := obj.Verify()
		obj.Close()
		if errors.Is(verr, storage.ErrChecksum) {
			return nil, fmt.Errorf("segment %s: %w", si.Key(), verr)
		}
		return nil, fmt.Errorf("segment %s: %w", si.Key(), err)
	}
	return &SegmentStream{SegmentReader: sr, obj: obj}, nil
}

// checkSegmentSum downloads a segment again and checks its SHA-256.
func checkSegmentSum(ctx context.Context, b storage.Backend, si SegmentInfo) error {
	body, err := b.Get(ctx, si.Key(), 0, -1)
	if err != nil {
		return nil // the first error says more
	}
	defer body.Close()
	h := sha256.New()
	n, err := io.Copy(h, body)
	if err != nil {
		return nil
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != si.SHA256 {
		return fmt.Errorf("%s: %w: its %d bytes have SHA-256 %s, its name says %s", si.Key(), storage.ErrChecksum, n, got, si.SHA256)
	}
	return nil
}

// Verify checks the segment's checksum (after its last record).
func (s *SegmentStream) Verify() error { return s.obj.Verify() }

// Close releases the download.
func (s *SegmentStream) Close() error { return s.obj.Close() }

// Generation is a continuous backup's base and the segments after it.
type Generation struct {
	Base     *Manifest
	Segments []SegmentInfo // in order, up to Gap
	// Gap, when not nil, tells that segments are missing after the last
	// one in Segments (or after the base, with none): those stored after
	// it cannot be used, and the generation restores up to Until.
	Gap *GapError
}

// ID is the generation's name: its base's backup id.
func (g *Generation) ID() string { return g.Base.ID }

// From is the first instant the generation restores to: its snapshot's.
func (g *Generation) From() time.Time {
	if g.Base.Replication != nil {
		return g.Base.Replication.Time
	}
	return g.Base.Started
}

// Until is the last instant it restores to: every command received
// before it is stored.
func (g *Generation) Until() time.Time {
	if n := len(g.Segments); n > 0 {
		return g.Segments[n-1].Closed
	}
	return g.From()
}

// EndOffset is the replication offset after its last stored command.
func (g *Generation) EndOffset() int64 {
	if n := len(g.Segments); n > 0 {
		return g.Segments[n-1].EndOffset
	}
	if g.Base.Replication != nil {
		return g.Base.Replication.Offset
	}
	return 0
}

// Commands counts its stored commands.
func (g *Generation) Commands() (n int64) {
	for _, s := range g.Segments {
		n += s.Records
	}
	return n
}

// SegmentBytes sums its segments' stored bytes.
func (g *Generation) SegmentBytes() (n int64) {
	for _, s := range g.Segments {
		n += s.StoredBytes
	}
	return n
}

// ListGenerations returns the continuous backups' generations among the
// listed backups, oldest first, with their segments (listed 8 at a time).
func ListGenerations(ctx context.Context, b storage.Backend, l *Listing) ([]*Generation, error) {
	var gens []*Generation
	for _, m := range l.Backups {
		if m.Continuous {
			gens = append(gens, &Generation{Base: m})
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make([]error, len(gens))
	for i, g := range gens {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			segs, err := GenerationSegments(ctx, b, g.Base)
			g.Segments = segs
			if gap := (*GapError)(nil); errors.As(err, &gap) {
				g.Gap, err = gap, nil
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return gens, errors.Join(errs...)
}

// OrphanGenerations lists the segment folders whose base does not exist
// (a base cut short, or deleted by a prune cut short): prune removes them.
func OrphanGenerations(ctx context.Context, b storage.Backend, l *Listing) ([]string, error) {
	objs, err := b.List(ctx, ContinuousDir)
	if err != nil {
		return nil, err
	}
	bases := map[string]bool{}
	for _, m := range l.Backups {
		bases[m.ID] = true
	}
	for id := range l.Damaged {
		bases[id] = true // never delete what might be read again
	}
	for _, id := range l.Incomplete {
		bases[id] = true // a base being written
	}
	seen := map[string]bool{}
	var out []string
	for _, o := range objs {
		gen, _, ok := strings.Cut(strings.TrimPrefix(o.Key, ContinuousDir), "/")
		if !ok || bases[gen] || seen[gen] {
			continue
		}
		seen[gen] = true
		out = append(out, gen)
	}
	return out, nil
}

// DeleteSegments removes a generation's segments, newest first, so
// that a deletion cut short leaves the oldest ones, which still follow
// their base.
func DeleteSegments(ctx context.Context, b storage.Backend, gen string) error {
	objs, err := b.List(ctx, ContinuousDir+gen+"/")
	if err != nil {
		return fmt.Errorf("delete generation %s: %w", gen, err)
	}
	for i := len(objs) - 1; i >= 0; i-- {
		if err := b.Delete(ctx, objs[i].Key); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete generation %s: %w", gen, err)
		}
	}
	return nil
}
