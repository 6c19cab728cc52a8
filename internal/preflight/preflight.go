package preflight

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/bytesize"
	rsync "github.com/redkit/redkit/sync"
)

// Status is a check's verdict.
type Status string

const (
	OK   Status = "ok"   // the step will work
	Warn Status = "warn" // it will work differently, or was not fully checked
	Fail Status = "fail" // it would not work as it stands
)

// Advice names the remedy a check's Detail calls for, for a caller that
// spells it out with its own option names. The Detail alone says what was
// found; the Advice is what to change.
type Advice int

const (
	NoAdvice Advice = iota
	// UseMaster: the target is a replica; point at a master instead.
	UseMaster
	// LeaveOutTypes: leave out the keys of the types the target cannot
	// take (module keys).
	LeaveOutTypes
	// MapDBs (an OK databases check): each database goes to the database
	// of the same number unless mapped to another.
	MapDBs
	// ChooseDBs: a cluster target has database 0 only; choose the
	// databases copied and map them to 0.
	ChooseDBs
	// FlushTarget: a sync replaces the target's existing keys; emptying
	// the target first would remove the others too.
	FlushTarget
	// IncludeExpired: expired keys are left out; they can be sent anyway.
	IncludeExpired
	// Flushing (an OK existing-keys check): the restore empties the
	// target first (RestoreOptions.Flush).
	Flushing
	// ResolveConflicts: existing keys stop the restore under
	// rsync.ConflictError; replace them, skip them or empty the target.
	ResolveConflicts
	// ConflictApplies: existing keys meet the restore's conflict policy
	// (replace or skip).
	ConflictApplies
	// LeaveOutKeys: leave the keys concerned out by name or pattern.
	LeaveOutKeys
)

// Check is the answer to one question.
type Check struct {
	Name   string // "versions", "target role", "target memory"...
	Status Status
	Detail string // what was found; never a URL's password
	Advice Advice
}

// Result lists the checks run, in order.
type Result struct {
	Checks []Check
}

// Failed counts the checks with status Fail.
func (r *Result) Failed() int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == Fail {
			n++
		}
	}
	return n
}

func (r *Result) add(name string, status Status, advice Advice, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Status: status, Detail: rsync.Redact(fmt.Sprintf(format, args...)), Advice: advice})
}

// Side is one live server of a check.
type Side struct {
	Name string // for messages: the URL without password
	Addr string // the address dialled (the master found, for a sentinel URL)
	Info *rsync.ServerInfo
	Conn *rsync.Options
}

func (s *Side) valid(what string) error {
	if s == nil || s.Info == nil || s.Conn == nil {
		return fmt.Errorf("preflight: the %s needs its server info and connection options", what)
	}
	return nil
}

func (s *Side) do(ctx context.Context, args ...string) (aof.Value, error) {
	c, err := rsync.Dial(ctx, s.Addr, s.Conn)
	if err != nil {
		return aof.Value{}, err
	}
	defer c.Close()
	return c.DoString(args...)
}

func (s *Side) infoSection(ctx context.Context, section string) map[string]string {
	return s.fields(ctx, "INFO", section)
}

// fields runs a command answering "name:value" lines (INFO, CLUSTER
// INFO) and returns them; empty when refused.
func (s *Side) fields(ctx context.Context, args ...string) map[string]string {
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
func (r *Result) checkVersions(src string, srcRDB int, dst *Side) {
	tgt := dst.Info.RDBVersion
	switch {
	case srcRDB == 0 || tgt == 0:
		r.add("versions", Warn, NoAdvice, "%s; target %s %s: RDB versions unknown, keys go as RESTORE when the target accepts them, else as commands", src, dst.Info.Server, dst.Info.Version)
	case srcRDB > tgt:
		r.add("versions", Warn, NoAdvice, "%s writes RDB %d, the target (%s %s) loads up to %d: keys go as commands instead of RESTORE (slower; module keys cannot)", src, srcRDB, dst.Info.Server, dst.Info.Version, tgt)
	default:
		r.add("versions", OK, NoAdvice, "%s (RDB %d) -> %s %s (loads up to RDB %d): RESTORE payloads are compatible", src, srcRDB, dst.Info.Server, dst.Info.Version, tgt)
	}
}

// checkRole fails on a read-only target.
func (r *Result) checkRole(dst *Side) {
	if dst.Info.Role != "" && dst.Info.Role != "master" {
		r.add("target role", Fail, UseMaster, "%s is a %s (read-only)", dst.Name, dst.Info.Role)
		return
	}
	r.add("target role", OK, NoAdvice, "%s is a master", dst.Name)
}

// checkMemory compares the data's size with the target's room.
func (r *Result) checkMemory(ctx context.Context, need int64, needWhat string, dst *Side) {
	m := dst.infoSection(ctx, "memory")
	used, _ := strconv.ParseInt(m["used_memory"], 10, 64)
	maxm, _ := strconv.ParseInt(m["maxmemory"], 10, 64)
	if dst.Info.Cluster {
		r.add("target memory", OK, NoAdvice, "%s %s; cluster target: per-node room not checked (node %s uses %s)", needWhat, bytesize.Format(need), dst.Addr, bytesize.Format(used))
		return
	}
	if maxm == 0 {
		r.add("target memory", OK, NoAdvice, "%s %s; the target has no maxmemory (uses %s): bounded by its machine", needWhat, bytesize.Format(need), bytesize.Format(used))
		return
	}
	free := maxm - used
	if need > free {
		r.add("target memory", Fail, NoAdvice, "%s %s, the target has %s free (maxmemory %s, used %s): raise maxmemory or free room", needWhat, bytesize.Format(need), bytesize.Format(max(free, 0)), bytesize.Format(maxm), bytesize.Format(used))
		return
	}
	r.add("target memory", OK, NoAdvice, "%s %s, the target has %s free (maxmemory %s)", needWhat, bytesize.Format(need), bytesize.Format(free), bytesize.Format(maxm))
}

// modules lists the names of MODULE LIST; ok is false when not allowed.
func (s *Side) modules(ctx context.Context) (names []string, ok bool) {
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

func (r *Result) checkModules(ctx context.Context, need []string, needWhat string, dst *Side) {
	have, ok := dst.modules(ctx)
	if !ok {
		r.add("modules", Warn, NoAdvice, "MODULE LIST refused on the target: modules not checked (%s needs %v)", needWhat, need)
		return
	}
	var missing []string
	for _, n := range need {
		if !slices.Contains(have, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		r.add("modules", Fail, LeaveOutTypes, "%s uses modules %v that the target lacks: load them there (loadmodule)", needWhat, missing)
		return
	}
	r.add("modules", OK, NoAdvice, "%s uses modules %v; the target has %v", needWhat, need, have)
}

// checkACL asks ACL DRYRUN whether the connection's user may run each
// command; when the user may not run ACL itself, it probes each command
// in a harmless form (a redkit:check: key, a payload the server rejects
// after its ACL check), since Redis checks ACLs before running anything.
func (r *Result) checkACL(ctx context.Context, side *Side, label string, cmds [][]string) {
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
	side.do(ctx, "DEL", ProbeKey) // best effort
	how := "ACL DRYRUN"
	if !dryrun {
		how = "probes"
	}
	switch {
	case len(denied) > 0:
		r.add(label+" ACL", Fail, NoAdvice, "%s lacks: %s (grant them with ACL SETUSER; checked with %s)", user, strings.Join(denied, "; "), how)
	case len(unchecked) > 0:
		r.add(label+" ACL", Warn, NoAdvice, "%s may run %s; %s not checked (ACL DRYRUN not allowed to this user)", user, cmdNames(cmds), strings.Join(unchecked, " "))
	default:
		r.add(label+" ACL", OK, NoAdvice, "%s may run %s (checked with %s)", user, cmdNames(cmds), how)
	}
}

// ProbeKey is the one key the checks may write (and then delete): the
// harmless forms of SET and RESTORE that probe a user's rights.
const ProbeKey = rsync.CheckpointKeyPrefix + "check:probe"

// probeFor returns a harmless form of c that the server checks against
// the ACL, or nil when there is none (PSYNC).
func probeFor(c []string) []string {
	switch c[0] {
	case "PSYNC":
		return nil
	case "RESTORE":
		return []string{"RESTORE", ProbeKey, "0", "not-a-payload", "REPLACE"}
	case "FUNCTION":
		return []string{"FUNCTION", "RESTORE", "not-a-payload"}
	case "SET", "GET", "DEL":
		if c[0] == "SET" {
			return []string{"SET", ProbeKey, "1"}
		}
		return []string{c[0], ProbeKey}
	case "EVAL":
		return []string{"EVAL", "return 1", "1", ProbeKey}
	case "FLUSHALL":
		return []string{"FLUSHALL", "not-an-option"}
	case "PUBLISH":
		return []string{"PUBLISH", ProbeKey, "redkit --check"}
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
func (r *Result) checkSlots(ctx context.Context, side *Side, label string) {
	m := side.fields(ctx, "CLUSTER", "INFO")
	if m["cluster_state"] != "ok" || m["cluster_slots_assigned"] != "16384" {
		r.add(label+" slots", Fail, NoAdvice, "cluster_state %s, %s of 16384 slots assigned: fix the cluster first (redis-cli --cluster check)", m["cluster_state"], m["cluster_slots_assigned"])
		return
	}
	r.add(label+" slots", OK, NoAdvice, "all 16384 slots served, cluster_state ok (%s masters)", m["cluster_size"])
}

// keyspace reads INFO keyspace: keys per database.
func (s *Side) keyspace(ctx context.Context) map[int]int64 {
	v, err := s.do(ctx, "INFO", "keyspace")
	if err != nil {
		return map[int]int64{}
	}
	return rsync.ParseKeyspace(v.Str)
}

// checkDBs fails when a cluster target would get keys of databases
// other than 0.
func (r *Result) checkDBs(dbs map[int]int64, keep func(int) bool, mapDB func(int) int, dst *Side) {
	if !dst.Info.Cluster {
		r.add("databases", OK, MapDBs, "keys per database: %s; each goes to the same database of the target", dbList(dbs))
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
		r.add("databases", Fail, ChooseDBs, "the target is a cluster (database 0 only), the source has %s", strings.Join(bad, ", "))
		return
	}
	r.add("databases", OK, NoAdvice, "every key copied goes to database 0 of the cluster")
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

// errMalformedScan is a SCAN reply that is not [cursor, keys].
var errMalformedScan = errors.New("malformed reply")

// scanKeys reads up to limit keys of db on side with SCAN, and calls fn
// with each batch.
func (s *Side) scanKeys(ctx context.Context, db, limit int, fn func(c *rsync.Conn, keys [][]byte) error) error {
	o := *s.Conn
	o.DB = db
	c, err := rsync.Dial(ctx, s.Addr, &o)
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
			return fmt.Errorf("SCAN on %s: %w", s.Addr, errMalformedScan)
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
func (s *Side) biggestKey(ctx context.Context, dbs map[int]int64, limit int) (key string, db int, size int64, scanned int, err error) {
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
