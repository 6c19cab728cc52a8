package compare

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redkit/redkit/rdb"
	"github.com/redkit/redkit/sync"
)

// LiveOptions configure a LiveSource. The zero value reads every
// database with the defaults below.
type LiveOptions struct {
	// Conn holds credentials, TLS and timeouts. When it has no password,
	// the URL's user and password are used.
	Conn sync.Options
	// DBs, when not empty, limits the databases read (a cluster has only 0).
	DBs []int
	// Chunk is the SCAN COUNT and the number of elements read per
	// command. Default 1000.
	Chunk int
	// Now returns the current Unix ms: it turns PTTL into an absolute
	// expiry on servers before Redis 7.0. Default: the wall clock.
	Now func() int64
	// Keys, when set, is called by Each once connected with the number
	// of keys the databases it reads hold (INFO keyspace; DBSIZE of each
	// master of a cluster): a total for a progress display. Keys written
	// meanwhile make the count read differ.
	Keys func(n int64)
}

// LiveSource reads the keys of a live server or cluster.
type LiveSource struct {
	ep   *sync.Endpoint
	opts LiveOptions
}

var _ Looker = (*LiveSource)(nil)

// NewLiveSource returns a Source reading the server ep names. Nothing
// is dialed until Each or Lookup.
func NewLiveSource(ep *sync.Endpoint, opts LiveOptions) *LiveSource {
	if opts.Chunk <= 0 {
		opts.Chunk = 1000
	}
	if opts.Now == nil {
		opts.Now = nowMs
	}
	if opts.Conn.Password == "" {
		opts.Conn.Username, opts.Conn.Password = ep.Username, ep.Password
	}
	opts.Conn.DB = 0
	if ep.DBSet {
		opts.DBs = []int{ep.DB}
	}
	return &LiveSource{ep: ep, opts: opts}
}

// Name returns the URL without its password.
func (s *LiveSource) Name() string { return s.ep.String() }

// node is one connection to a server, with what the reader needs to
// know of it.
type node struct {
	c           *sync.Conn
	db          int
	pexpiretime bool // Redis 7.0+: PEXPIRETIME
	fieldTTL    bool // Redis 7.4+: HPEXPIRETIME
	dbs         []int
	chunk       int
	now         func() int64
	h           *Hasher
}

// topology is the set of masters to read: one for a standalone server.
type topology struct {
	nodes   []*node
	cluster bool
	slots   []int // slot -> index in nodes, cluster only
	keys    int64 // in the databases read, when they were counted
}

func (t *topology) close() {
	for _, n := range t.nodes {
		n.c.Close()
	}
}

// fail names the source in err, whose text loses any password; the
// error it wraps stays inspectable (errors.Is, errors.As).
func (s *LiveSource) fail(err error) error {
	return &redactedError{msg: s.Name() + ": " + sync.Redact(err.Error()), err: err}
}

// redactedError is an error whose text was stripped of passwords.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// connect dials the server (the master a Sentinel names) and, on a
// cluster, every master.
func (s *LiveSource) connect(ctx context.Context, h *Hasher) (*topology, error) {
	addr, err := sync.ResolveSentinel(ctx, s.ep, &s.opts.Conn)
	if err != nil {
		return nil, err
	}
	first, err := s.dial(ctx, addr, h)
	if err != nil {
		return nil, err
	}
	info, err := sync.Info(first.c)
	if err != nil {
		first.c.Close()
		return nil, err
	}
	if !info.Cluster {
		first.setVersion(info)
		var keys int64
		first.dbs, keys, err = keyspaceDBs(first.c, s.opts.DBs)
		if err != nil {
			first.c.Close()
			return nil, err
		}
		return &topology{nodes: []*node{first}, keys: keys}, nil
	}
	ranges, err := sync.ClusterSlots(first.c)
	first.c.Close()
	if err != nil {
		return nil, err
	}
	if len(s.opts.DBs) > 0 && !slices.Contains(s.opts.DBs, 0) {
		return &topology{cluster: true}, nil
	}
	t := &topology{cluster: true, slots: make([]int, sync.SlotCount)}
	index := map[string]int{}
	for i := range t.slots {
		t.slots[i] = -1
	}
	for _, r := range ranges {
		i, ok := index[r.Master]
		if !ok {
			n, err := s.dial(ctx, r.Master, h)
			if err != nil {
				t.close()
				return nil, err
			}
			ni, err := sync.Info(n.c)
			if err != nil {
				n.c.Close()
				t.close()
				return nil, err
			}
			n.setVersion(ni)
			n.dbs = []int{0}
			if s.opts.Keys != nil {
				v, err := n.c.DoString("DBSIZE")
				if err != nil {
					n.c.Close()
					t.close()
					return nil, fmt.Errorf("DBSIZE on %s: %w", n.c.Addr(), err)
				}
				t.keys += v.Int
			}
			i = len(t.nodes)
			index[r.Master] = i
			t.nodes = append(t.nodes, n)
		}
		for sl := r.Start; sl <= r.End && sl < sync.SlotCount; sl++ {
			t.slots[sl] = i
		}
	}
	return t, nil
}

func (s *LiveSource) dial(ctx context.Context, addr string, h *Hasher) (*node, error) {
	c, err := sync.Dial(ctx, addr, &s.opts.Conn)
	if err != nil {
		return nil, err
	}
	return &node{c: c, chunk: s.opts.Chunk, now: s.opts.Now, h: h}, nil
}

func (n *node) setVersion(info *sync.ServerInfo) {
	major, minor := versionParts(info.Version)
	if info.Server == "valkey" {
		n.pexpiretime = major >= 7
		n.fieldTTL = major >= 9
		return
	}
	n.pexpiretime = major >= 7
	n.fieldTTL = major > 7 || major == 7 && minor >= 4
}

func versionParts(v string) (major, minor int) {
	a, rest, _ := strings.Cut(v, ".")
	b, _, _ := strings.Cut(rest, ".")
	major, _ = strconv.Atoi(a)
	minor, _ = strconv.Atoi(b)
	return major, minor
}

// keyspaceDBs lists the databases holding keys (INFO keyspace), limited
// to want when it is not empty.
func keyspaceDBs(c *sync.Conn, want []int) (dbs []int, keys int64, err error) {
	v, err := c.DoString("INFO", "keyspace")
	if err != nil {
		return nil, 0, fmt.Errorf("INFO keyspace on %s: %w", c.Addr(), err)
	}
	for _, line := range strings.Split(string(v.Str), "\n") {
		name, fields, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "db") {
			continue
		}
		db, err := strconv.Atoi(name[2:])
		if err != nil || !wantDB(want, db) {
			continue
		}
		dbs = append(dbs, db)
		for _, f := range strings.Split(fields, ",") { // keys=N,expires=N,...
			if n, ok := strings.CutPrefix(f, "keys="); ok {
				k, _ := strconv.ParseInt(n, 10, 64)
				keys += k
			}
		}
	}
	slices.Sort(dbs)
	return dbs, keys, nil
}

func (n *node) selectDB(db int) error {
	if db == n.db {
		return nil
	}
	if _, err := n.c.DoString("SELECT", strconv.Itoa(db)); err != nil {
		return fmt.Errorf("SELECT %d on %s: %w", db, n.c.Addr(), err)
	}
	n.db = db
	return nil
}

// Each scans every database of every master.
func (s *LiveSource) Each(ctx context.Context, h *Hasher, keep Keep, fn func(*Entry) error) error {
	t, err := s.connect(ctx, h)
	if err != nil {
		return s.fail(err)
	}
	defer t.close()
	if s.opts.Keys != nil {
		s.opts.Keys(t.keys)
	}
	for _, n := range t.nodes {
		for _, db := range n.dbs {
			if err := n.scan(ctx, db, keep, fn); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return s.fail(err)
			}
		}
	}
	return nil
}

func (n *node) scan(ctx context.Context, db int, keep Keep, fn func(*Entry) error) error {
	if err := n.selectDB(db); err != nil {
		return err
	}
	cursor := "0"
	count := strconv.Itoa(n.chunk)
	var keys [][]byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		v, err := n.c.DoString("SCAN", cursor, "COUNT", count)
		if err != nil {
			return fmt.Errorf("SCAN on %s: %w", n.c.Addr(), err)
		}
		if len(v.Elems) != 2 {
			return fmt.Errorf("SCAN on %s: malformed reply", n.c.Addr())
		}
		cursor = string(v.Elems[0].Str)
		keys = keys[:0]
		for _, k := range v.Elems[1].Elems {
			if reserved(k.Str) || keep != nil && !keep(db, k.Str) {
				continue
			}
			keys = append(keys, k.Str)
		}
		err = n.read(ctx, db, keys, func(_ []byte, e *Entry) error {
			if e == nil {
				return nil // gone since SCAN
			}
			return fn(e)
		})
		if err != nil {
			return err
		}
		if cursor == "0" {
			return nil
		}
	}
}

// Lookup reads the given keys.
func (s *LiveSource) Lookup(ctx context.Context, h *Hasher, keys []DBKey, fn func(DBKey, *Entry) error) error {
	t, err := s.connect(ctx, h)
	if err != nil {
		return s.fail(err)
	}
	defer t.close()
	for start := 0; start < len(keys); {
		// A run of keys of one database (and, on a cluster, one master).
		k0 := keys[start]
		ni := 0
		if t.cluster {
			ni = t.slots[sync.Slot([]byte(k0.Key))]
		}
		end := start + 1
		for end < len(keys) && end-start < s.opts.Chunk && keys[end].DB == k0.DB &&
			(!t.cluster || t.slots[sync.Slot([]byte(keys[end].Key))] == ni) {
			end++
		}
		run := keys[start:end]
		start = end
		if ni < 0 || len(t.nodes) == 0 || (t.cluster && k0.DB != 0) || !wantDB(s.opts.DBs, k0.DB) {
			for _, k := range run {
				if err := fn(k, nil); err != nil {
					return err
				}
			}
			continue
		}
		n := t.nodes[ni]
		if err := n.selectDB(k0.DB); err != nil {
			return s.fail(err)
		}
		bk := make([][]byte, 0, len(run))
		for _, k := range run {
			if reserved([]byte(k.Key)) {
				if err := fn(k, nil); err != nil {
					return err
				}
				continue
			}
			bk = append(bk, []byte(k.Key))
		}
		err := n.read(ctx, k0.DB, bk, func(key []byte, e *Entry) error {
			return fn(DBKey{k0.DB, string(key)}, e)
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return s.fail(err)
		}
	}
	return nil
}

// read digests keys of the selected database db, calling fn for each in
// order, with nil for a key that does not exist (or has expired).
func (n *node) read(ctx context.Context, db int, keys [][]byte, fn func([]byte, *Entry) error) error {
	if len(keys) == 0 {
		return nil
	}
	c := n.c
	expCmd := []byte("PTTL")
	if n.pexpiretime {
		expCmd = []byte("PEXPIRETIME")
	}
	for _, k := range keys {
		c.Send([]byte("TYPE"), k)
		c.Send(expCmd, k)
	}
	if err := c.Flush(); err != nil {
		return err
	}
	now := n.now()
	types := make([]string, len(keys))
	exps := make([]int64, len(keys))
	for i := range keys {
		tv, err := c.Receive()
		if err != nil {
			return fmt.Errorf("TYPE %q on %s: %w", keys[i], c.Addr(), err)
		}
		ev, err := c.Receive()
		if err != nil {
			return fmt.Errorf("%s %q on %s: %w", expCmd, keys[i], c.Addr(), err)
		}
		types[i] = string(tv.Str)
		switch {
		case ev.Int == -1:
			exps[i] = rdb.NoExpiry
		case ev.Int == -2:
			types[i] = "none"
		case n.pexpiretime:
			exps[i] = ev.Int
		default:
			exps[i] = now + ev.Int
		}
	}
	// First chunk of every value, pipelined.
	for i, k := range keys {
		n.sendFirst(types[i], k)
	}
	if err := c.Flush(); err != nil {
		return err
	}
	entries := make([]Entry, len(keys))
	more := make([]bool, len(keys))
	states := make([]readState, len(keys))
	for i, k := range keys {
		if types[i] == "none" {
			continue
		}
		entries[i] = Entry{DB: db, Key: string(k), ExpireAt: exps[i]}
		var err error
		if more[i], err = n.receiveFirst(types[i], k, &entries[i], &states[i]); err != nil {
			return fmt.Errorf("read %s %q on %s: %w", types[i], k, c.Addr(), err)
		}
	}
	// Every reply is in: finish the big values, one at a time.
	for i, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if types[i] == "none" {
			if err := fn(k, nil); err != nil {
				return err
			}
			continue
		}
		if more[i] {
			if err := n.finish(ctx, k, &entries[i], &states[i]); err != nil {
				return fmt.Errorf("read %s %q on %s: %w", types[i], k, c.Addr(), err)
			}
		}
		if err := fn(k, &entries[i]); err != nil {
			return err
		}
	}
	return nil
}
