package sync

import (
	"bufio"
	"bytes"
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"slices"

	"github.com/redkit/redkit/rdb"
)

// A set, sorted set or hash read in chunks may give a member twice
// (HSCAN and SSCAN while the table rehashes, ZRANGE windows while
// members move), and a loading server refuses it. The deduper drops the
// repeats, keeping each member's first occurrence, in bounded memory:
//
//   - up to memMembers members, a table in memory of each member's
//     128-bit hash and its element's place in the spool: a repeat is
//     dropped before it is spooled;
//   - past it, the table is kept (no longer grown) and every new member
//     not in it is spooled and recorded (hash, place) in runs of
//     runRecords records, each sorted and written to a temporary file;
//     at the end the runs are merged (when there are fanIn runs, they
//     are merged into one meanwhile) to find the members recorded twice,
//     whose later elements the spool is then written without
//     (rdb.Collection.OmitSpans); the places of those repeats are
//     gathered the same way, in runs sorted by place past runRecords.
//
// Members whose hashes are equal are compared byte for byte, read back
// from the spool, so two different members are never taken for one.
// Memory: the table, two run buffers and fanIn read buffers (about 14
// MiB at most); disk: 32 bytes a member past the table, twice that
// during a merge.
const (
	dedupMemMembers = 98304  // a table of 2^17 slots of 32 bytes: 4 MiB
	dedupRunRecords = 131072 // 4 MiB of records
	dedupFanIn      = 64     // runs merged at once, a 32 KiB buffer each
	dedupReadBuf    = 32 << 10
	recordSize      = 32
)

// dedupRec is a member's hash and its element's place in the spool.
type dedupRec struct {
	h   [2]uint64 // {0, 0}: an empty slot of the table
	off int64
	n   int64
}

func recLess(a, b dedupRec) int {
	if c := cmp.Compare(a.h[0], b.h[0]); c != 0 {
		return c
	}
	if c := cmp.Compare(a.h[1], b.h[1]); c != 0 {
		return c
	}
	return cmp.Compare(a.off, b.off)
}

// deduper adds the elements of one set, sorted set or hash to c, each
// member once; spool is the file c writes to, read back to compare
// members.
type deduper struct {
	c       *rdb.Collection
	spool   io.ReaderAt
	tempDir string
	// memMembers, runRecords and fanIn: the constants, lowered in tests.
	memMembers, runRecords, fanIn int
	// hash is a member's 128-bit hash; tests replace it to force
	// collisions.
	hash   func(m []byte) [2]uint64
	h1, h2 maphash.Hash

	table   []dedupRec
	members int // in the table
	spill   bool
	recs    runSet // of the members spooled after the table was full
	// omits are the spans of the repeats spooled, to be omitted, as
	// records {{off, 1}, off, n} sorted by offset.
	omits   runSet
	omitN   uint64
	omitLen int64
	omitErr error
	dropped int // repeats dropped before they were spooled
	a, b    []byte
}

// runSet is records gathered in a buffer, written as sorted runs to a
// temporary file when it is full.
type runSet struct {
	buf  []dedupRec // the run being gathered
	f    *os.File   // the runs
	runs []runPlace
	end  int64 // of f
}

// runPlace is a sorted run in the runs' file.
type runPlace struct{ off, n int64 }

func newDeduper(c *rdb.Collection, spool io.ReaderAt, tempDir string) *deduper {
	d := &deduper{c: c, spool: spool, tempDir: tempDir, memMembers: dedupMemMembers, runRecords: dedupRunRecords, fanIn: dedupFanIn}
	d.h1.SetSeed(maphash.MakeSeed())
	d.h2.SetSeed(maphash.MakeSeed())
	d.hash = d.maphash
	return d
}

func (d *deduper) maphash(m []byte) [2]uint64 {
	d.h1.Reset()
	d.h1.Write(m)
	d.h2.Reset()
	d.h2.Write(m)
	return [2]uint64{d.h1.Sum64(), d.h2.Sum64()}
}

// add adds e to the collection unless its member was added before.
func (d *deduper) add(e *rdb.Element) error {
	h := d.hash(e.Member)
	h[1] |= 1 // never {0, 0}
	if d.table == nil {
		d.table = make([]dedupRec, 1024)
	}
	slot, found, err := d.lookup(h, e.Member)
	if err != nil {
		return err
	}
	if found {
		d.dropped++
		return nil
	}
	off := d.c.Offset()
	if err := d.c.Add(e); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	r := dedupRec{h: h, off: off, n: d.c.Offset() - off}
	if !d.spill {
		d.table[slot] = r
		if d.members++; d.members >= d.memMembers {
			d.spill = true // the table is full: it is kept as it is
		} else if d.members > len(d.table)/4*3 {
			d.grow()
		}
		return nil
	}
	if d.recs.buf == nil {
		d.recs.buf = make([]dedupRec, 0, d.runRecords)
	}
	return d.push(&d.recs, r)
}

// push adds r to rs, writing a run when its buffer is full.
func (d *deduper) push(rs *runSet, r dedupRec) error {
	rs.buf = append(rs.buf, r)
	if len(rs.buf) == d.runRecords {
		return d.writeRun(rs)
	}
	return nil
}

// lookup finds h in the table: found when a member equal to m has it,
// else the empty slot where it goes.
func (d *deduper) lookup(h [2]uint64, m []byte) (int, bool, error) {
	mask := uint64(len(d.table) - 1)
	for i := h[0] & mask; ; i = (i + 1) & mask {
		switch r := d.table[i]; r.h {
		case [2]uint64{}:
			return int(i), false, nil
		case h:
			if err := d.c.Flush(); err != nil {
				return 0, false, fmt.Errorf("spool: %w", err)
			}
			same, err := d.sameMember(r, m)
			if same || err != nil {
				return 0, same, err
			}
		}
	}
}

func (d *deduper) grow() {
	old := d.table
	d.table = make([]dedupRec, 2*len(old))
	mask := uint64(len(d.table) - 1)
	for _, r := range old {
		if r.h == [2]uint64{} {
			continue
		}
		i := r.h[0] & mask
		for d.table[i].h != [2]uint64{} {
			i = (i + 1) & mask
		}
		d.table[i] = r
	}
}

// member reads the member of the element at r into buf.
func (d *deduper) member(r dedupRec, buf *[]byte) ([]byte, error) {
	*buf = slices.Grow((*buf)[:0], int(r.n))[:r.n]
	if _, err := d.spool.ReadAt(*buf, r.off); err != nil {
		return nil, fmt.Errorf("spool: read back an element at %d: %w", r.off, err)
	}
	m, err := rdb.ElementMember(*buf)
	if err != nil {
		return nil, fmt.Errorf("spool: element at %d: %w", r.off, err)
	}
	return m, nil
}

// sameMember compares the member at r with m.
func (d *deduper) sameMember(r dedupRec, m []byte) (bool, error) {
	a, err := d.member(r, &d.a)
	if err != nil {
		return false, err
	}
	return bytes.Equal(a, m), nil
}

// writeRun sorts the gathered records and writes them as a run, merging
// the runs into one when there are fanIn of them.
func (d *deduper) writeRun(rs *runSet) error {
	slices.SortFunc(rs.buf, recLess)
	if rs.f == nil {
		f, err := d.tempFile()
		if err != nil {
			return err
		}
		rs.f = f
	}
	w := bufio.NewWriterSize(&offsetWriter{rs.f, rs.end}, dedupReadBuf)
	for _, r := range rs.buf {
		writeRec(w, r)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("runs of a big key's members: %w", err)
	}
	rs.runs = append(rs.runs, runPlace{rs.end, int64(len(rs.buf))})
	rs.end += int64(len(rs.buf)) * recordSize
	rs.buf = rs.buf[:0]
	if len(rs.runs) < d.fanIn {
		return nil
	}
	return d.mergeRuns(rs)
}

// mergeRuns merges rs's runs into one, in a new file, each member's
// first element only: the later ones are to be omitted.
func (d *deduper) mergeRuns(rs *runSet) error {
	f, err := d.tempFile()
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(&offsetWriter{f, 0}, dedupReadBuf)
	var n int64
	err = d.walk(rs, func(r dedupRec) { writeRec(w, r); n++ }, d.omit)
	if err == nil {
		err = d.omitErr
	}
	if err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("runs of a big key's members: %w", err)
	}
	rs.f.Close()
	rs.f, rs.runs, rs.end = f, []runPlace{{0, n}}, n*recordSize
	return nil
}

func (d *deduper) tempFile() (*os.File, error) {
	f, err := os.CreateTemp(d.tempDir, "redkit-scan-*.runs")
	if err != nil {
		return nil, fmt.Errorf("runs of a big key's members: %w", err)
	}
	os.Remove(f.Name()) // gone from the directory; the open file stays usable
	return f, nil
}

// close removes the runs.
func (d *deduper) close() {
	for _, rs := range []*runSet{&d.recs, &d.omits} {
		if rs.f != nil {
			rs.f.Close()
			os.Remove(rs.f.Name())
			rs.f = nil
		}
	}
}

// finish merges the runs and returns the spans of the elements whose
// member was spooled before, in increasing order, their number and
// their bytes in all, for rdb.Collection.OmitSpans; the collection is
// flushed. The spans are read from the deduper: close it after.
func (d *deduper) finish() (rdb.SpanReader, uint64, int64, error) {
	if err := d.c.Flush(); err != nil {
		return nil, 0, 0, fmt.Errorf("spool: %w", err)
	}
	if err := d.sortLast(&d.recs); err != nil {
		return nil, 0, 0, err
	}
	err := d.walk(&d.recs, func(dedupRec) {}, d.omit)
	if err == nil {
		err = d.omitErr
	}
	if err != nil {
		return nil, 0, 0, err
	}
	if err := d.sortLast(&d.omits); err != nil {
		return nil, 0, 0, err
	}
	if len(d.omits.runs) > 1 {
		if err := d.mergeRuns(&d.omits); err != nil {
			return nil, 0, 0, err
		}
	}
	c := &runCursor{mem: d.omits.buf}
	if len(d.omits.runs) == 1 {
		c = d.cursor(&d.omits, d.omits.runs[0])
	}
	return spanCursor{c}, d.omitN, d.omitLen, nil
}

// sortLast sorts the records gathered: in memory when rs has no run on
// disk, else as its last run.
func (d *deduper) sortLast(rs *runSet) error {
	if len(rs.runs) == 0 {
		slices.SortFunc(rs.buf, recLess)
		return nil
	}
	if len(rs.buf) > 0 {
		return d.writeRun(rs)
	}
	return nil
}

// omit notes an element to be left out of the spool.
func (d *deduper) omit(r dedupRec) {
	d.omitN++
	d.omitLen += r.n
	if err := d.push(&d.omits, dedupRec{h: [2]uint64{uint64(r.off), 1}, off: r.off, n: r.n}); err != nil && d.omitErr == nil {
		d.omitErr = err
	}
}

func (d *deduper) cursor(rs *runSet, p runPlace) *runCursor {
	return &runCursor{r: bufio.NewReaderSize(io.NewSectionReader(rs.f, p.off, p.n*recordSize), dedupReadBuf), left: p.n}
}

// spanCursor gives the spans to omit in order.
type spanCursor struct{ c *runCursor }

func (s spanCursor) Next() (rdb.Span, error) {
	ok, err := s.c.next()
	if err != nil {
		return rdb.Span{}, err
	}
	if !ok {
		return rdb.Span{}, io.EOF
	}
	return rdb.Span{Off: s.c.cur.off, Len: s.c.cur.n}, nil
}

// walk merges rs's sorted runs (or its buffer, sorted, when it has no
// run on disk) and calls keep with the first element of each member and
// dup with each later one. The spool must be flushed.
func (d *deduper) walk(rs *runSet, keep, dup func(dedupRec)) error {
	if err := d.c.Flush(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	var h runHeap
	if len(rs.runs) == 0 {
		h = append(h, &runCursor{mem: rs.buf})
	}
	for _, p := range rs.runs {
		h = append(h, d.cursor(rs, p))
	}
	live := h[:0]
	for _, c := range h {
		ok, err := c.next()
		if err != nil {
			return err
		}
		if ok {
			live = append(live, c)
		}
	}
	h = live
	heap.Init(&h)
	var group []dedupRec // the distinct members of the current hash
	for len(h) > 0 {
		c := h[0]
		r := c.cur
		ok, err := c.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
		if len(group) == 0 || group[0].h != r.h {
			group = append(group[:0], r)
			keep(r)
			continue
		}
		// The same hash again: the same member, or a collision.
		m, err := d.member(r, &d.b)
		if err != nil {
			return err
		}
		repeat := false
		for _, g := range group {
			if repeat, err = d.sameMember(g, m); err != nil {
				return err
			}
			if repeat {
				break
			}
		}
		if repeat {
			dup(r)
		} else {
			group = append(group, r)
			keep(r)
		}
	}
	return nil
}

// runCursor reads one sorted run.
type runCursor struct {
	r    *bufio.Reader
	left int64
	mem  []dedupRec
	cur  dedupRec
	b    [recordSize]byte
}

func (c *runCursor) next() (bool, error) {
	if c.r == nil {
		if len(c.mem) == 0 {
			return false, nil
		}
		c.cur, c.mem = c.mem[0], c.mem[1:]
		return true, nil
	}
	if c.left == 0 {
		return false, nil
	}
	if _, err := io.ReadFull(c.r, c.b[:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return false, fmt.Errorf("runs of a big key's members: %w", err)
	}
	c.left--
	c.cur = dedupRec{
		h:   [2]uint64{binary.LittleEndian.Uint64(c.b[0:]), binary.LittleEndian.Uint64(c.b[8:])},
		off: int64(binary.LittleEndian.Uint64(c.b[16:])),
		n:   int64(binary.LittleEndian.Uint64(c.b[24:])),
	}
	return true, nil
}

type runHeap []*runCursor

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return recLess(h[i].cur, h[j].cur) < 0 }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*runCursor)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func writeRec(w *bufio.Writer, r dedupRec) {
	var b [recordSize]byte
	binary.LittleEndian.PutUint64(b[0:], r.h[0])
	binary.LittleEndian.PutUint64(b[8:], r.h[1])
	binary.LittleEndian.PutUint64(b[16:], uint64(r.off))
	binary.LittleEndian.PutUint64(b[24:], uint64(r.n))
	w.Write(b[:]) // a write error stays in w, returned by Flush
}

// offsetWriter writes a file from an offset on.
type offsetWriter struct {
	f   *os.File
	off int64
}

func (o *offsetWriter) Write(p []byte) (int, error) {
	n, err := o.f.WriteAt(p, o.off)
	o.off += int64(n)
	return n, err
}

// dedupLimits replace the deduper's constants where not 0 (tests);
// omitted counts the repeats found spooled, of every key.
type dedupLimits struct{ memMembers, runRecords, fanIn, omitted int }

// newDeduper returns the deduper of a collection c spooled to f.
func (s *scanner) newDeduper(c *rdb.Collection, f *os.File) *deduper {
	d := newDeduper(c, f, s.tempDir)
	if s.dedup.memMembers > 0 {
		d.memMembers = s.dedup.memMembers
	}
	if s.dedup.runRecords > 0 {
		d.runRecords = s.dedup.runRecords
	}
	if s.dedup.fanIn > 0 {
		d.fanIn = s.dedup.fanIn
	}
	return d
}
