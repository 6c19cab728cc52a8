package sync

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/rdb"
)

// Big keys are read in chunks of up to chunkElems elements and about
// chunkBytes bytes (from the key's MEMORY USAGE per element), so that no
// command holds the server for long.
const (
	chunkElems = 500
	chunkBytes = 512 << 10
	// countRatio: where MEMORY USAGE is refused, a collection of more
	// than maxDump/countRatio elements is big.
	countRatio = 64
	// bigAttempts is how many times a key that changes type while it is
	// read in chunks is read again before ScanDump fails.
	bigAttempts = 3
)

// keyInfo is what sizes learned of a key.
type keyInfo struct {
	typ   string // TYPE's reply
	usage int64  // MEMORY USAGE, -1 unknown
	count int64  // elements, -1 unknown
	gone  bool
	over  bool // above the limit
	big   bool // above the limit and to be read in chunks
}

// sizes learns each key's type and size, pipelined: MEMORY USAGE (its
// default sampling, O(1) per key in effect) and TYPE; where MEMORY USAGE
// is refused, TYPE then the element count (HLEN, SCARD, ZCARD, LLEN,
// XLEN).
func (s *scanner) sizes(keys []aof.Value) ([]keyInfo, error) {
	infos := make([]keyInfo, len(keys))
	if len(keys) == 0 {
		return infos, nil
	}
	if !s.byCount {
		// MEMORY USAGE alone: TYPE only for the keys above the limit
		// (a command less per key for the server).
		for _, k := range keys {
			s.c.Send([]byte("MEMORY"), []byte("USAGE"), k.Str)
		}
		if err := s.c.Flush(); err != nil {
			return nil, err
		}
		var memErr error
		var over []int
		for i := range keys {
			u, err := s.c.Receive()
			if s.c.Err() != nil {
				return nil, s.c.Err()
			}
			if err != nil && memErr == nil {
				memErr = err
			}
			infos[i] = keyInfo{usage: u.Int, count: -1, gone: u.Null}
			if err == nil && !u.Null && u.Int > s.limit() {
				over = append(over, i)
			}
		}
		if memErr == nil {
			for _, i := range over {
				s.c.Send([]byte("TYPE"), keys[i].Str)
			}
			if len(over) > 0 {
				if err := s.c.Flush(); err != nil {
					return nil, err
				}
			}
			for _, i := range over {
				t, err := s.c.Receive()
				if s.c.Err() != nil {
					return nil, s.c.Err()
				}
				if err != nil {
					return nil, fmt.Errorf("TYPE %q: %w", keys[i].Str, err)
				}
				in := &infos[i]
				in.typ = string(t.Str)
				in.gone = in.typ == "none"
				in.over = !in.gone
				in.big = in.over && s.chunkable(in.typ)
			}
			return infos, nil
		}
		// A proxy or an ACL user refusing MEMORY USAGE: sizes by count.
		s.byCount, s.st.SizesByCount = true, true
	}
	for _, k := range keys {
		s.c.Send([]byte("TYPE"), k.Str)
	}
	if err := s.c.Flush(); err != nil {
		return nil, err
	}
	for i, k := range keys {
		t, err := s.c.Receive()
		if err != nil {
			return nil, fmt.Errorf("TYPE %q: %w", k.Str, err)
		}
		infos[i] = keyInfo{typ: string(t.Str), usage: -1, count: -1, gone: string(t.Str) == "none"}
	}
	var counted []int
	for i, k := range keys {
		if cmd := countCommand(infos[i].typ); cmd != "" {
			s.c.Send([]byte(cmd), k.Str)
			counted = append(counted, i)
		}
	}
	if len(counted) == 0 {
		return infos, nil
	}
	if err := s.c.Flush(); err != nil {
		return nil, err
	}
	var firstErr error
	for _, i := range counted {
		v, err := s.c.Receive()
		if s.c.Err() != nil {
			return nil, s.c.Err()
		}
		if err != nil {
			// WRONGTYPE: the key changed type since TYPE; it is read whole.
			if ErrorCode(err) != "WRONGTYPE" && firstErr == nil {
				firstErr = fmt.Errorf("%s %q: %w", countCommand(infos[i].typ), keys[i].Str, err)
			}
			continue
		}
		in := &infos[i]
		in.count = v.Int
		in.over = in.count > s.limit()/countRatio
		if in.typ == "string" {
			in.over = in.count > s.limit() // STRLEN: bytes
		}
		in.big = in.over && s.chunkable(in.typ)
	}
	return infos, firstErr
}

// limit is maxDump, or DefaultMaxDump when 0.
func (s *scanner) limit() int64 {
	if s.maxDump > 0 {
		return s.maxDump
	}
	return DefaultMaxDump
}

// countCommand is the command counting a collection's elements, or "".
func countCommand(typ string) string {
	switch typ {
	case "string":
		return "STRLEN"
	case "list":
		return "LLEN"
	case "set":
		return "SCARD"
	case "zset":
		return "ZCARD"
	case "hash":
		return "HLEN"
	case "stream":
		return "XLEN"
	}
	return ""
}

// chunkable tells whether a key of this type is read in chunks when
// big (strings by GETRANGE windows). Hashes are not on servers with hash field expiries (RDB 12 and
// later): HSCAN does not give them.
func (s *scanner) chunkable(typ string) bool {
	switch typ {
	case "string", "list", "set", "zset", "stream":
		return true
	case "hash":
		return s.version < 12
	}
	return false
}

// errChanged means a key changed type while it was read in chunks.
var errChanged = errors.New("the key changed type while it was read")

// errHasGroups means a stream's consumer groups are too big to be read
// in memory: it is read by DUMP.
var errHasGroups = errors.New("a stream with big consumer groups")

// dumpBig reads one big collection in chunks and writes it: elements
// spooled to a temporary file (duplicates dropped), then the expiry, then
// the key. A key gone meanwhile counts as vanished; one that changed
// type is read again from the start.
func (s *scanner) dumpBig(db int, key []byte, in keyInfo) error {
	for attempt := 1; ; attempt++ {
		err := s.readBig(db, key, in)
		if err == nil {
			return nil
		}
		if errors.Is(err, errHasGroups) {
			s.st.BigDumped++
			return s.dumpPayloads(db, []aof.Value{{Kind: aof.BulkString, Str: key}})
		}
		if !errors.Is(err, errChanged) {
			return fmt.Errorf("key %q (%s, read in chunks): %w", key, in.typ, err)
		}
		if attempt == bigAttempts {
			return fmt.Errorf("key %q: %w, %d times", key, err, bigAttempts)
		}
		// Read it again as it is now.
		infos, err := s.sizes([]aof.Value{{Kind: aof.BulkString, Str: key}})
		if err != nil {
			return err
		}
		switch in = infos[0]; {
		case in.gone:
			s.vanished(db, key)
			return nil
		case !in.big:
			return s.dumpPayloads(db, []aof.Value{{Kind: aof.BulkString, Str: key}})
		}
	}
}

// openSpool returns the spool file, empty.
func (s *scanner) openSpool() (*os.File, error) {
	if s.spool == nil {
		f, err := os.CreateTemp(s.tempDir, "redkit-scan-*.spool")
		if err != nil {
			return nil, fmt.Errorf("spool of a big key: %w", err)
		}
		// Gone from the directory at once where the system allows it
		// (the open file stays usable), so nothing is left behind.
		os.Remove(f.Name())
		s.spool = f
	}
	if err := s.spool.Truncate(0); err != nil {
		return nil, fmt.Errorf("spool of a big key: %w", err)
	}
	if _, err := s.spool.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("spool of a big key: %w", err)
	}
	return s.spool, nil
}

func (s *scanner) closeSpool() {
	if s.spool != nil {
		s.spool.Close()
		os.Remove(s.spool.Name()) // where it could not be removed open
		s.spool = nil
	}
}

// chunkOf is the number of elements read per command for a key of this
// size: chunkElems, fewer when elements are big.
func chunkOf(in keyInfo, count int64) int {
	if in.usage <= 0 || count <= 0 {
		return chunkElems
	}
	per := in.usage / count
	return int(max(10, min(chunkElems, chunkBytes/max(per, 1))))
}

// readBig reads a big key's elements into a Collection spooled to the
// temporary file and writes it.
func (s *scanner) readBig(db int, key []byte, in keyInfo) error {
	var typ rdb.Type
	switch in.typ {
	case "string":
		typ = rdb.TypeString
	case "list":
		typ = rdb.TypeList
	case "set":
		typ = rdb.TypeSet
	case "zset":
		typ = rdb.TypeZSet
	case "hash":
		typ = rdb.TypeHash
	case "stream":
		typ = rdb.TypeStream
	default:
		return fmt.Errorf("%w: %s cannot be read in chunks", rdb.ErrUnsupportedType, in.typ)
	}
	// The count first (O(1)): the chunk's size, and WRONGTYPE if the type
	// changed since TYPE.
	cnt, err := s.c.DoString(countCommand(in.typ), string(key))
	if err != nil {
		return changed(err)
	}
	if cnt.Int == 0 && typ != rdb.TypeStream && typ != rdb.TypeString {
		return s.bigGone(db, key) // Redis keeps no empty collection; a stream may be empty
	}
	var stream *streamMeta
	if typ == rdb.TypeStream {
		if stream, err = s.streamInfo(key); err != nil {
			return err
		}
		if stream.groups > 0 {
			// Too many pending entries or consumers to hold: DUMP.
			if _, err := s.streamGroups(key); err != nil {
				return err
			}
		}
	}
	f, err := s.openSpool()
	if err != nil {
		return err
	}
	c, err := rdb.NewCollection(typ, f)
	if err != nil {
		return err
	}
	r := bigReader{s: s, key: key, c: c, chunk: chunkOf(in, cnt.Int)}
	switch typ {
	case rdb.TypeSet, rdb.TypeZSet, rdb.TypeHash:
		r.dd = s.newDeduper(c, f)
		defer r.dd.close()
	}
	switch typ {
	case rdb.TypeString:
		err = r.getrange()
	case rdb.TypeSet, rdb.TypeHash:
		err = r.scan(typ)
	case rdb.TypeZSet, rdb.TypeList:
		err = r.ranges(typ)
	case rdb.TypeStream:
		err = r.xrange()
	}
	if err != nil {
		return err
	}
	var groups []rdb.StreamGroup
	if typ == rdb.TypeStream {
		// The groups after the entries, then the stream's metadata: its
		// last ID is at least the entries' and the groups'.
		if groups, err = s.readGroups(key); err != nil {
			return err
		}
		if stream, err = s.streamInfo(key); err != nil {
			return err
		}
	}
	exp, gone, err := s.expiry(key)
	if err != nil {
		return err
	}
	if gone || c.Len() == 0 && typ != rdb.TypeStream && typ != rdb.TypeString {
		return s.bigGone(db, key)
	}
	var spans rdb.SpanReader
	var omitN uint64
	var omitLen int64
	if r.dd != nil {
		// The repeats found in the runs (flushing the spool).
		if spans, omitN, omitLen, err = r.dd.finish(); err != nil {
			return err
		}
		s.dedup.omitted += int(omitN)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	var spool io.Reader = f
	if omitN > 0 {
		if spool, err = c.OmitSpans(f, spans, omitN, omitLen); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	var info *rdb.StreamInfo
	if stream != nil {
		info = stream.info(c)
		info.Groups = groups
	}
	if err := s.w.WriteCollection(db, key, exp, c, spool, info); err != nil {
		return err
	}
	s.st.Keys++
	s.st.DBs[db]++
	s.st.Chunked++
	if s.st.Chunked == 1 || c.Size() > s.st.Largest.Bytes {
		elems := int64(c.Len())
		if typ == rdb.TypeString {
			elems = 1
		}
		s.st.Largest = ChunkedKey{DB: db, Key: string(key), Type: typ, Elements: elems, Bytes: c.Size()}
	}
	if s.progress != nil {
		s.progress(s.st.Keys)
	}
	return nil
}

// bigGone counts a big key found gone (or emptied) while it was read.
func (s *scanner) bigGone(db int, key []byte) error {
	s.vanished(db, key)
	return nil
}

// changed turns WRONGTYPE into errChanged.
func changed(err error) error {
	if ErrorCode(err) == "WRONGTYPE" {
		return errChanged
	}
	return err
}

// expiry reads a key's absolute expiry (rdb.NoExpiry when none) and
// whether it is gone.
func (s *scanner) expiry(key []byte) (int64, bool, error) {
	cmd := "PEXPIRETIME"
	if s.pttl {
		cmd = "PTTL"
	}
	before := time.Now()
	v, err := s.c.DoString(cmd, string(key))
	if err != nil && !s.pttl && isUnknownCommand(err) {
		s.pttl, s.st.RelativeTTL = true, true
		return s.expiry(key)
	}
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", cmd, err)
	}
	switch {
	case v.Int == -2:
		return 0, true, nil
	case v.Int < 0:
		return rdb.NoExpiry, false, nil
	case s.pttl:
		return before.UnixMilli() + v.Int, false, nil
	}
	return v.Int, false, nil
}

// bigReader reads one key's elements in chunks into c.
type bigReader struct {
	s     *scanner
	key   []byte
	c     *rdb.Collection
	chunk int
	dd    *deduper // for sets, sorted sets, hashes: each member once
}

func (r *bigReader) do(args ...string) (aof.Value, error) {
	a := make([][]byte, 0, len(args)+1)
	a = append(a, []byte(args[0]), r.key)
	for _, x := range args[1:] {
		a = append(a, []byte(x))
	}
	v, err := r.s.c.Do(a...)
	if err != nil {
		return v, changed(err)
	}
	if r.s.chunkHook != nil {
		r.s.chunkHook(args[0])
	}
	return v, nil
}

// scan reads a set (SSCAN) or hash (HSCAN) to the end of its cursor,
// dropping the members the cursor gives twice.
func (r *bigReader) scan(typ rdb.Type) error {
	cmd := "SSCAN"
	if typ == rdb.TypeHash {
		cmd = "HSCAN"
	}
	count := strconv.Itoa(r.chunk)
	cursor := "0"
	var e rdb.Element
	for {
		v, err := r.do(cmd, cursor, "COUNT", count)
		if err != nil {
			return err
		}
		if len(v.Elems) != 2 || v.Elems[1].Kind != aof.Array && v.Elems[1].Kind != aof.Map {
			return fmt.Errorf("%w: malformed %s reply", ErrBadHandshake, cmd)
		}
		items := v.Elems[1].Elems
		if typ == rdb.TypeHash && len(items)%2 != 0 {
			return fmt.Errorf("%w: odd %s reply", ErrBadHandshake, cmd)
		}
		step := 1
		if typ == rdb.TypeHash {
			step = 2
		}
		for i := 0; i < len(items); i += step {
			e = rdb.Element{Member: items[i].Str, ExpireAt: rdb.NoExpiry}
			if typ == rdb.TypeHash {
				e.Value = items[i+1].Str
			}
			if err := r.dd.add(&e); err != nil {
				return err
			}
		}
		if cursor = string(v.Elems[0].Str); cursor == "0" {
			return nil
		}
	}
}

// ranges reads a list (LRANGE) or sorted set (ZRANGE WITHSCORES) by
// index windows until one comes short. Members moving between windows
// may be met twice (dropped, for a sorted set) or missed.
func (r *bigReader) ranges(typ rdb.Type) error {
	for start := 0; ; start += r.chunk {
		end := strconv.Itoa(start + r.chunk - 1)
		var v aof.Value
		var err error
		n := 0
		if typ == rdb.TypeList {
			v, err = r.do("LRANGE", strconv.Itoa(start), end)
			n = len(v.Elems)
		} else {
			v, err = r.do("ZRANGE", strconv.Itoa(start), end, "WITHSCORES")
			n = len(v.Elems) / 2
		}
		if err != nil {
			return err
		}
		var e rdb.Element
		for i := 0; i < n; i++ {
			if typ == rdb.TypeList {
				e = rdb.Element{Member: v.Elems[i].Str}
			} else {
				m := v.Elems[2*i].Str
				score, err := parseScore(v.Elems[2*i+1])
				if err != nil {
					return err
				}
				e = rdb.Element{Member: m, Score: score}
				if err := r.dd.add(&e); err != nil {
					return err
				}
				continue
			}
			if err := r.c.Add(&e); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
		}
		if n < r.chunk {
			return nil
		}
	}
}

func parseScore(v aof.Value) (float64, error) {
	if v.Kind == aof.Double {
		return v.Float, nil
	}
	f, err := strconv.ParseFloat(string(v.Str), 64)
	if err != nil {
		return 0, fmt.Errorf("%w: score %q", ErrBadHandshake, v.Str)
	}
	return f, nil
}

// getrange reads a string by GETRANGE windows of chunkBytes until one
// comes short.
func (r *bigReader) getrange() error {
	for start := int64(0); ; start += chunkBytes {
		v, err := r.do("GETRANGE", strconv.FormatInt(start, 10), strconv.FormatInt(start+chunkBytes-1, 10))
		if err != nil {
			return err
		}
		if err := r.c.Add(&rdb.Element{Member: v.Str}); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if len(v.Str) < chunkBytes {
			return nil
		}
	}
}

// xrange reads a stream's entries by XRANGE from just after the last
// one read.
func (r *bigReader) xrange() error {
	start := "-"
	count := strconv.Itoa(r.chunk)
	var e rdb.Element
	for {
		v, err := r.do("XRANGE", start, "+", "COUNT", count)
		if err != nil {
			return err
		}
		for _, ent := range v.Elems {
			if len(ent.Elems) != 2 {
				return fmt.Errorf("%w: malformed XRANGE reply", ErrBadHandshake)
			}
			id, err := parseStreamID(ent.Elems[0].Str)
			if err != nil {
				return err
			}
			e = rdb.Element{ID: id, Fields: e.Fields[:0]}
			for _, f := range ent.Elems[1].Elems {
				e.Fields = append(e.Fields, f.Str)
			}
			if err := r.c.Add(&e); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			start = "(" + id.String()
		}
		if len(v.Elems) < r.chunk {
			return nil
		}
	}
}

// parseStreamID parses "ms-seq".
func parseStreamID(s []byte) (rdb.StreamID, error) {
	ms, seq, _ := strings.Cut(string(s), "-")
	var id rdb.StreamID
	var err1, err2 error
	id.Ms, err1 = strconv.ParseUint(ms, 10, 64)
	id.Seq, err2 = strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return id, fmt.Errorf("%w: stream ID %q", ErrBadHandshake, s)
	}
	return id, nil
}

// streamMeta is what XINFO STREAM tells beside the entries.
type streamMeta struct {
	lastID, maxDeleted rdb.StreamID
	entriesAdded       int64 // -1 when the server does not say (before 7.0)
	groups             int64
}

// streamInfo reads XINFO STREAM (O(1) without FULL).
func (s *scanner) streamInfo(key []byte) (*streamMeta, error) {
	v, err := s.c.Do([]byte("XINFO"), []byte("STREAM"), key)
	if err != nil {
		return nil, changed(err)
	}
	m := map[string]aof.Value{}
	for i := 0; i+1 < len(v.Elems); i += 2 {
		m[string(v.Elems[i].Str)] = v.Elems[i+1]
	}
	sm := &streamMeta{entriesAdded: -1, groups: m["groups"].Int}
	if x, ok := m["entries-added"]; ok {
		sm.entriesAdded = x.Int
	}
	for name, p := range map[string]*rdb.StreamID{"last-generated-id": &sm.lastID, "max-deleted-entry-id": &sm.maxDeleted} {
		if x, ok := m[name]; ok && len(x.Str) > 0 {
			if *p, err = parseStreamID(x.Str); err != nil {
				return nil, err
			}
		}
	}
	return sm, nil
}

// info is the metadata written after the entries c holds: the entries'
// own count and first ID, the server's last and max-deleted IDs and
// entries added, never behind the entries read.
func (m *streamMeta) info(c *rdb.Collection) *rdb.StreamInfo {
	first, last := c.StreamIDs()
	n := c.Len()
	si := &rdb.StreamInfo{Length: n, FirstID: first, LastID: m.lastID, MaxDeletedID: m.maxDeleted, EntriesAdded: uint64(max(m.entriesAdded, 0))}
	if lessID(si.LastID, last) {
		si.LastID = last
	}
	if si.EntriesAdded < n {
		si.EntriesAdded = n
	}
	return si
}

func lessID(a, b rdb.StreamID) bool { return a.Ms < b.Ms || a.Ms == b.Ms && a.Seq < b.Seq }

// A stream's consumer groups are read in memory, their pending entries
// in chunks (XPENDING by ID ranges): up to maxPending pending entries
// (about 60 bytes each) and maxConsumers consumers in all its groups;
// a stream with more is read by DUMP.
const (
	maxPending   = 100000
	maxConsumers = 10000
)

// pendingLimit is maxPending, or less in tests.
func (s *scanner) pendingLimit() int {
	if s.maxPending > 0 {
		return s.maxPending
	}
	return maxPending
}

// groupMeta is a consumer group as XINFO GROUPS tells it.
type groupMeta struct {
	name        string
	lastID      rdb.StreamID
	entriesRead int64
}

// streamGroups reads XINFO GROUPS (O(groups)); errHasGroups when the
// groups are too big to be read in memory.
func (s *scanner) streamGroups(key []byte) ([]groupMeta, error) {
	v, err := s.c.Do([]byte("XINFO"), []byte("GROUPS"), key)
	if err != nil {
		return nil, changed(err)
	}
	var out []groupMeta
	var pending, consumers int64
	for _, g := range v.Elems {
		m := fields(g)
		gm := groupMeta{name: string(m["name"].Str), entriesRead: -1}
		if x, ok := m["entries-read"]; ok && !x.Null && x.Kind == aof.Integer {
			gm.entriesRead = x.Int
		}
		if gm.lastID, err = parseStreamID(m["last-delivered-id"].Str); err != nil {
			return nil, err
		}
		pending += m["pending"].Int
		consumers += m["consumers"].Int
		out = append(out, gm)
	}
	if pending > int64(s.pendingLimit()) || consumers > maxConsumers {
		return nil, errHasGroups
	}
	return out, nil
}

// fields reads a flat array of names and values (RESP2) or a map.
func fields(v aof.Value) map[string]aof.Value {
	m := make(map[string]aof.Value, len(v.Elems)/2)
	for i := 0; i+1 < len(v.Elems); i += 2 {
		m[string(v.Elems[i].Str)] = v.Elems[i+1]
	}
	return m
}

// readGroups reads a stream's consumer groups: XINFO GROUPS, then each
// group's pending entries in one pass by ID (each entry once, with the
// consumer owning it then) and its consumers (XINFO CONSUMERS, plus any
// owner of a pending entry created since). Times are the server's idle
// times from now.
func (s *scanner) readGroups(key []byte) ([]rdb.StreamGroup, error) {
	metas, err := s.streamGroups(key)
	if err != nil || len(metas) == 0 {
		return nil, err
	}
	now := time.Now().UnixMilli()
	count := strconv.Itoa(chunkElems)
	var out []rdb.StreamGroup
	var pending int
	for _, gm := range metas {
		g := rdb.StreamGroup{Name: gm.name, LastID: gm.lastID, EntriesRead: gm.entriesRead}
		start := "-"
		dropped := false
		for {
			v, err := s.c.Do([]byte("XPENDING"), key, []byte(gm.name), []byte(start), []byte("+"), []byte(count))
			if ErrorCode(err) == "NOGROUP" {
				dropped = true // the group went meanwhile
				break
			}
			if err != nil {
				return nil, changed(err)
			}
			for _, p := range v.Elems {
				if len(p.Elems) != 4 {
					return nil, fmt.Errorf("%w: malformed XPENDING reply", ErrBadHandshake)
				}
				id, err := parseStreamID(p.Elems[0].Str)
				if err != nil {
					return nil, err
				}
				g.Pending = append(g.Pending, rdb.PendingEntry{ID: id, Consumer: string(p.Elems[1].Str),
					DeliveryTime: now - p.Elems[2].Int, DeliveryCount: uint64(p.Elems[3].Int)})
				start = "(" + id.String()
			}
			if pending += len(v.Elems); pending > s.pendingLimit() {
				return nil, errHasGroups
			}
			if len(v.Elems) < chunkElems {
				break
			}
		}
		if dropped {
			continue
		}
		v, err := s.c.Do([]byte("XINFO"), []byte("CONSUMERS"), key, []byte(gm.name))
		if ErrorCode(err) == "NOGROUP" {
			continue
		}
		if err != nil {
			return nil, changed(err)
		}
		if len(v.Elems) > maxConsumers {
			return nil, errHasGroups
		}
		known := map[string]bool{}
		for _, c := range v.Elems {
			m := fields(c)
			sc := rdb.StreamConsumer{Name: string(m["name"].Str), SeenTime: now - m["idle"].Int}
			sc.ActiveTime = sc.SeenTime
			if x, ok := m["inactive"]; ok && x.Int >= 0 {
				sc.ActiveTime = now - x.Int
			}
			known[sc.Name] = true
			g.Consumers = append(g.Consumers, sc)
		}
		// An owner of a pending entry created after XINFO CONSUMERS: the
		// loading server needs every pending entry to have its consumer.
		for _, p := range g.Pending {
			if !known[p.Consumer] {
				known[p.Consumer] = true
				g.Consumers = append(g.Consumers, rdb.StreamConsumer{Name: p.Consumer, SeenTime: now, ActiveTime: now})
			}
		}
		out = append(out, g)
	}
	return out, nil
}
