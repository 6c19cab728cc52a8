package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/redkit/redkit/pipeline"
	"github.com/redkit/redkit/rdb"
	rsync "github.com/redkit/redkit/sync"
)

// Pre-flight checks: whether a sync or a restore can work, said before
// a byte moves.

type preflightResult struct {
	Check  string `json:"check"`
	Status string `json:"status"` // ok, warn, fail
	Detail string `json:"detail"`
}

type preflight struct {
	results []preflightResult
}

func (p *preflight) add(check, status, format string, args ...any) {
	p.results = append(p.results, preflightResult{check, status, rsync.Redact(fmt.Sprintf(format, args...))})
}

func (p *preflight) failed() int {
	n := 0
	for _, r := range p.results {
		if r.Status == "fail" {
			n++
		}
	}
	return n
}

// report prints the results; the error sets exit code 1 when a check
// failed.
func (p *preflight) report(gopts globalOptions, format, what string) error {
	if format == "json" {
		enc := json.NewEncoder(gopts.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			OK     bool              `json:"ok"`
			Checks []preflightResult `json:"checks"`
		}{p.failed() == 0, p.results})
	} else {
		tw := tabwriter.NewWriter(gopts.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL")
		for _, r := range p.results {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Check, r.Status, r.Detail)
		}
		tw.Flush()
	}
	if n := p.failed(); n > 0 {
		fmt.Fprintf(gopts.stderr, "redkit: %s --check: %d of %d checks failed: the %s would not work as it stands\n", what, n, len(p.results), what)
		return reportedError(exitError, fmt.Errorf("%d checks failed", n))
	}
	if format != "json" {
		fmt.Fprintf(gopts.stderr, "redkit: %s --check: the %s can run\n", what, what)
	}
	return nil
}

// server is one side of a check: its address, facts and options.
type checkSide struct {
	name string // for messages: the URL without password
	addr string
	info *rsync.ServerInfo
	opts *rsync.Options
}

func (s *checkSide) do(ctx context.Context, args ...string) (aof.Value, error) {
	c, err := rsync.Dial(ctx, s.addr, s.opts)
	if err != nil {
		return aof.Value{}, err
	}
	defer c.Close()
	return c.DoString(args...)
}

func (s *checkSide) infoSection(ctx context.Context, section string) map[string]string {
	return s.fields(ctx, "INFO", section)
}

// fields runs a command answering "name:value" lines (INFO, CLUSTER
// INFO) and returns them; empty when refused.
func (s *checkSide) fields(ctx context.Context, args ...string) map[string]string {
	v, err := s.do(ctx, args...)
	m := map[string]string{}
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(v.Str), "\n") {
		k, val, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
		if ok {
			m[k] = val
		}
	}
	return m
}

// checkVersions compares the source's RDB version with what the target
// loads.
func (p *preflight) checkVersions(src string, srcRDB int, dst *checkSide) {
	tgt := dst.info.RDBVersion
	switch {
	case srcRDB == 0 || tgt == 0:
		p.add("versions", "warn", "%s; target %s %s: RDB versions unknown, keys go as RESTORE when the target accepts them, else as commands", src, dst.info.Server, dst.info.Version)
	case srcRDB > tgt:
		p.add("versions", "warn", "%s writes RDB %d, the target (%s %s) loads up to %d: keys go as commands instead of RESTORE (slower; module keys cannot)", src, srcRDB, dst.info.Server, dst.info.Version, tgt)
	default:
		p.add("versions", "ok", "%s (RDB %d) -> %s %s (loads up to RDB %d): RESTORE payloads are compatible", src, srcRDB, dst.info.Server, dst.info.Version, tgt)
	}
}

// checkRole fails on a read-only target.
func (p *preflight) checkRole(dst *checkSide) {
	if dst.info.Role != "" && dst.info.Role != "master" {
		p.add("target role", "fail", "%s is a %s (read-only): point --to at a master", dst.name, dst.info.Role)
		return
	}
	p.add("target role", "ok", "%s is a master", dst.name)
}

// checkMemory compares the data's size with the target's room.
func (p *preflight) checkMemory(ctx context.Context, need int64, needWhat string, dst *checkSide) {
	m := dst.infoSection(ctx, "memory")
	used, _ := strconv.ParseInt(m["used_memory"], 10, 64)
	maxm, _ := strconv.ParseInt(m["maxmemory"], 10, 64)
	if dst.info.Cluster {
		p.add("target memory", "ok", "%s %s; cluster target: per-node room not checked (node %s uses %s)", needWhat, bytesize.Format(need), dst.addr, bytesize.Format(used))
		return
	}
	if maxm == 0 {
		p.add("target memory", "ok", "%s %s; the target has no maxmemory (uses %s): bounded by its machine", needWhat, bytesize.Format(need), bytesize.Format(used))
		return
	}
	free := maxm - used
	if need > free {
		p.add("target memory", "fail", "%s %s, the target has %s free (maxmemory %s, used %s): raise maxmemory or free room", needWhat, bytesize.Format(need), bytesize.Format(max(free, 0)), bytesize.Format(maxm), bytesize.Format(used))
		return
	}
	p.add("target memory", "ok", "%s %s, the target has %s free (maxmemory %s)", needWhat, bytesize.Format(need), bytesize.Format(free), bytesize.Format(maxm))
}

// modules lists the names of MODULE LIST; ok is false when not allowed.
func (s *checkSide) modules(ctx context.Context) (names []string, ok bool) {
	v, err := s.do(ctx, "MODULE", "LIST")
	if err != nil {
		return nil, false
	}
	for _, m := range v.Elems {
		for i := 0; i+1 < len(m.Elems); i += 2 {
			if string(m.Elems[i].Str) == "name" {
				names = append(names, string(m.Elems[i+1].Str))
			}
		}
	}
	return names, true
}

func (p *preflight) checkModules(ctx context.Context, need []string, needWhat string, dst *checkSide) {
	have, ok := dst.modules(ctx)
	if !ok {
		p.add("modules", "warn", "MODULE LIST refused on the target: modules not checked (%s needs %v)", needWhat, need)
		return
	}
	var missing []string
	for _, n := range need {
		if !slices.Contains(have, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		p.add("modules", "fail", "%s uses modules %v that the target lacks: load them there (loadmodule), or leave their keys out with --type", needWhat, missing)
		return
	}
	p.add("modules", "ok", "%s uses modules %v; the target has %v", needWhat, need, have)
}

// checkACL asks ACL DRYRUN whether the connection's user may run each
// command; when the user may not run ACL itself, it probes each command
// in a harmless form (a redkit:check: key, a payload the server rejects
// after its ACL check), since Redis checks ACLs before running anything.
func (p *preflight) checkACL(ctx context.Context, side *checkSide, label string, cmds [][]string) {
	user := "the user"
	dryrun := false
	if who, err := side.do(ctx, "ACL", "WHOAMI"); err == nil {
		user = strconv.Quote(string(who.Str))
		_, err := side.do(ctx, "ACL", "DRYRUN", string(who.Str), "PING")
		dryrun = err == nil
	}
	var denied, unchecked []string
	for _, c := range cmds {
		if dryrun {
			args := append([]string{"ACL", "DRYRUN", strings.Trim(user, `"`)}, c...)
			v, err := side.do(ctx, args...)
			if err != nil {
				denied = append(denied, c[0]+" ("+err.Error()+")")
			} else if s := string(v.Str); s != "OK" && s != "" {
				denied = append(denied, strings.Join(c[:min(2, len(c))], " ")+": "+s)
			}
			continue
		}
		probe := probeFor(c)
		if probe == nil {
			unchecked = append(unchecked, c[0])
			continue
		}
		_, err := side.do(ctx, probe...)
		if rsync.ErrorCode(err) == "NOPERM" {
			denied = append(denied, c[0]+" ("+err.Error()+")")
		}
		if c[0] == "MULTI" && err == nil {
			side.do(ctx, "DISCARD") // another connection: nothing to discard
		}
	}
	side.do(ctx, "DEL", probeKey) // best effort
	how := "ACL DRYRUN"
	if !dryrun {
		how = "probes"
	}
	switch {
	case len(denied) > 0:
		p.add(label+" ACL", "fail", "%s lacks: %s (grant them with ACL SETUSER; checked with %s)", user, strings.Join(denied, "; "), how)
	case len(unchecked) > 0:
		p.add(label+" ACL", "warn", "%s may run %s; %s not checked (ACL DRYRUN not allowed to this user)", user, cmdNames(cmds), strings.Join(unchecked, " "))
	default:
		p.add(label+" ACL", "ok", "%s may run %s (checked with %s)", user, cmdNames(cmds), how)
	}
}

const probeKey = rsync.CheckpointKeyPrefix + "check:probe"

// probeFor returns a harmless form of c that the server checks against
// the ACL, or nil when there is none (PSYNC).
func probeFor(c []string) []string {
	switch c[0] {
	case "PSYNC":
		return nil
	case "RESTORE":
		return []string{"RESTORE", probeKey, "0", "not-a-payload", "REPLACE"}
	case "FUNCTION":
		return []string{"FUNCTION", "RESTORE", "not-a-payload"}
	case "SET", "GET", "DEL":
		if c[0] == "SET" {
			return []string{"SET", probeKey, "1"}
		}
		return []string{c[0], probeKey}
	case "EVAL":
		return []string{"EVAL", "return 1", "1", probeKey}
	case "FLUSHALL":
		return []string{"FLUSHALL", "not-an-option"}
	case "PUBLISH":
		return []string{"PUBLISH", probeKey, "redkit --check"}
	case "EXEC":
		return []string{"EXEC"} // without MULTI: an error after the ACL check
	}
	return c
}

func cmdNames(cmds [][]string) string {
	var n []string
	for _, c := range cmds {
		n = append(n, c[0])
	}
	return strings.Join(n, " ")
}

// checkSlots fails a cluster whose slots are not all served.
func (p *preflight) checkSlots(ctx context.Context, side *checkSide, label string) {
	m := side.fields(ctx, "CLUSTER", "INFO")
	if m["cluster_state"] != "ok" || m["cluster_slots_assigned"] != "16384" {
		p.add(label+" slots", "fail", "cluster_state %s, %s of 16384 slots assigned: fix the cluster first (redis-cli --cluster check)", m["cluster_state"], m["cluster_slots_assigned"])
		return
	}
	p.add(label+" slots", "ok", "all 16384 slots served, cluster_state ok (%s masters)", m["cluster_size"])
}

// keyspace reads INFO keyspace: keys per database.
func (s *checkSide) keyspace(ctx context.Context) map[int]int64 {
	v, err := s.do(ctx, "INFO", "keyspace")
	if err != nil {
		return map[int]int64{}
	}
	return rsync.ParseKeyspace(v.Str)
}

// checkDBs fails when a cluster target would get keys of databases
// other than 0.
func (p *preflight) checkDBs(dbs map[int]int64, keep func(int) bool, mapDB func(int) int, dst *checkSide) {
	if !dst.info.Cluster {
		p.add("databases", "ok", "keys per database: %s; each goes to the same database of the target unless --db-map", dbList(dbs))
		return
	}
	var bad []string
	for db, n := range dbs {
		if n > 0 && keep(db) && mapDB(db) != 0 {
			bad = append(bad, fmt.Sprintf("db %d (%d keys)", db, n))
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		p.add("databases", "fail", "the target is a cluster (database 0 only), the source has %s: choose with --db and --db-map", strings.Join(bad, ", "))
		return
	}
	p.add("databases", "ok", "every key copied goes to database 0 of the cluster")
}

// scanKeys reads up to limit keys of db on side with SCAN, and calls fn
// with each batch.
func (s *checkSide) scanKeys(ctx context.Context, db, limit int, fn func(c *rsync.Conn, keys [][]byte) error) error {
	o := *s.opts
	o.DB = db
	c, err := rsync.Dial(ctx, s.addr, &o)
	if err != nil {
		return err
	}
	defer c.Close()
	cursor, seen := "0", 0
	for {
		v, err := c.DoString("SCAN", cursor, "COUNT", "1000")
		if err != nil {
			return err
		}
		if len(v.Elems) != 2 {
			return fmt.Errorf("SCAN on %s: malformed reply", s.addr)
		}
		cursor = string(v.Elems[0].Str)
		var keys [][]byte
		for _, k := range v.Elems[1].Elems {
			if !strings.HasPrefix(string(k.Str), rsync.CheckpointKeyPrefix) {
				keys = append(keys, k.Str)
			}
		}
		if len(keys) > 0 {
			if err := fn(c, keys); err != nil {
				return err
			}
		}
		seen += len(keys)
		if cursor == "0" || seen >= limit {
			return nil
		}
	}
}

// biggestKey finds the key with the largest MEMORY USAGE among up to
// limit keys of each database of side.
func (s *checkSide) biggestKey(ctx context.Context, dbs map[int]int64, limit int) (key string, db int, size int64, scanned int, err error) {
	for d := range dbs {
		err = s.scanKeys(ctx, d, limit, func(c *rsync.Conn, keys [][]byte) error {
			for _, k := range keys {
				if err := c.Send([]byte("MEMORY"), []byte("USAGE"), k); err != nil {
					return err
				}
			}
			if err := c.Flush(); err != nil {
				return err
			}
			for _, k := range keys {
				v, err := c.Receive()
				if err != nil {
					return err
				}
				scanned++
				if v.Int > size {
					key, db, size = string(k), d, v.Int
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

// existingKeys counts how many of up to limit source keys exist on the
// target.
func existingKeys(ctx context.Context, src *checkSide, dst *checkSide, dbs map[int]int64, limit int, mapDB func(int) int, keep func(int) bool) (exist, sampled int, examples []string, err error) {
	var w rsync.Writer
	if w, err = rsync.NewWriter(ctx, dst.addr, dst.info.Cluster, rsync.WriterOptions{Conn: *dst.opts}); err != nil {
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

// syncCheck runs the pre-flight checks of a sync.
func syncCheck(ctx context.Context, gopts globalOptions, format string, src, dst *checkSide, srcAddrs []string, opts rsync.SyncOptions) error {
	p := &preflight{}
	p.checkVersions(fmt.Sprintf("source %s %s", src.info.Server, src.info.Version), src.info.RDBVersion, dst)
	p.checkRole(dst)
	// The data: the sum over the source's masters.
	var need int64
	dbs := map[int]int64{}
	var mods []string
	for _, a := range srcAddrs {
		side := &checkSide{name: a, addr: a, info: src.info, opts: src.opts}
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
	p.checkMemory(ctx, need, "the source's data set (used_memory_dataset) is", dst)
	if len(mods) > 0 {
		p.checkModules(ctx, mods, "the source", dst)
	} else {
		p.add("modules", "ok", "the source uses no modules")
	}
	srcCmds := [][]string{{"PSYNC", "?", "-1"}, {"REPLCONF", "listening-port", "0"}, {"PING"}, {"INFO"}}
	if opts.TargetCluster || opts.Filter != nil && (opts.Filter.Keys != nil && (opts.Filter.Keys.Match != "" || opts.Filter.Keys.Regex != nil || len(opts.Filter.Keys.Types) > 0) || len(opts.Filter.Exclude) > 0) {
		srcCmds = append(srcCmds, []string{"COMMAND"})
	}
	if src.info.Cluster {
		srcCmds = append(srcCmds, []string{"CLUSTER", "SLOTS"})
	}
	p.checkACL(ctx, src, "source", srcCmds)
	dstCmds := [][]string{{"RESTORE", "k", "0", "x", "REPLACE"}, {"FUNCTION", "RESTORE", "x", "REPLACE"}, {"SET", "k", "v"}, {"GET", "k"}, {"DEL", "k"}, {"INFO"}}
	if dst.info.Cluster {
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
	p.checkACL(ctx, dst, "target", dstCmds)
	if dst.info.Cluster {
		p.checkSlots(ctx, dst, "target")
	}
	if src.info.Cluster {
		p.checkSlots(ctx, src, "source")
	}
	keep, mapDB := func(db int) bool { return opts.Filter.KeepDB(db) }, func(db int) int { return opts.Filter.MapDB(db) }
	p.checkDBs(dbs, keep, mapDB, dst)
	const limit = 100000
	var bigKey string
	var bigDB, scanned int
	var bigSize int64
	for _, a := range srcAddrs {
		side := &checkSide{name: a, addr: a, info: src.info, opts: src.opts}
		k, db, size, n, err := side.biggestKey(ctx, dbs, limit)
		scanned += n
		if err != nil {
			p.add("biggest key", "warn", "MEMORY USAGE on %s: %v", a, err)
			break
		}
		if size > bigSize {
			bigKey, bigDB, bigSize = k, db, size
		}
	}
	switch {
	case bigKey == "":
	case bigSize > dst.info.ProtoMaxBulkLen:
		p.add("biggest key", "warn", "%q in db %d uses about %s, more than the target's proto-max-bulk-len (%s): it goes as commands, not RESTORE (%d keys scanned)", bigKey, bigDB, bytesize.Format(bigSize), bytesize.Format(dst.info.ProtoMaxBulkLen), scanned)
	default:
		p.add("biggest key", "ok", "%q in db %d uses about %s, under the target's proto-max-bulk-len (%s) (%d keys scanned)", bigKey, bigDB, bytesize.Format(bigSize), bytesize.Format(dst.info.ProtoMaxBulkLen), scanned)
	}
	exist, sampled, examples := 0, 0, []string(nil)
	for _, a := range srcAddrs {
		side := &checkSide{name: a, addr: a, info: src.info, opts: src.opts}
		e, n, ex, err := existingKeys(ctx, side, dst, dbs, 1000, mapDB, keep)
		exist, sampled = exist+e, sampled+n
		examples = append(examples, ex...)
		if err != nil {
			p.add("existing keys", "warn", "sample not read: %v", err)
			break
		}
	}
	switch {
	case exist > 0:
		p.add("existing keys", "warn", "%d of %d source keys sampled already exist on the target (e.g. %q): the sync replaces them (--flush-target empties the target first)", exist, sampled, examples[:min(3, len(examples))])
	default:
		p.add("existing keys", "ok", "none of %d source keys sampled exists on the target", sampled)
	}
	return p.report(gopts, format, "sync")
}

func dbList(dbs map[int]int64) string {
	var ks []int
	for db := range dbs {
		ks = append(ks, db)
	}
	slices.Sort(ks)
	var out []string
	for _, db := range ks {
		out = append(out, fmt.Sprintf("db %d: %d", db, dbs[db]))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// restoreCheck runs the pre-flight checks of a restore of path.
func restoreCheck(ctx context.Context, gopts globalOptions, opts restoreOptions, path string) error {
	ep, err := rsync.ParseURL(opts.to)
	if err != nil {
		return usageErrorf("restore: --to: %v", err)
	}
	if opts.password != "" {
		ep.SetPassword(opts.password)
	}
	copts, err := connOptions(ep, opts.tls, opts.timeout, "redkit")
	if err != nil {
		return usageErrorf("restore: %v", err)
	}
	addr, info, err := resolveServer(ctx, ep, &copts)
	if err == nil {
		return restoreCheckInput(ctx, gopts, opts, path, &checkSide{name: ep.String(), addr: addr, info: info, opts: &copts})
	}
	if h := connectHint(err); h != "" {
		fmt.Fprintf(gopts.stderr, "redkit: restore: %s: %s\nhint: %s\n", ep, rsync.Redact(err.Error()), h)
		return reportedError(exitError, err)
	}
	return fmt.Errorf("restore: %s: %s", ep, rsync.Redact(err.Error()))
}

func restoreCheckInput(ctx context.Context, gopts globalOptions, opts restoreOptions, path string, dst *checkSide) error {
	p := &preflight{}
	st, err := scanDump(ctx, gopts, path, opts)
	keep := func(db int) bool {
		return opts.filter == nil || len(opts.filter.DBs) == 0 || slices.Contains(opts.filter.DBs, db)
	}
	mapDB := func(db int) int {
		if d, ok := opts.dbMap[db]; ok {
			return d
		}
		return db
	}
	switch {
	case err != nil:
		p.add("input", "fail", "%s: %v", path, err)
	case st.json:
		p.add("input", "ok", "%s: redkit JSON, %d keys: each is encoded for the target's RDB version", path, st.keys)
	case st.version == 0:
		p.add("input", "ok", "%s is not an RDB dump (an AOF): its keys are encoded for the target's RDB version", path)
	default:
		p.add("input", "ok", "%s: RDB %d, %d keys, %s of RDB", path, st.version, st.keys, bytesize.Format(st.bytes))
		p.checkVersions(fmt.Sprintf("the dump (%s)", path), st.version, dst)
	}
	if st.expired > 0 {
		p.add("expired keys", "ok", "%d keys have an expiry already passed: left out, as Redis drops them on load (--expired include sends them)", st.expired)
	}
	p.checkFieldExpiry(st, dst)
	p.checkRole(dst)
	if st.bytes > 0 {
		p.checkMemory(ctx, st.bytes, "the dump's RDB size (a lower bound of the memory it needs) is", dst)
	}
	switch {
	case len(st.modules) > 0:
		p.checkModules(ctx, st.modules, "the dump", dst)
	case st.moduleKeys > 0:
		// MODULE LIST names modules, not the types they define: only a
		// target without any module is known to lack them.
		if have, ok := dst.modules(ctx); ok && len(have) == 0 {
			p.add("modules", "fail", "the dump has %d module keys of the module types %v and the target has no module loaded: load the modules that define them (loadmodule), or leave their keys out with --type", st.moduleKeys, st.moduleTypes)
		} else {
			p.add("modules", "warn", "the dump has %d module keys of the module types %v: the target needs the modules that define them", st.moduleKeys, st.moduleTypes)
		}
	}
	cmds := [][]string{{"RESTORE", "k", "0", "x", "REPLACE"}, {"FUNCTION", "RESTORE", "x", "REPLACE"}, {"SET", "k", "v"}, {"DEL", "k"}, {"EXISTS", "k"}, {"INFO"}}
	if opts.flush {
		cmds = append(cmds, []string{"FLUSHALL"})
	}
	if !dst.info.Cluster {
		cmds = append(cmds, []string{"SELECT", "0"})
	}
	p.checkACL(ctx, dst, "target", cmds)
	if dst.info.Cluster {
		p.checkSlots(ctx, dst, "target")
	}
	if st.version > 0 || st.json {
		p.checkDBs(st.dbs, keep, mapDB, dst)
		if st.bigKey != "" {
			status := "ok"
			verdict := "under"
			if st.bigSize > dst.info.ProtoMaxBulkLen {
				status, verdict = "warn", "over (it goes as commands)"
			}
			p.add("biggest key", status, "%q in db %d: %s serialized, %s the target's proto-max-bulk-len (%s)", st.bigKey, st.bigDB, bytesize.Format(st.bigSize), verdict, bytesize.Format(dst.info.ProtoMaxBulkLen))
		}
		if len(st.sample) > 0 {
			exist, examples, err := existingSample(ctx, dst, st.sample, mapDB, keep)
			switch {
			case err != nil:
				p.add("existing keys", "warn", "sample not read: %v", err)
			case exist > 0 && opts.flush:
				p.add("existing keys", "ok", "%d of the first %d keys exist on the target; --flush empties it first", exist, len(st.sample))
			case exist > 0 && opts.restore.Conflict == rsync.ConflictError:
				p.add("existing keys", "fail", "%d of the first %d keys of the dump exist on the target (e.g. %q): the restore would stop at the first; use --conflict replace or skip, or --flush", exist, len(st.sample), examples)
			case exist > 0:
				p.add("existing keys", "warn", "%d of the first %d keys exist on the target (e.g. %q): --conflict %s applies", exist, len(st.sample), examples, opts.restore.Conflict)
			default:
				p.add("existing keys", "ok", "none of the first %d keys of the dump exists on the target", len(st.sample))
			}
		}
	}
	return p.report(gopts, opts.format, "restore")
}

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
func scanDump(ctx context.Context, gopts globalOptions, path string, opts restoreOptions) (*dumpStats, error) {
	st := &dumpStats{dbs: map[int]int64{}}
	if isAOFSet(path) {
		return st, scanOther(ctx, gopts, path, opts, st)
	}
	var in *dumpfile.File
	var err error
	if path == "-" {
		in, err = dumpfile.NewReader(ctx, "-", gopts.stdin)
	} else {
		in, err = dumpfile.Open(ctx, path)
	}
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
				// Not an RDB: JSON or an AOF, opened again.
				if path == "-" {
					return st, nil
				}
				return st, scanOther(ctx, gopts, path, opts, st)
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
			if len(st.sample) < 1000 {
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

// existingSample counts the sampled keys that exist on the target.
func existingSample(ctx context.Context, dst *checkSide, sample []dbKey, mapDB func(int) int, keep func(int) bool) (int, []string, error) {
	w, err := rsync.NewWriter(ctx, dst.addr, dst.info.Cluster, rsync.WriterOptions{Conn: *dst.opts})
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
		if !keep(k.db) || dst.info.Cluster && mapDB(k.db) != 0 {
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

// restored tells whether the restore writes the key of rec (the filter,
// expired keys), counting those left out as expired.
func (st *dumpStats) restored(rec *rdb.Record, opts restoreOptions) bool {
	if !opts.filter.MatchKey(rec) {
		return false
	}
	if opts.restore.DropExpired && rec.ExpireAt != rdb.NoExpiry {
		now := opts.restore.Now
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

// fieldTTLCommands are the commands that give hash fields expiries.
var fieldTTLCommands = []string{"HEXPIRE", "HPEXPIRE", "HEXPIREAT", "HPEXPIREAT", "HSETEX", "HGETEX"}

// scanOther reads an input that is not an RDB dump: redkit JSON's keys,
// or an AOF's commands, for what the restore would write.
func scanOther(ctx context.Context, gopts globalOptions, path string, opts restoreOptions, st *dumpStats) error {
	src, _, closeInput, err := openInput(ctx, gopts.stdin, "restore", path, nil)
	if err != nil {
		return err
	}
	defer closeInput()
	_, st.json = src.(*pipeline.JSONSource)
	for {
		it, err := src.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case it.Key != nil:
			kv := it.Key
			st.keys++
			rec := rdb.Record{Kind: rdb.KindKey, DB: kv.DB, Key: kv.Key, Type: kv.Type, ExpireAt: kv.ExpireAt}
			if !st.restored(&rec, opts) {
				continue
			}
			st.dbs[kv.DB]++
			if len(st.sample) < 1000 {
				st.sample = append(st.sample, dbKey{kv.DB, string(kv.Key)})
			}
			if kv.Type == rdb.TypeHash && kv.Elements != nil {
				if err := st.hashFieldTTL(kv.Key, kv.Elements); err != nil {
					return err
				}
			}
		case it.Command != nil:
			if slices.ContainsFunc(fieldTTLCommands, func(c string) bool { return strings.EqualFold(c, string(it.Command[0])) }) {
				st.fieldTTL++
				if st.fieldTTLKey == "" && len(it.Command) > 1 {
					st.fieldTTLKey = string(it.Command[1])
				}
			}
		}
	}
}

// checkFieldExpiry fails when hashes with field expiries meet a target
// that cannot set them: those keys would fail.
func (p *preflight) checkFieldExpiry(st *dumpStats, dst *checkSide) {
	if st.fieldTTL == 0 {
		return
	}
	what := fmt.Sprintf("%d hashes have field expiries (e.g. %q)", st.fieldTTL, st.fieldTTLKey)
	if st.version == 0 && !st.json {
		what = fmt.Sprintf("%d commands set hash field expiries (e.g. on %q)", st.fieldTTL, st.fieldTTLKey)
	}
	if rsync.HasFieldExpiry(dst.info) {
		p.add("field expiries", "ok", "%s: %s %s sets them (HPEXPIREAT)", what, dst.info.Server, dst.info.Version)
		return
	}
	p.add("field expiries", "fail", "%s, and %s %s cannot restore them (no HPEXPIREAT: Redis 7.4 and Valkey 9.0 have it): those keys would fail, left absent; restore into a newer server or leave them out with --match or --regex", what, dst.info.Server, dst.info.Version)
}
