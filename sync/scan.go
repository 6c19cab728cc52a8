package sync

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/analysis"
	"github.com/redkit/redkit/rdb"
)

// Reading keys instead of replicating (ScanDump) is for servers that
// refuse PSYNC and SYNC: managed services, proxies, ACL users without
// +psync. It gives per-key consistency: each key is as it was when it was
// read (its DUMP, then its expiry right after it); keys written during
// the scan may be missing or newer than the rest, and no two keys are
// guaranteed to be of the same moment, unlike a replication snapshot.

// scanCount is the COUNT of each SCAN, dumpBatch how many keys are sized
// (MEMORY USAGE) in one pipeline, and dumpGroupBytes how much of their
// MEMORY USAGE one pipeline of DUMP and PEXPIRETIME may ask for (at
// least one key): the replies are held until they are written.
const (
	scanCount      = 1000
	dumpBatch      = 512
	dumpGroupBytes = 8 << 20
)

// ScanStats tells what ScanDump read.
type ScanStats struct {
	RDBVersion int           // of the file written: the server's DUMP payloads', at least 10
	Keys       int64         // keys written
	DBs        map[int]int64 // keys written per database
	Expected   int64         // keys INFO keyspace counted when the scan started (0: unknown)
	Vanished   int64         // keys SCAN returned that were gone (deleted or expired) before they were read
	// Duplicates counts keys SCAN returned more than once (it may, when
	// the server resizes its table during the scan): each is written once.
	Duplicates int64
	// Chunked counts the keys read in chunks (above ScanOptions.MaxDump),
	// and Largest is the biggest of them (by its bytes in the file).
	Chunked int64
	Largest ChunkedKey
	// BigDumped counts keys above MaxDump read by one DUMP all the same:
	// module values, hashes of servers with hash field expiries (RDB 12
	// and later), streams with more than 100,000 pending entries in their
	// consumer groups (see ScanOptions).
	BigDumped int64
	// SizesByCount is set when the server refused MEMORY USAGE (a proxy,
	// an ACL user): keys were then judged big by their element count.
	SizesByCount bool
	Functions    int // function libraries written
	// FunctionsSkipped says why functions were not read (the server has
	// no FUNCTION DUMP, or refuses it), or "".
	FunctionsSkipped string
	// RelativeTTL is set when the server has no PEXPIRETIME (before Redis
	// 7.0): expiries were computed from PTTL and the time before it was
	// sent, and may be some milliseconds early.
	RelativeTTL    bool
	Started, Ended time.Time
}

// ChunkedKey describes a key read in chunks.
type ChunkedKey struct {
	DB       int
	Key      string
	Type     rdb.Type
	Elements int64 // elements written (stream entries for a stream; 1 for a string)
	Bytes    int64 // bytes of its value in the file
}

// ScanOptions tunes ScanDump. The zero value works.
type ScanOptions struct {
	// MaxDump is the size (MEMORY USAGE with its default sampling, bytes)
	// above which a string, list, set, sorted set, hash or stream is read
	// in chunks instead of by one DUMP; 0 means DefaultMaxDump. Where
	// MEMORY USAGE is refused, a collection is read in chunks above
	// MaxDump/64 elements (65,536 by default), a string above MaxDump
	// bytes (STRLEN).
	//
	// A key read in chunks costs the server short commands only (HSCAN,
	// SSCAN, ZRANGE and LRANGE by index windows, XRANGE, of up to 500
	// elements and about 512 KiB each; GETRANGE windows of 512 KiB; a
	// stream's groups by XINFO GROUPS, XPENDING ranges and XINFO
	// CONSUMERS, after its entries) and costs ScanDump bounded memory:
	// the elements go to a temporary file (TempDir) as they come, since
	// the RDB puts a value's element count first, and the repeats that
	// HSCAN, SSCAN and moving ZRANGE windows may give of a member of a
	// set, sorted set or hash are dropped in bounded memory: a table of
	// 128-bit hashes for the first 98,304 members (4 MiB), then runs of
	// 32 bytes a member in a second temporary file, sorted and merged at
	// the end; members whose hashes are equal are compared byte for byte.
	// Its consistency is weaker than a DUMP's: a key written while
	// it is read is a mix of its states during the read (its expiry is
	// read last).
	MaxDump int64
	// TempDir is where the elements of a key read in chunks are spooled
	// (one file at a time, and one of its members' hashes, removed as soon as it is opened where the
	// system allows); "" means os.TempDir().
	TempDir string
	// Progress, when set, is called after each batch and each key read in
	// chunks with the keys and bytes written so far.
	Progress func(keys, bytes int64)
	// Counted, when set, is called once before the first key is read with
	// the keys INFO keyspace counts (ScanStats.Expected; 0 unknown), for a
	// progress bar's total.
	Counted func(expected int64)
	// MemoryHint, when set, is told once, before the first key is read,
	// how many bytes the scan keeps live by design for its whole run:
	// its table of the keys seen (15 bytes a key INFO keyspace counts)
	// and a group of DUMP replies (8 MiB). A
	// program that runs Go's collector against a soft memory limit
	// raises it by that much, or the collector runs without end.
	MemoryHint func(live int64)
}

// DefaultMaxDump is ScanOptions.MaxDump's default.
const DefaultMaxDump = 4 << 20

// ScanDump reads every key of the server at addr with SCAN, DUMP and
// PEXPIRETIME (PTTL before Redis 7.0), and its functions with FUNCTION
// DUMP, and writes them to out as an RDB file of the server's own RDB
// version holding the values as the server encoded them. It opens two
// connections: one finds and sizes the keys (SCAN, MEMORY USAGE), the
// other DUMPs them. The file is
// complete (EOF opcode and CRC64) when ScanDump returns no error. See
// ScanStats for what it gives; the consistency is per key. Collections
// above ScanOptions.MaxDump are read in chunks (see there). SCAN may
// return a key twice: ScanDump remembers a 128-bit hash of every key it
// met (21 to 43 bytes a key) and writes each once, since a server
// refuses a file holding a key twice.
func ScanDump(ctx context.Context, addr string, opts *Options, out io.Writer, so ScanOptions) (ScanStats, error) {
	st := ScanStats{DBs: map[int]int64{}, Started: time.Now()}
	if opts == nil {
		opts = &Options{}
	}
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		return st, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.abort)
	defer stop()
	fail := func(err error) (ScanStats, error) {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		return st, err
	}

	dbs := []int{0}
	var ks map[int]int64
	if v, err := c.DoString("INFO", "keyspace"); err == nil {
		ks = ParseKeyspace(v.Str)
		dbs = dbs[:0]
		for db, n := range ks {
			if n > 0 {
				dbs = append(dbs, db)
				st.Expected += n
			}
		}
		sortInts(dbs)
	} else if c.Err() != nil {
		return fail(err)
	}
	// A database selected by the URL is scanned alone.
	if opts.DB != 0 {
		dbs = []int{opts.DB}
		st.Expected = ks[opts.DB]
	}
	if so.Counted != nil {
		so.Counted(st.Expected)
	}

	var funcs []byte
	switch v, err := c.DoString("FUNCTION", "DUMP"); {
	case err == nil && v.Kind == aof.BulkString && !v.Null:
		funcs = v.Str
	case err == nil:
		st.FunctionsSkipped = "FUNCTION DUMP gave no payload"
	case c.Err() != nil:
		return fail(err)
	default:
		st.FunctionsSkipped = "FUNCTION DUMP: " + err.Error()
	}

	cw := &byteCounter{w: out}
	progress := func(keys int64) {
		if so.Progress != nil {
			so.Progress(keys, cw.n)
		}
	}
	s := newScanner(c, opts.DB, &st, so)
	s.progress = progress
	if so.MemoryHint != nil {
		so.MemoryHint(s.seen.Bytes() + dumpGroupBytes)
	}
	defer s.closeSpool()
	// The file's version is the server's: from the functions payload, or
	// else from the first key's DUMP.
	version := 0
	if len(funcs) >= 10 {
		version = int(binary.LittleEndian.Uint16(funcs[len(funcs)-10:]))
	} else if version, err = s.probeVersion(dbs); err != nil {
		return fail(err)
	} else if version == 0 {
		// Every key is big (or there is none): the server's version.
		if si, err := Info(c); err == nil {
			version = si.RDBVersion
		} else if c.Err() != nil {
			return fail(err)
		}
	}
	version = max(version, 10)
	if version > rdb.MaxRedisVersion {
		return st, fmt.Errorf("%s: DUMP payloads of RDB %d: %w", addr, version, rdb.ErrUnsupportedVersion)
	}
	st.RDBVersion = version
	s.version = version
	w, err := rdb.NewWriter(cw, rdb.WriterOptions{Version: version})
	if err != nil {
		return st, err
	}
	s.w = w
	if funcs != nil {
		if st.Functions, err = w.WriteFunctionsPayload(funcs); err != nil {
			return st, fmt.Errorf("functions of %s: %w", addr, err)
		}
	}
	if err := s.probeExpiry(); err != nil {
		return fail(err)
	}
	// Keys are found and sized (SCAN, MEMORY USAGE) on a second
	// connection while this one DUMPs those found before, and a pipeline
	// of DUMPs is sent before the replies of the one before it are
	// written: the server has work while redkit writes.
	c2, err := Dial(ctx, addr, opts)
	if err != nil {
		return fail(err)
	}
	var pst ScanStats
	p := &scanner{c: c2, db: opts.DB, st: &pst, maxDump: s.maxDump, seen: s.seen}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	context.AfterFunc(pctx, c2.abort) // the sizing goroutine may be reading
	batches := make(chan sizedBatch, 4)
	var perr error
	sized := make(chan struct{})
	go func() {
		defer close(sized)
		defer close(batches)
		perr = p.sizeKeys(pctx, dbs, batches)
	}()
	err = s.dumpSized(ctx, batches)
	cancel()
	<-sized
	c2.Close()
	st.Duplicates += pst.Duplicates
	st.SizesByCount = st.SizesByCount || pst.SizesByCount
	if err == nil {
		// The batches ended: the scan is done, or it failed.
		err = perr
	}
	if err != nil {
		if e := (*scanDBError)(nil); errors.As(err, &e) {
			err = fmt.Errorf("database %d of %s: %w", e.db, addr, e.err)
		}
		return fail(err)
	}
	if err := w.Close(); err != nil {
		return st, err
	}
	progress(st.Keys)
	st.Ended = time.Now()
	return st, nil
}

// byteCounter counts the bytes written through it.
type byteCounter struct {
	w io.Writer
	n int64
}

func (b *byteCounter) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	b.n += int64(n)
	return n, err
}

type scanner struct {
	c        *Conn
	w        *rdb.Writer
	db       int // selected on c
	st       *ScanStats
	progress func(int64)
	pttl     bool // the server has no PEXPIRETIME
	// gone, when set, is told of each key SCAN (or a caller) named that
	// was gone before it was read.
	gone func(db int, key []byte)
	// inflight is a pipeline of DUMPs sent and not read yet (dumpKeys).
	inflight *dumpGroup
	args     [][]byte

	version int   // of the file written
	maxDump int64 // MEMORY USAGE above which a collection is read in chunks (0: DefaultMaxDump)
	// byCount: MEMORY USAGE was refused, keys are sized by element count.
	byCount bool
	tempDir string
	spool   *os.File // the elements of the key read in chunks, reused
	// seen holds a 128-bit hash of every key the scan wrote or found
	// gone, per database, to drop the keys SCAN returns twice.
	seen *analysis.KeySet
	// chunkHook, in tests, runs after each command reading a chunk.
	chunkHook func(cmd string)
	// maxPending, when not 0, replaces the constant (tests).
	maxPending int
	// dedup, where not 0, replaces the deduper's constants (tests), and
	// counts the repeats it found spooled.
	dedup dedupLimits
}

// newScanner returns a scanner reading c (database db selected) with
// so's MaxDump and TempDir, counting into st (its DBs map made); set its
// w (the file's version in version) before dumpBatch, and call
// closeSpool when done.
func newScanner(c *Conn, db int, st *ScanStats, so ScanOptions) *scanner {
	if st.DBs == nil {
		st.DBs = map[int]int64{}
	}
	// Made for the keys INFO keyspace counted, and a tenth more written
	// during the scan, so that it does not grow: 15 bytes a key.
	return &scanner{c: c, db: db, st: st, maxDump: so.MaxDump, tempDir: so.TempDir, seen: analysis.NewKeySetSize(int(st.Expected + st.Expected/10))}
}

func (s *scanner) selectDB(db int) error {
	if db == s.db {
		return nil
	}
	if _, err := s.c.DoString("SELECT", strconv.Itoa(db)); err != nil {
		return err
	}
	s.db = db
	return nil
}

// scan runs one SCAN and returns the next cursor and the keys.
func (s *scanner) scan(cursor string) (string, []aof.Value, error) {
	v, err := s.c.DoString("SCAN", cursor, "COUNT", strconv.Itoa(scanCount))
	if err != nil {
		return "", nil, err
	}
	if v.Kind != aof.Array || len(v.Elems) != 2 || v.Elems[1].Kind != aof.Array {
		return "", nil, fmt.Errorf("%w: SCAN reply of kind %c", ErrBadHandshake, v.Kind)
	}
	return string(v.Elems[0].Str), v.Elems[1].Elems, nil
}

// probeVersion finds the RDB version of the server's DUMP payloads from
// the first key it finds; 0 when it has none.
func (s *scanner) probeVersion(dbs []int) (int, error) {
	for _, db := range dbs {
		if err := s.selectDB(db); err != nil {
			return 0, err
		}
		cursor := "0"
		for {
			next, keys, err := s.scan(cursor)
			if err != nil {
				return 0, err
			}
			// A small key's DUMP: a big one would block the server.
			infos, err := s.sizes(keys)
			if err != nil {
				return 0, err
			}
			for i, k := range keys {
				if infos[i].gone || infos[i].big {
					continue
				}
				v, err := s.c.Do([]byte("DUMP"), k.Str)
				if err != nil {
					return 0, err
				}
				if v.Null {
					continue
				}
				return rdb.DumpVersion(v.Str)
			}
			if cursor = next; cursor == "0" {
				break
			}
		}
	}
	return 0, nil
}

// sizedBatch is a batch of keys SCAN gave, each met for the first time,
// with their sizes.
type sizedBatch struct {
	db    int
	keys  []aof.Value
	infos []keyInfo
}

// sizeKeys scans each database of dbs on s.c and sends out its keys met
// for the first time, sized, in batches of dumpBatch. It returns when
// every database is done, or ctx is.
func (s *scanner) sizeKeys(ctx context.Context, dbs []int, out chan<- sizedBatch) error {
	for _, db := range dbs {
		if err := s.selectDB(db); err != nil {
			return &scanDBError{db, err}
		}
		cursor := "0"
		for {
			next, keys, err := s.scan(cursor)
			if err != nil {
				return &scanDBError{db, err}
			}
			keys = s.firstSeen(db, keys)
			for len(keys) > 0 {
				n := min(len(keys), dumpBatch)
				infos, err := s.sizes(keys[:n])
				if err != nil {
					return &scanDBError{db, err}
				}
				select {
				case out <- sizedBatch{db: db, keys: keys[:n], infos: infos}:
				case <-ctx.Done():
					return ctx.Err()
				}
				keys = keys[n:]
			}
			if cursor = next; cursor == "0" {
				break
			}
		}
	}
	return nil
}

// scanDBError is an error reading a database: the caller names the
// server.
type scanDBError struct {
	db  int
	err error
}

func (e *scanDBError) Error() string { return fmt.Sprintf("database %d: %v", e.db, e.err) }
func (e *scanDBError) Unwrap() error { return e.err }

// dumpSized writes the keys of the batches of in (see dumpKeys: each
// batch's last pipeline of DUMPs is read once the next is sent) until in
// is closed or ctx is done.
func (s *scanner) dumpSized(ctx context.Context, in <-chan sizedBatch) error {
	for b := range in {
		if err := ctx.Err(); err != nil {
			return err
		}
		if b.db != s.db {
			if err := s.finishDumps(); err != nil {
				return &scanDBError{s.db, err}
			}
			if err := s.selectDB(b.db); err != nil {
				return &scanDBError{b.db, err}
			}
		}
		if err := s.dumpKeys(b.db, b.keys, b.infos, true); err != nil {
			return &scanDBError{b.db, err}
		}
		if s.progress != nil {
			s.progress(s.st.Keys)
		}
	}
	if err := s.finishDumps(); err != nil {
		return &scanDBError{s.db, err}
	}
	return nil
}

// firstSeen drops the keys of keys already seen in db, in place.
func (s *scanner) firstSeen(db int, keys []aof.Value) []aof.Value {
	out := keys[:0]
	for _, k := range keys {
		if s.seen.Add(db, k.Str) {
			s.st.Duplicates++
			continue
		}
		out = append(out, k)
	}
	return out
}

// dumpBatch writes every key of keys that is there to s.w and tells
// s.gone of the others: small ones by pipelined DUMP and PEXPIRETIME (or
// PTTL), collections above maxDump in chunks (dumpBig).
func (s *scanner) dumpBatch(db int, keys []aof.Value) error {
	infos, err := s.sizes(keys)
	if err != nil {
		return err
	}
	return s.dumpKeys(db, keys, infos, false)
}

// dumpKeys is dumpBatch with the keys' sizes known. With ahead, the
// last pipeline of DUMPs is left in flight (s.inflight): it is read, and
// its keys written, once the next one is sent or by finishDumps, so that
// the server works on one while the replies of the one before are
// written.
func (s *scanner) dumpKeys(db int, keys []aof.Value, infos []keyInfo, ahead bool) error {
	type idx struct{ i int }
	small := make([]idx, 0, len(keys))
	var big []int
	for i, k := range keys {
		switch in := &infos[i]; {
		case in.gone:
			s.vanished(db, k.Str)
		case in.big:
			big = append(big, i)
		default:
			if in.over {
				s.st.BigDumped++
			}
			small = append(small, idx{i})
		}
	}
	// DUMP replies are held until the group is written: groups of at
	// most dumpGroupBytes (by MEMORY USAGE) bound that memory.
	for len(small) > 0 {
		n, sum := 0, int64(0)
		for n < len(small) {
			u := infos[small[n].i].usage
			if n > 0 && sum+u > dumpGroupBytes {
				break
			}
			sum += max(u, 0)
			n++
		}
		group := make([]aof.Value, n)
		for j := range group {
			group[j] = keys[small[j].i]
		}
		small = small[n:]
		if !ahead {
			if err := s.dumpPayloads(db, group); err != nil {
				return err
			}
			continue
		}
		g, err := s.sendDumps(db, group)
		if err != nil {
			return err
		}
		if err := s.finishDumps(); err != nil {
			return err
		}
		s.inflight = g
	}
	if len(big) > 0 {
		if err := s.finishDumps(); err != nil {
			return err
		}
	}
	for _, i := range big {
		if err := s.dumpBig(db, keys[i].Str, infos[i]); err != nil {
			return err
		}
	}
	return nil
}

// finishDumps reads the pipeline left in flight, if any, and writes its
// keys.
func (s *scanner) finishDumps() error {
	g := s.inflight
	if g == nil {
		return nil
	}
	s.inflight = nil
	err := s.writeDumps(g)
	if errors.Is(err, errNoPexpiretime) {
		// probeExpiry found it: the server changed under the scan.
		err = fmt.Errorf("PEXPIRETIME %q: unknown command", g.keys[0].Str)
	}
	return err
}

// probeExpiry finds out whether the server has PEXPIRETIME (Redis 7.0
// and later) before pipelines are sent ahead.
func (s *scanner) probeExpiry() error {
	_, err := s.c.DoString("PEXPIRETIME", "redkit:probe")
	switch {
	case s.c.Err() != nil:
		return s.c.Err()
	case err != nil && isUnknownCommand(err):
		s.pttl, s.st.RelativeTTL = true, true
	}
	return nil
}

// vanished counts a key gone before it was read and tells s.gone.
func (s *scanner) vanished(db int, key []byte) {
	s.st.Vanished++
	if s.gone != nil {
		s.gone(db, key)
	}
}

// dumpPayloads pipelines DUMP and PEXPIRETIME (or PTTL) of each key and
// writes the keys still there.
func (s *scanner) dumpPayloads(db int, keys []aof.Value) error {
	g, err := s.sendDumps(db, keys)
	if err != nil || g == nil {
		return err
	}
	err = s.writeDumps(g)
	if errors.Is(err, errNoPexpiretime) {
		s.pttl, s.st.RelativeTTL = true, true
		return s.dumpPayloads(db, keys)
	}
	return err
}

// dumpGroup is a pipeline of DUMP and PEXPIRETIME (or PTTL) sent for
// keys, whose replies are still to be read.
type dumpGroup struct {
	db     int
	keys   []aof.Value
	before time.Time // when it was sent: PTTL counts from there
	pttl   bool
}

// sendDumps sends DUMP and PEXPIRETIME (or PTTL) of each key; nil for no
// keys.
func (s *scanner) sendDumps(db int, keys []aof.Value) (*dumpGroup, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	expCmd := []byte("PEXPIRETIME")
	if s.pttl {
		expCmd = []byte("PTTL")
	}
	g := &dumpGroup{db: db, keys: keys, before: time.Now(), pttl: s.pttl}
	for _, k := range keys {
		s.c.Send([]byte("DUMP"), k.Str)
		if err := s.c.Send(expCmd, k.Str); err != nil {
			return nil, err
		}
	}
	return g, s.c.Flush()
}

// writeDumps reads the replies of g and writes the keys still there. It
// returns errNoPexpiretime, having read every reply, when the server has
// no PEXPIRETIME.
func (s *scanner) writeDumps(g *dumpGroup) error {
	expCmd := "PEXPIRETIME"
	if g.pttl {
		expCmd = "PTTL"
	}
	type reply struct {
		payload []byte
		exp     int64
		gone    bool
	}
	replies := make([]reply, len(g.keys))
	var firstErr error
	for i, k := range g.keys {
		d, err := s.c.Receive()
		if s.c.Err() != nil {
			return err
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("DUMP %q: %w", k.Str, err)
		}
		e, err := s.c.Receive()
		if s.c.Err() != nil {
			return err
		}
		if err != nil && firstErr == nil {
			if !g.pttl && isUnknownCommand(err) {
				firstErr = errNoPexpiretime
			} else {
				firstErr = fmt.Errorf("%s %q: %w", expCmd, k.Str, err)
			}
		}
		replies[i] = reply{payload: d.Str, exp: e.Int, gone: d.Null || d.Kind != aof.BulkString}
	}
	if firstErr != nil {
		return firstErr
	}
	db := g.db
	for i, k := range g.keys {
		r := replies[i]
		// -2: the key went between DUMP and the expiry's read.
		if r.gone || r.exp == -2 {
			s.vanished(db, k.Str)
			continue
		}
		exp := int64(rdb.NoExpiry)
		if r.exp >= 0 {
			exp = r.exp
			if g.pttl {
				exp = g.before.UnixMilli() + r.exp
			}
		}
		if err := s.w.WritePayload(db, k.Str, exp, r.payload); err != nil {
			return err
		}
		s.st.Keys++
		s.st.DBs[db]++
	}
	return nil
}

var errNoPexpiretime = errors.New("no PEXPIRETIME")

// isUnknownCommand tells whether err is the server's reply to a command
// it does not have.
func isUnknownCommand(err error) bool {
	var re *RedisError
	return errors.As(err, &re) && strings.HasPrefix(strings.ToLower(re.Msg), "err unknown command")
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

var _ = bytes.Equal

// ReplicationRefused tells whether err, from OpenLink, is the server
// refusing replication rather than failing: PSYNC, SYNC or REPLCONF
// unknown or renamed, NOPERM for an ACL user without +psync, or another
// error reply (a proxy's) before +FULLRESYNC. Errors of the connection
// itself (refused, reset, timeouts, TLS) and of authentication are not.
func ReplicationRefused(err error) bool {
	var re *RedisError
	if !errors.As(err, &re) {
		return false
	}
	switch re.Code() {
	case "WRONGPASS", "NOAUTH", "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN":
		return false
	}
	return true
}
