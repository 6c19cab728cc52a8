package sync

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/rdb"
)

// Reading keys instead of replicating (ScanDump) is for servers that
// refuse PSYNC and SYNC: managed services, proxies, ACL users without
// +psync. It gives per-key consistency: each key is as it was when it was
// read (its DUMP, then its expiry right after it); keys written during
// the scan may be missing or newer than the rest, and no two keys are
// guaranteed to be of the same moment, unlike a replication snapshot.

// scanCount is the COUNT of each SCAN, and dumpBatch how many keys are
// dumped in one pipeline (two commands each).
const (
	scanCount = 1000
	dumpBatch = 128
)

// ScanStats tells what ScanDump read.
type ScanStats struct {
	RDBVersion int           // of the file written: the server's DUMP payloads', at least 10
	Keys       int64         // keys written
	DBs        map[int]int64 // keys written per database
	Expected   int64         // keys INFO keyspace counted when the scan started (0: unknown)
	Vanished   int64         // keys SCAN returned that were gone (deleted or expired) before their DUMP
	Functions  int           // function libraries written
	// FunctionsSkipped says why functions were not read (the server has
	// no FUNCTION DUMP, or refuses it), or "".
	FunctionsSkipped string
	// RelativeTTL is set when the server has no PEXPIRETIME (before Redis
	// 7.0): expiries were computed from PTTL and the time before it was
	// sent, and may be some milliseconds early.
	RelativeTTL    bool
	Started, Ended time.Time
}

// ScanOptions tunes ScanDump. The zero value works.
type ScanOptions struct {
	// MaxDump is the size (MEMORY USAGE, bytes) above which a collection
	// is read in chunks instead of by one DUMP; 0 means DefaultMaxDump.
	MaxDump int64
	// Progress, when set, is called after each batch with the keys and
	// bytes written so far.
	Progress func(keys, bytes int64)
}

// DefaultMaxDump is ScanOptions.MaxDump's default.
const DefaultMaxDump = 4 << 20

// ScanDump reads every key of the server at addr with SCAN, DUMP and
// PEXPIRETIME (PTTL before Redis 7.0), and its functions with FUNCTION
// DUMP, and writes them to out as an RDB file of the server's own RDB
// version holding the values as the server encoded them. The file is
// complete (EOF opcode and CRC64) when ScanDump returns no error. See
// ScanStats for what it gives; the consistency is per key.
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
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	fail := func(err error) (ScanStats, error) {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		return st, err
	}

	dbs := []int{0}
	if v, err := c.DoString("INFO", "keyspace"); err == nil {
		ks := ParseKeyspace(v.Str)
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

	progress := func(keys int64) {
		if so.Progress != nil {
			so.Progress(keys, 0)
		}
	}
	s := &scanner{c: c, db: opts.DB, st: &st, progress: progress}
	// The file's version is the server's: from the functions payload, or
	// else from the first key's DUMP.
	version := 0
	if len(funcs) >= 10 {
		version = int(binary.LittleEndian.Uint16(funcs[len(funcs)-10:]))
	} else if version, err = s.probeVersion(dbs); err != nil {
		return fail(err)
	}
	version = max(version, 10)
	if version > rdb.MaxRedisVersion {
		return st, fmt.Errorf("%s: DUMP payloads of RDB %d: %w", addr, version, rdb.ErrUnsupportedVersion)
	}
	st.RDBVersion = version
	w, err := rdb.NewWriter(out, rdb.WriterOptions{Version: version})
	if err != nil {
		return st, err
	}
	s.w = w
	if funcs != nil {
		if st.Functions, err = w.WriteFunctionsPayload(funcs); err != nil {
			return st, fmt.Errorf("functions of %s: %w", addr, err)
		}
	}
	for _, db := range dbs {
		if err := s.scanDB(ctx, db); err != nil {
			return fail(fmt.Errorf("database %d of %s: %w", db, addr, err))
		}
	}
	if err := w.Close(); err != nil {
		return st, err
	}
	st.Ended = time.Now()
	return st, nil
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
	args [][]byte
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
			for _, k := range keys {
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

func (s *scanner) scanDB(ctx context.Context, db int) error {
	if err := s.selectDB(db); err != nil {
		return err
	}
	cursor := "0"
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		next, keys, err := s.scan(cursor)
		if err != nil {
			return err
		}
		for len(keys) > 0 {
			n := min(len(keys), dumpBatch)
			if err := s.dumpBatch(db, keys[:n]); err != nil {
				return err
			}
			keys = keys[n:]
		}
		if s.progress != nil {
			s.progress(s.st.Keys)
		}
		if cursor = next; cursor == "0" {
			return nil
		}
	}
}

// dumpBatch pipelines DUMP and PEXPIRETIME (or PTTL) of each key and
// writes the keys still there.
func (s *scanner) dumpBatch(db int, keys []aof.Value) error {
	expCmd := []byte("PEXPIRETIME")
	if s.pttl {
		expCmd = []byte("PTTL")
	}
	before := time.Now()
	for _, k := range keys {
		s.c.Send([]byte("DUMP"), k.Str)
		if err := s.c.Send(expCmd, k.Str); err != nil {
			return err
		}
	}
	if err := s.c.Flush(); err != nil {
		return err
	}
	type reply struct {
		payload []byte
		exp     int64
		gone    bool
	}
	replies := make([]reply, len(keys))
	var firstErr error
	for i, k := range keys {
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
			if !s.pttl && isUnknownCommand(err) {
				firstErr = errNoPexpiretime
			} else {
				firstErr = fmt.Errorf("%s %q: %w", expCmd, k.Str, err)
			}
		}
		replies[i] = reply{payload: d.Str, exp: e.Int, gone: d.Null || d.Kind != aof.BulkString}
	}
	if errors.Is(firstErr, errNoPexpiretime) {
		s.pttl, s.st.RelativeTTL = true, true
		return s.dumpBatch(db, keys)
	}
	if firstErr != nil {
		return firstErr
	}
	for i, k := range keys {
		r := replies[i]
		// -2: the key went between DUMP and the expiry's read.
		if r.gone || r.exp == -2 {
			s.st.Vanished++
			if s.gone != nil {
				s.gone(db, k.Str)
			}
			continue
		}
		exp := int64(rdb.NoExpiry)
		if r.exp >= 0 {
			exp = r.exp
			if s.pttl {
				exp = before.UnixMilli() + r.exp
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
