package preflight

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/rdb"
	rsync "github.com/redkit/redkit/sync"
)

// RestoreOptions are what a restore's checks need of the restore to come.
// The zero value is a restore of every key, stopping at an existing one.
type RestoreOptions struct {
	// Stdin is read when the input's path is "-".
	Stdin io.Reader
	// Filter selects the keys restored (databases, patterns, types); nil
	// keeps all.
	Filter *rdb.Filter
	// DBMap writes database k of the input to database DBMap[k].
	DBMap map[int]int
	// DropExpired leaves out keys whose expiry has passed at Now (the
	// zero Now: the time of the check).
	DropExpired bool
	Now         time.Time
	// Flush: the restore empties the target first (it needs FLUSHALL, and
	// existing keys do not matter).
	Flush bool
	// Conflict is the restore's policy for existing keys:
	// rsync.ConflictError (stop at the first; also ""),
	// rsync.ConflictReplace or rsync.ConflictSkip.
	Conflict string
}

// sampleLimit is how many of an input's first keys are looked up on the
// target.
const sampleLimit = 1000

// Restore runs the checks of a restore of the input at path (an RDB
// dump, an AOF file, directory or manifest, or redkit JSON, compressed or
// not; "-" reads opts.Stdin) into dst (see the package comment for the
// list). It reads the input once, and writes nothing to dst but the
// probe key.
func Restore(ctx context.Context, dst *Side, path string, opts RestoreOptions) (*Result, error) {
	if err := dst.valid("target"); err != nil {
		return nil, err
	}
	r := &Result{}
	st, err := scanDump(ctx, path, &opts)
	keep := func(db int) bool {
		return opts.Filter == nil || len(opts.Filter.DBs) == 0 || slices.Contains(opts.Filter.DBs, db)
	}
	mapDB := func(db int) int {
		if d, ok := opts.DBMap[db]; ok {
			return d
		}
		return db
	}
	switch {
	case err != nil:
		r.add("input", Fail, NoAdvice, "%s: %v", path, err)
	case st.json:
		r.add("input", OK, NoAdvice, "%s: redkit JSON, %d keys: each is encoded for the target's RDB version", path, st.keys)
	case st.version == 0:
		r.add("input", OK, NoAdvice, "%s is not an RDB dump (an AOF): its keys are encoded for the target's RDB version", path)
	default:
		r.add("input", OK, NoAdvice, "%s: RDB %d, %d keys, %s of RDB", path, st.version, st.keys, bytesize.Format(st.bytes))
		r.checkVersions(fmt.Sprintf("the dump (%s)", path), st.version, dst)
	}
	if st.expired > 0 {
		r.add("expired keys", OK, IncludeExpired, "%d keys have an expiry already passed: left out, as Redis drops them on load", st.expired)
	}
	r.checkFieldExpiry(st, dst)
	r.checkRole(dst)
	if st.bytes > 0 {
		r.checkMemory(ctx, st.bytes, "the dump's RDB size (a lower bound of the memory it needs) is", dst)
	}
	switch {
	case len(st.modules) > 0:
		r.checkModules(ctx, st.modules, "the dump", dst)
	case st.moduleKeys > 0:
		// MODULE LIST names modules, not the types they define: only a
		// target without any module is known to lack them.
		if have, ok := dst.modules(ctx); ok && len(have) == 0 {
			r.add("modules", Fail, LeaveOutTypes, "the dump has %d module keys of the module types %v and the target has no module loaded: load the modules that define them (loadmodule)", st.moduleKeys, st.moduleTypes)
		} else {
			r.add("modules", Warn, NoAdvice, "the dump has %d module keys of the module types %v: the target needs the modules that define them", st.moduleKeys, st.moduleTypes)
		}
	}
	cmds := [][]string{{"RESTORE", "k", "0", "x", "REPLACE"}, {"FUNCTION", "RESTORE", "x", "REPLACE"}, {"SET", "k", "v"}, {"DEL", "k"}, {"EXISTS", "k"}, {"INFO"}}
	if opts.Flush {
		cmds = append(cmds, []string{"FLUSHALL"})
	}
	if !dst.Info.Cluster {
		cmds = append(cmds, []string{"SELECT", "0"})
	}
	r.checkACL(ctx, dst, "target", cmds)
	if dst.Info.Cluster {
		r.checkSlots(ctx, dst, "target")
	}
	if st.version > 0 || st.json {
		r.checkDBs(st.dbs, keep, mapDB, dst)
		if st.bigKey != "" {
			status := OK
			verdict := "under"
			if st.bigSize > dst.Info.ProtoMaxBulkLen {
				status, verdict = Warn, "over (it goes as commands)"
			}
			r.add("biggest key", status, NoAdvice, "%q in db %d: %s serialized, %s the target's proto-max-bulk-len (%s)", st.bigKey, st.bigDB, bytesize.Format(st.bigSize), verdict, bytesize.Format(dst.Info.ProtoMaxBulkLen))
		}
		if len(st.sample) > 0 {
			exist, examples, err := existingSample(ctx, dst, st.sample, mapDB, keep)
			switch {
			case err != nil:
				r.add("existing keys", Warn, NoAdvice, "sample not read: %v", err)
			case exist > 0 && opts.Flush:
				r.add("existing keys", OK, Flushing, "%d of the first %d keys exist on the target", exist, len(st.sample))
			case exist > 0 && (opts.Conflict == rsync.ConflictError || opts.Conflict == ""):
				r.add("existing keys", Fail, ResolveConflicts, "%d of the first %d keys of the dump exist on the target (e.g. %q): the restore would stop at the first", exist, len(st.sample), examples)
			case exist > 0:
				r.add("existing keys", Warn, ConflictApplies, "%d of the first %d keys exist on the target (e.g. %q)", exist, len(st.sample), examples)
			default:
				r.add("existing keys", OK, NoAdvice, "none of the first %d keys of the dump exists on the target", len(st.sample))
			}
		}
	}
	return r, nil
}

// existingSample counts the sampled keys that exist on the target.
func existingSample(ctx context.Context, dst *Side, sample []dbKey, mapDB func(int) int, keep func(int) bool) (int, []string, error) {
	w, err := rsync.NewWriter(ctx, dst.Addr, dst.Info.Cluster, rsync.WriterOptions{Conn: *dst.Conn})
	if err != nil {
		return 0, nil, err
	}
	type found struct {
		key string
		n   int64
	}
	done := make(chan found, len(sample))
	sent := 0
	for _, k := range sample {
		if !keep(k.db) || dst.Info.Cluster && mapDB(k.db) != 0 {
			continue
		}
		key := k.key
		if err := w.Send(ctx, &rsync.Command{DB: mapDB(k.db), Key: []byte(key), Args: [][]byte{[]byte("EXISTS"), []byte(key)},
			Done: func(v aof.Value, err error) { done <- found{key, v.Int} }}); err != nil {
			w.Close()
			return 0, nil, err
		}
		sent++
	}
	exist := 0
	var examples []string
	for range sent {
		f := <-done
		if f.n > 0 {
			exist++
			if len(examples) < 3 {
				examples = append(examples, f.key)
			}
		}
	}
	return exist, examples, w.Close()
}

// checkFieldExpiry fails when hashes with field expiries meet a target
// that cannot set them: those keys would fail.
func (r *Result) checkFieldExpiry(st *dumpStats, dst *Side) {
	if st.fieldTTL == 0 {
		return
	}
	what := fmt.Sprintf("%d hashes have field expiries (e.g. %q)", st.fieldTTL, st.fieldTTLKey)
	if st.version == 0 && !st.json {
		what = fmt.Sprintf("%d commands set hash field expiries (e.g. on %q)", st.fieldTTL, st.fieldTTLKey)
	}
	if rsync.HasFieldExpiry(dst.Info) {
		r.add("field expiries", OK, NoAdvice, "%s: %s %s sets them (HPEXPIREAT)", what, dst.Info.Server, dst.Info.Version)
		return
	}
	r.add("field expiries", Fail, LeaveOutKeys, "%s, and %s %s cannot restore them (no HPEXPIREAT: Redis 7.4 and Valkey 9.0 have it): those keys would fail, left absent; restore into a newer server", what, dst.Info.Server, dst.Info.Version)
}
