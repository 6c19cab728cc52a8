package preflight

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/redkit/redkit/rdb"
)

// dumpStats are the figures of an input that the restore checks use.
type dumpStats struct {
	version, keys, moduleKeys int
	json                      bool // redkit JSON, read whole
	bytes                     int64
	dbs                       map[int]int64 // keys the restore would write, per database
	expired                   int           // keys left out as expired
	fieldTTL                  int           // hashes with field expiries, or commands setting them
	fieldTTLKey               string        // one of them
	modules                   []string      // module types of module aux data
	moduleTypes               []string      // module types of module values
	bigKey                    string
	bigDB                     int
	bigSize                   int64
	sample                    []dbKey // the first keys, for the existing-keys check
}

type dbKey struct {
	db  int
	key string
}

// scanDump reads an RDB dump's records (not its values' elements, but
// those of hashes in the forms with field expiries); a version of 0 means
// the input is not an RDB dump: JSON is then read whole, an AOF's
// commands are looked at for field expiries. Keys the restore leaves out
// (the filter, expired keys) are counted in keys only.
func scanDump(ctx context.Context, path string, opts *RestoreOptions) (*dumpStats, error) {
	st := &dumpStats{dbs: map[int]int64{}}
	if aof.IsMultiPart(path) {
		return st, scanOther(ctx, path, opts, st)
	}
	in, err := dumpfile.OpenArg(ctx, path, opts.Stdin)
	if err != nil {
		return st, err
	}
	defer in.Close()
	rd := rdb.NewReader(in)
	// A key's value is read by the Next after it: the offset it moves is
	// that value's size (plus the next record's header).
	last := int64(0)
	var prev *dbKey
	measure := func(off int64) {
		if prev != nil && off-last > st.bigSize {
			st.bigKey, st.bigDB, st.bigSize = prev.key, prev.db, off-last
		}
		prev = nil
	}
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			measure(rd.Offset())
			break
		}
		if err != nil {
			if st.keys == 0 && rd.Version() == 0 {
				// Not an RDB: JSON or an AOF, opened again (standard
				// input cannot be).
				if path == "-" {
					return st, nil
				}
				return st, scanOther(ctx, path, opts, st)
			}
			return st, err
		}
		off := rd.Offset()
		measure(off)
		switch rec.Kind {
		case rdb.KindKey:
			st.keys++
			prev = &dbKey{rec.DB, string(rec.Key)}
			if !st.restored(rec, opts) {
				break
			}
			st.dbs[rec.DB]++
			if rec.Type == rdb.TypeModule {
				st.moduleKeys++
				vs, err := rd.Stats()
				if err != nil {
					return st, err
				}
				if n := vs.Module.Name(); !slices.Contains(st.moduleTypes, n) {
					st.moduleTypes = append(st.moduleTypes, n)
				}
			}
			if len(st.sample) < sampleLimit {
				st.sample = append(st.sample, dbKey{rec.DB, string(rec.Key)})
			}
			// Types 22 and up are the hashes with field expiries (Redis
			// 7.4's and Valkey 9's); the others have none.
			if rec.Type == rdb.TypeHash && rec.RDBType >= 22 {
				if err := st.hashFieldTTL(rec.Key, rd.Elements); err != nil {
					return st, err
				}
			}
		case rdb.KindModuleAux:
			if n := rec.Module.Name(); !slices.Contains(st.modules, n) {
				st.modules = append(st.modules, n)
			}
		}
		last = off
	}
	st.version, st.bytes = rd.Version(), rd.Offset()
	return st, nil
}

// restored tells whether the restore writes the key of rec (the filter,
// expired keys), counting those left out as expired.
func (st *dumpStats) restored(rec *rdb.Record, opts *RestoreOptions) bool {
	if !opts.Filter.MatchKey(rec) {
		return false
	}
	if opts.DropExpired && rec.ExpireAt != rdb.NoExpiry {
		now := opts.Now
		if now.IsZero() {
			now = time.Now()
		}
		if rec.ExpireAt < now.UnixMilli() {
			st.expired++
			return false
		}
	}
	return true
}

// hashFieldTTL walks a hash's fields, all of them (a Reader cannot go on
// after a walk cut short), and counts it when any has an expiry.
func (st *dumpStats) hashFieldTTL(key []byte, elements func(func(*rdb.Element) error) error) error {
	found := false
	err := elements(func(e *rdb.Element) error {
		found = found || e.ExpireAt != rdb.NoExpiry
		return nil
	})
	if found {
		st.fieldTTL++
		if st.fieldTTLKey == "" {
			st.fieldTTLKey = string(key)
		}
	}
	return err
}

// setsFieldTTL tells the commands that give hash fields expiries.
func setsFieldTTL(name []byte) bool {
	for _, c := range [...]string{"HEXPIRE", "HPEXPIRE", "HEXPIREAT", "HPEXPIREAT", "HSETEX", "HGETEX"} {
		if strings.EqualFold(c, string(name)) {
			return true
		}
	}
	return false
}

// scanOther reads an input that is not an RDB dump: redkit JSON's keys,
// or an AOF's commands (and the keys of its RDB part), for what the
// restore would write.
func scanOther(ctx context.Context, path string, opts *RestoreOptions, st *dumpStats) error {
	if aof.IsMultiPart(path) {
		ar, err := aof.Open(ctx, path)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		defer ar.Close()
		return st.scanAOF(ar, opts)
	}
	in, err := dumpfile.OpenArg(ctx, path, opts.Stdin)
	if err != nil {
		return err
	}
	defer in.Close()
	// What the input is, from its first bytes.
	br := bufio.NewReaderSize(in, 64<<10)
	head, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return openErr(ctx, err)
	}
	first := bytes.TrimLeft(head, " \t\r\n")
	switch {
	case bytes.HasPrefix(head, []byte("REDIS")), bytes.HasPrefix(head, []byte("VALKEY")),
		len(head) > 0 && (head[0] == '*' || head[0] == '#'):
		// An RDB part and any commands after it, or commands.
		return st.scanAOF(aof.NewReader(br), opts)
	case len(first) > 0 && (first[0] == '{' || first[0] == '['):
		st.json = true
		return st.scanJSON(rdb.NewJSONReader(br), opts)
	case len(head) == 0:
		// The words of convert, which reads inputs the same way.
		return openErr(ctx, fmt.Errorf("convert %s: input is empty", path))
	default:
		return openErr(ctx, fmt.Errorf("convert %s: input is neither an RDB dump (REDIS or VALKEY magic), an AOF (RESP commands) nor redkit JSON (first bytes %q)", path, head))
	}
}

// openErr is the context's error when it is done (the input's read was
// cut short by it), else err.
func openErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// scanAOF reads an AOF's entries: the keys of its RDB parts, and its
// commands.
func (st *dumpStats) scanAOF(rd *aof.Reader, opts *RestoreOptions) error {
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if e.Kind == aof.KindRDB {
			for {
				rec, err := e.RDB.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return err
				}
				if rec.Kind == rdb.KindKey {
					if err := st.otherKey(e.RDB.KeyValue(), opts); err != nil {
						return err
					}
				}
			}
			continue
		}
		if len(e.Args) > 0 && setsFieldTTL(e.Args[0]) {
			st.fieldTTL++
			if st.fieldTTLKey == "" && len(e.Args) > 1 {
				st.fieldTTLKey = string(e.Args[1])
			}
		}
	}
}

// scanJSON reads redkit JSON's keys.
func (st *dumpStats) scanJSON(rd *rdb.JSONReader, opts *RestoreOptions) error {
	for {
		rec, err := rd.NextRecord()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if rec.Kind == rdb.KindKey {
			if err := st.otherKey(rec.Key, opts); err != nil {
				return err
			}
		}
	}
}

// otherKey counts a key of an input that is not an RDB dump.
func (st *dumpStats) otherKey(kv *rdb.KeyValue, opts *RestoreOptions) error {
	st.keys++
	rec := rdb.Record{Kind: rdb.KindKey, DB: kv.DB, Key: kv.Key, Type: kv.Type, ExpireAt: kv.ExpireAt}
	if !st.restored(&rec, opts) {
		return nil
	}
	st.dbs[kv.DB]++
	if len(st.sample) < sampleLimit {
		st.sample = append(st.sample, dbKey{kv.DB, string(kv.Key)})
	}
	if kv.Type == rdb.TypeHash && kv.Elements != nil {
		return st.hashFieldTTL(kv.Key, kv.Elements)
	}
	return nil
}
