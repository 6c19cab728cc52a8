package preflight

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/bytesize"
	rsync "github.com/redkit/redkit/sync"
)

// SyncOptions are what a sync's checks need of the sync to come. The
// zero value is a plain sync of every database.
type SyncOptions struct {
	// Masters are the addresses of the source's masters, whose figures
	// are summed (a cluster source has several); empty: the source's own
	// address.
	Masters []string
	// Filter is the sync's filter: the databases kept and where they go,
	// and whether keys are filtered (which needs COMMAND on the source).
	// Nil keeps everything.
	Filter *rsync.SyncFilter
	// FlushTarget: the sync empties the target first (it needs FLUSHALL).
	FlushTarget bool
	// ForwardPubSub: the sync republishes PUBLISH (it needs PUBLISH).
	ForwardPubSub bool
}

// Sample sizes of a sync's checks.
const (
	syncScanLimit   = 100000 // keys per database scanned for the biggest
	syncSampleLimit = 1000   // source keys looked up on the target
)

// Sync runs the checks of a sync from src into dst (see the package
// comment for the list). It writes nothing but the probe key.
func Sync(ctx context.Context, src, dst *Side, opts SyncOptions) (*Result, error) {
	if err := src.valid("source"); err != nil {
		return nil, err
	}
	if err := dst.valid("target"); err != nil {
		return nil, err
	}
	masters := opts.Masters
	if len(masters) == 0 {
		masters = []string{src.Addr}
	}
	r := &Result{}
	r.checkVersions(fmt.Sprintf("source %s %s", src.Info.Server, src.Info.Version), src.Info.RDBVersion, dst)
	r.checkRole(dst)
	// The data: the sum over the source's masters.
	var need int64
	dbs := map[int]int64{}
	var mods []string
	for _, a := range masters {
		side := &Side{Name: a, Addr: a, Info: src.Info, Conn: src.Conn}
		n, _ := strconv.ParseInt(side.infoSection(ctx, "memory")["used_memory_dataset"], 10, 64)
		need += n
		for db, k := range side.keyspace(ctx) {
			dbs[db] += k
		}
		if m, ok := side.modules(ctx); ok {
			for _, x := range m {
				if !slices.Contains(mods, x) {
					mods = append(mods, x)
				}
			}
		}
	}
	r.checkMemory(ctx, need, "the source's data set (used_memory_dataset) is", dst)
	if len(mods) > 0 {
		r.checkModules(ctx, mods, "the source", dst)
	} else {
		r.add("modules", OK, NoAdvice, "the source uses no modules")
	}
	f := opts.Filter
	srcCmds := [][]string{{"PSYNC", "?", "-1"}, {"REPLCONF", "listening-port", "0"}, {"PING"}, {"INFO"}}
	// A cluster target or a key filter needs the key of each command.
	if dst.Info.Cluster || f != nil && (f.Keys != nil && (f.Keys.Match != "" || f.Keys.Regex != nil || len(f.Keys.Types) > 0) || len(f.Exclude) > 0) {
		srcCmds = append(srcCmds, []string{"COMMAND"})
	}
	if src.Info.Cluster {
		srcCmds = append(srcCmds, []string{"CLUSTER", "SLOTS"})
	}
	r.checkACL(ctx, src, "source", srcCmds)
	dstCmds := [][]string{{"RESTORE", "k", "0", "x", "REPLACE"}, {"FUNCTION", "RESTORE", "x", "REPLACE"}, {"SET", "k", "v"}, {"GET", "k"}, {"DEL", "k"}, {"INFO"}}
	if dst.Info.Cluster {
		dstCmds = append(dstCmds, []string{"EVAL", "return 1", "1", "k"}, []string{"CLUSTER", "SLOTS"})
	} else {
		dstCmds = append(dstCmds, []string{"MULTI"}, []string{"EXEC"}, []string{"SELECT", "0"})
	}
	if opts.FlushTarget {
		dstCmds = append(dstCmds, []string{"FLUSHALL"})
	}
	if opts.ForwardPubSub {
		dstCmds = append(dstCmds, []string{"PUBLISH", "c", "m"})
	}
	r.checkACL(ctx, dst, "target", dstCmds)
	if dst.Info.Cluster {
		r.checkSlots(ctx, dst, "target")
	}
	if src.Info.Cluster {
		r.checkSlots(ctx, src, "source")
	}
	keep, mapDB := f.KeepDB, f.MapDB
	r.checkDBs(dbs, keep, mapDB, dst)
	var bigKey string
	var bigDB, scanned int
	var bigSize int64
	for _, a := range masters {
		side := &Side{Name: a, Addr: a, Info: src.Info, Conn: src.Conn}
		k, db, size, n, err := side.biggestKey(ctx, dbs, syncScanLimit)
		scanned += n
		if err != nil {
			r.add("biggest key", Warn, NoAdvice, "MEMORY USAGE on %s: %v", a, err)
			break
		}
		if size > bigSize {
			bigKey, bigDB, bigSize = k, db, size
		}
	}
	switch {
	case bigKey == "":
	case bigSize > dst.Info.ProtoMaxBulkLen:
		r.add("biggest key", Warn, NoAdvice, "%q in db %d uses about %s, more than the target's proto-max-bulk-len (%s): it goes as commands, not RESTORE (%d keys scanned)", bigKey, bigDB, bytesize.Format(bigSize), bytesize.Format(dst.Info.ProtoMaxBulkLen), scanned)
	default:
		r.add("biggest key", OK, NoAdvice, "%q in db %d uses about %s, under the target's proto-max-bulk-len (%s) (%d keys scanned)", bigKey, bigDB, bytesize.Format(bigSize), bytesize.Format(dst.Info.ProtoMaxBulkLen), scanned)
	}
	exist, sampled, examples := 0, 0, []string(nil)
	for _, a := range masters {
		side := &Side{Name: a, Addr: a, Info: src.Info, Conn: src.Conn}
		e, n, ex, err := existingKeys(ctx, side, dst, dbs, syncSampleLimit, mapDB, keep)
		exist, sampled = exist+e, sampled+n
		examples = append(examples, ex...)
		if err != nil {
			r.add("existing keys", Warn, NoAdvice, "sample not read: %v", err)
			break
		}
	}
	switch {
	case exist > 0:
		r.add("existing keys", Warn, FlushTarget, "%d of %d source keys sampled already exist on the target (e.g. %q): the sync replaces them", exist, sampled, examples[:min(3, len(examples))])
	default:
		r.add("existing keys", OK, NoAdvice, "none of %d source keys sampled exists on the target", sampled)
	}
	return r, nil
}

// existingKeys counts how many of up to limit source keys exist on the
// target.
func existingKeys(ctx context.Context, src *Side, dst *Side, dbs map[int]int64, limit int, mapDB func(int) int, keep func(int) bool) (exist, sampled int, examples []string, err error) {
	var w rsync.Writer
	if w, err = rsync.NewWriter(ctx, dst.Addr, dst.Info.Cluster, rsync.WriterOptions{Conn: *dst.Conn}); err != nil {
		return
	}
	defer w.Close()
	for d := range dbs {
		if !keep(d) || sampled >= limit {
			continue
		}
		err = src.scanKeys(ctx, d, limit-sampled, func(_ *rsync.Conn, keys [][]byte) error {
			type found struct {
				key string
				n   int64
			}
			done := make(chan found, len(keys))
			for _, k := range keys {
				key := string(k)
				if err := w.Send(ctx, &rsync.Command{DB: mapDB(d), Key: k, Args: [][]byte{[]byte("EXISTS"), k},
					Done: func(v aof.Value, err error) { done <- found{key, v.Int} }}); err != nil {
					return err
				}
			}
			for range keys {
				f := <-done
				sampled++
				if f.n > 0 {
					exist++
					if len(examples) < 3 {
						examples = append(examples, f.key)
					}
				}
			}
			return nil
		})
		if err != nil {
			return
		}
	}
	return
}
