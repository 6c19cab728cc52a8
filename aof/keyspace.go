package aof

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/redkit/redkit/rdb"
)

// Keyspace errors. Apply wraps them in a *CommandError.
var (
	// ErrUnsupportedCommand means the command is not modelled (EVAL,
	// GEOSEARCHSTORE, module commands, ...) or one of its forms
	// cannot be replayed deterministically (SPOP of fewer members than
	// the set has, XADD with an automatic ID, approximate trimming): the
	// keyspace would no longer match what Redis loads, so it is refused
	// rather than skipped.
	ErrUnsupportedCommand = errors.New("command not supported")
	// ErrRejected means Redis itself would reply with an error (wrong
	// type, syntax, not an integer, overflow, no such key, ...). The
	// keyspace is left as Redis leaves it: unchanged. Redis propagates only
	// commands that succeeded, so a valid AOF never holds one; Redis
	// ignores such replies while it loads, and a caller may too.
	ErrRejected = errors.New("command rejected")
	// ErrNoClock means a command needs the current time (EXPIRE, SET EX,
	// SETEX, RESTORE with a relative TTL, XCLAIM without TIME...) but the
	// entry has no #TS annotation and KeyspaceOptions.Now is not set.
	ErrNoClock = errors.New("relative time without a #TS annotation or a clock")
)

// errWrongType is Redis's WRONGTYPE reply.
var errWrongType = fmt.Errorf("%w: WRONGTYPE Operation against a key holding the wrong kind of value", ErrRejected)

func rejectf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRejected}, args...)...)
}

func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsupportedCommand}, args...)...)
}

// CommandError is the error of one command: its name, the file and offset
// it was read from, and what went wrong (wrapping ErrUnsupportedCommand,
// ErrRejected or ErrNoClock).
type CommandError struct {
	Command string // upper-case command name, with the subcommand for XGROUP and FUNCTION
	File    string
	Offset  int64
	Err     error
}

func (e *CommandError) Error() string {
	where := fmt.Sprintf("offset %d", e.Offset)
	if e.File != "" {
		where = e.File + ": " + where
	}
	return fmt.Sprintf("%s: %s: %v", where, e.Command, e.Err)
}

func (e *CommandError) Unwrap() error { return e.Err }

// KeyspaceOptions configure a Keyspace. The zero value works for the AOFs
// Redis 7 writes.
type KeyspaceOptions struct {
	// Now is the Unix time in milliseconds that relative times (EXPIRE,
	// SET EX, SETEX, RESTORE without ABSTTL, XCLAIM IDLE, ...) are
	// resolved against when the entry carries no #TS annotation. Default
	// 0: such commands fail with ErrNoClock. Entries with a #TS
	// annotation always use it (its second, at millisecond 0).
	Now int64
	// MaxStringBytes is the largest string SETRANGE, APPEND and SETBIT
	// may make, Redis's proto-max-bulk-len. Default 512 MiB.
	MaxStringBytes int64
}

// Keyspace is an in-memory model of a Redis keyspace that replays an
// AOF: load the RDB part with Load and LoadFunction, then Apply every
// command in order, then walk the result with Keys and Functions and hand
// it to any writer (rdb.Writer, the JSON writer, a Rewriter).
//
// The model holds the whole dataset in memory, each value in a plain Go
// structure (slices and maps): expect several times the size of the RDB
// file it would make. It follows the semantics of Redis 7.0 (t_string.c,
// t_list.c, t_set.c, t_zset.c, t_hash.c, t_stream.c, db.c, expire.c,
// functions.c) command by command, including the errors it replies
// with; as Redis does while loading, it never expires keys: keys whose
// expiry has passed are kept with it, and writers decide what to do with
// them. Expiries are absolute Unix milliseconds.
//
// Time: Redis 7 writes absolute expiries to AOFs (PEXPIREAT, SET ...
// PXAT, GETEX as PEXPIREAT or PERSIST, RESTORE ... ABSTTL). Relative
// forms from older files (EXPIRE, SET EX, SETEX, ...) are resolved
// against the entry's #TS annotation, else KeyspaceOptions.Now, else
// refused with ErrNoClock. Consumer seen times, which Redis sets from its
// own clock when it loads, take the same time, or 0 when there is none.
//
// Refused (ErrUnsupportedCommand): every command not modelled (EVAL,
// EVALSHA, FCALL, GEOSEARCHSTORE and GEORADIUS ... STORE, module
// commands, the hash field commands of Redis 8 (HSETEX, HGETEX, ...)), XADD
// with "*", approximate trimming (~), SPOP of part of a set, SORT ALPHA BY
// with ties, and FUNCTION RESTORE of 7.0 release-candidate payloads.
//
// A Keyspace is not safe for concurrent use.
type Keyspace struct {
	opts  KeyspaceOptions
	dbs   map[int]map[string]*object
	libs  map[string][]byte // function libraries by name
	multi []queued          // commands of the open transaction
	inTx  bool
}

// queued is a command of a transaction, copied out of its Entry.
type queued struct {
	args   [][]byte
	db     int
	ts     int64
	file   string
	offset int64
}

// NewKeyspace returns an empty Keyspace.
func NewKeyspace(opts KeyspaceOptions) *Keyspace {
	return &Keyspace{opts: opts, dbs: map[int]map[string]*object{}, libs: map[string][]byte{}}
}

// object is one value with its key's metadata.
type object struct {
	typ rdb.Type
	// lhead is the number of free slots at the front of list, which
	// LPUSH fills without moving the elements: the list's elements are
	// list[lhead:] (items()). It sits in typ's padding, so it costs no
	// memory.
	lhead    uint32
	expireAt int64 // abs ms or rdb.NoExpiry
	idle     int64 // from an RDB or RESTORE IDLETIME, else -1
	freq     int   // from an RDB or RESTORE FREQ, else -1

	str    []byte
	list   [][]byte // with lhead free (nil) slots first: read it with items()
	set    map[string]struct{}
	zset   map[string]float64
	hash   map[string]hashField
	stream *streamValue
}

type hashField struct {
	value    []byte
	expireAt int64 // Redis 7.4 field expiry loaded from an RDB, else rdb.NoExpiry
}

func newObject(t rdb.Type) *object {
	o := &object{typ: t, expireAt: rdb.NoExpiry, idle: -1, freq: -1}
	switch t {
	case rdb.TypeSet:
		o.set = map[string]struct{}{}
	case rdb.TypeZSet:
		o.zset = map[string]float64{}
	case rdb.TypeHash:
		o.hash = map[string]hashField{}
	case rdb.TypeStream:
		o.stream = &streamValue{}
	}
	return o
}

// empty tells whether a collection has no elements left, which makes
// Redis delete its key (streams excepted).
func (o *object) empty() bool {
	switch o.typ {
	case rdb.TypeList:
		return len(o.items()) == 0
	case rdb.TypeSet:
		return len(o.set) == 0
	case rdb.TypeZSet:
		return len(o.zset) == 0
	case rdb.TypeHash:
		return len(o.hash) == 0
	}
	return false
}

// clone returns a deep copy, as COPY makes.
func (o *object) clone() *object {
	c := &object{typ: o.typ, expireAt: o.expireAt, idle: -1, freq: -1}
	switch o.typ {
	case rdb.TypeString:
		c.str = slices.Clone(o.str)
	case rdb.TypeList:
		c.list = slices.Clone(o.items()) // items are never modified in place
	case rdb.TypeSet:
		c.set = make(map[string]struct{}, len(o.set))
		for m := range o.set {
			c.set[m] = struct{}{}
		}
	case rdb.TypeZSet:
		c.zset = make(map[string]float64, len(o.zset))
		for m, s := range o.zset {
			c.zset[m] = s
		}
	case rdb.TypeHash:
		c.hash = make(map[string]hashField, len(o.hash))
		for f, v := range o.hash {
			c.hash[f] = v
		}
	case rdb.TypeStream:
		c.stream = o.stream.clone()
	}
	return c
}

func (k *Keyspace) db(n int) map[string]*object {
	d := k.dbs[n]
	if d == nil {
		d = map[string]*object{}
		k.dbs[n] = d
	}
	return d
}

// Len returns the number of keys in all databases.
func (k *Keyspace) Len() int {
	n := 0
	for _, d := range k.dbs {
		n += len(d)
	}
	return n
}

// Load adds a key read from an RDB part (rdb.Reader.KeyValue) or any
// other KeyValue source, replacing a key of the same name. It walks the
// value's elements and copies them. Module values are refused.
func (k *Keyspace) Load(kv *rdb.KeyValue) error {
	o, err := loadObject(kv)
	if err != nil {
		return fmt.Errorf("load key %q: %w", kv.Key, err)
	}
	if o.typ != rdb.TypeStream && o.empty() {
		return nil
	}
	k.db(kv.DB)[string(kv.Key)] = o
	return nil
}

func loadObject(kv *rdb.KeyValue) (*object, error) {
	switch kv.Type {
	case rdb.TypeString, rdb.TypeList, rdb.TypeSet, rdb.TypeZSet, rdb.TypeHash, rdb.TypeStream:
	default:
		return nil, unsupportedf("values of type %v", kv.Type)
	}
	if kv.Elements == nil {
		return nil, fmt.Errorf("%v value without elements", kv.Type)
	}
	o := newObject(kv.Type)
	o.expireAt, o.idle, o.freq = kv.ExpireAt, kv.Idle, kv.Freq
	err := kv.Elements(func(e *rdb.Element) error {
		switch kv.Type {
		case rdb.TypeString:
			o.str = bytes.Clone(e.Member)
			if o.str == nil {
				o.str = []byte{}
			}
		case rdb.TypeList:
			o.list = append(o.list, bytes.Clone(e.Member))
		case rdb.TypeSet:
			o.set[string(e.Member)] = struct{}{}
		case rdb.TypeZSet:
			o.zset[string(e.Member)] = e.Score
		case rdb.TypeHash:
			o.hash[string(e.Member)] = hashField{value: bytes.Clone(e.Value), expireAt: e.ExpireAt}
		case rdb.TypeStream:
			f := make([][]byte, len(e.Fields))
			for i := range e.Fields {
				f[i] = bytes.Clone(e.Fields[i])
			}
			o.stream.entries = append(o.stream.entries, streamEntry{id: e.ID, fields: f})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if kv.Type == rdb.TypeStream {
		s := o.stream
		if !slices.IsSortedFunc(s.entries, func(a, b streamEntry) int { return cmpID(a.id, b.id) }) {
			return nil, errors.New("stream entries out of ID order")
		}
		if kv.Stream != nil {
			if info := kv.Stream(); info != nil {
				s.loadInfo(info)
			}
		} else if n := len(s.entries); n > 0 {
			s.lastID, s.firstID, s.entriesAdded = s.entries[n-1].id, s.entries[0].id, uint64(n)
		}
	}
	return o, nil
}

// LoadFunction adds a function library from an RDB part (its source code,
// a KindFunction record's Data), replacing a library of the same name.
func (k *Keyspace) LoadFunction(code []byte) error {
	name, err := libraryName(code)
	if err != nil {
		return fmt.Errorf("load function: %w", err)
	}
	k.libs[name] = bytes.Clone(code)
	return nil
}

// LoadRDB loads every key and function library of an RDB part.
func (k *Keyspace) LoadRDB(rd *rdb.Reader) error {
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch rec.Kind {
		case rdb.KindKey:
			if err := k.Load(rd.KeyValue()); err != nil {
				return err
			}
		case rdb.KindFunction:
			if err := k.LoadFunction(rec.Data); err != nil {
				return err
			}
		case rdb.KindModuleAux:
			return fmt.Errorf("load rdb: %w: module data of %v", ErrUnsupportedCommand, rec.Module)
		}
	}
}

// Replay reads r to its end, loading RDB parts and applying commands. It
// stops at the first error. When that error is a truncated last file
// (errors.Is(err, io.ErrUnexpectedEOF)), a MULTI without EXEC included,
// the keyspace holds every command before the cut, the open transaction
// excluded, which is what Redis loads with aof-load-truncated yes.
func (k *Keyspace) Replay(r *Reader) error {
	for {
		e, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if e.Kind == KindRDB {
			if err := k.LoadRDB(e.RDB); err != nil {
				return fmt.Errorf("%s: %w", e.File, err)
			}
			continue
		}
		if err := k.Apply(e); err != nil {
			return err
		}
	}
}

// Apply applies one command entry. MULTI opens a transaction whose
// commands are queued (copied) and applied at EXEC; a transaction never
// closed is never applied. An error is a *CommandError; the keyspace is
// unchanged by the failed command. At EXEC every queued command is
// applied, as Redis does, and the first error is returned.
func (k *Keyspace) Apply(e *Entry) error {
	if e.Kind != KindCommand {
		return fmt.Errorf("apply: entry of kind %d is not a command (use LoadRDB)", e.Kind)
	}
	if len(e.Args) == 0 {
		return &CommandError{File: e.File, Offset: e.Offset, Err: rejectf("empty command")}
	}
	name := e.Args[0]
	switch {
	case ascii(name, "multi"):
		if k.inTx {
			return &CommandError{Command: "MULTI", File: e.File, Offset: e.Offset, Err: fmt.Errorf("%w: MULTI inside a transaction", ErrMulti)}
		}
		k.inTx, k.multi = true, k.multi[:0]
		return nil
	case ascii(name, "exec"):
		if !k.inTx {
			return &CommandError{Command: "EXEC", File: e.File, Offset: e.Offset, Err: fmt.Errorf("%w: EXEC without MULTI", ErrMulti)}
		}
		k.inTx = false
		var first error
		for _, q := range k.multi {
			if err := k.run(q.args, q.db, q.ts, q.file, q.offset); err != nil && first == nil {
				first = err
			}
		}
		k.multi = k.multi[:0]
		return first
	case ascii(name, "discard"):
		k.inTx, k.multi = false, k.multi[:0]
		return nil
	}
	if k.inTx {
		args := make([][]byte, len(e.Args))
		for i, a := range e.Args {
			args[i] = bytes.Clone(a)
		}
		k.multi = append(k.multi, queued{args: args, db: e.DB, ts: e.Timestamp, file: e.File, offset: e.Offset})
		return nil
	}
	return k.run(e.Args, e.DB, e.Timestamp, e.File, e.Offset)
}

// InTransaction tells whether a MULTI is open: its commands are queued
// and will not be applied without an EXEC.
func (k *Keyspace) InTransaction() bool { return k.inTx }

// cmd is one command being applied.
type cmd struct {
	k    *Keyspace
	args [][]byte
	db   int
	ts   int64 // #TS seconds, 0 if none
}

func (c *cmd) dbm() map[string]*object { return c.k.db(c.db) }

// now returns the time relative values are resolved against.
func (c *cmd) now() (int64, error) {
	if c.ts > 0 {
		return c.ts * 1000, nil
	}
	if c.k.opts.Now != 0 {
		return c.k.opts.Now, nil
	}
	return 0, ErrNoClock
}

// clock returns now, or 0 when unknown: for times that are metadata only
// (consumer seen times).
func (c *cmd) clock() int64 {
	n, _ := c.now()
	return n
}

func (c *cmd) lookup(key []byte) *object { return c.k.dbs[c.db][string(key)] }

// lookupType returns the key's object, nil if missing, or WRONGTYPE.
func (c *cmd) lookupType(key []byte, t rdb.Type) (*object, error) {
	o := c.lookup(key)
	if o != nil && o.typ != t {
		return nil, errWrongType
	}
	return o, nil
}

// create returns the key's object of type t, creating it when missing.
func (c *cmd) create(key []byte, t rdb.Type) (*object, error) {
	o, err := c.lookupType(key, t)
	if err != nil || o != nil {
		return o, err
	}
	o = newObject(t)
	c.dbm()[string(key)] = o
	return o, nil
}

// set stores o at key, replacing whatever was there.
func (c *cmd) set(key []byte, o *object) { c.dbm()[string(key)] = o }

func (c *cmd) del(key []byte) bool {
	d := c.k.dbs[c.db]
	if _, ok := d[string(key)]; ok {
		delete(d, string(key))
		return true
	}
	return false
}

// dropIfEmpty deletes a collection key left without elements.
func (c *cmd) dropIfEmpty(key []byte, o *object) {
	if o.empty() {
		c.del(key)
	}
}

type handler struct {
	fn    func(c *cmd) error
	arity int // as in Redis's command table: >0 exact, <0 at least -arity
}

// handlers maps lower-case command names to their implementation. It is
// never modified.
var handlers = map[string]handler{
	// keys
	"del": {cmdDel, -2}, "unlink": {cmdDel, -2},
	"expire": {cmdExpire, -3}, "pexpire": {cmdExpire, -3}, "expireat": {cmdExpire, -3}, "pexpireat": {cmdExpire, -3},
	"persist": {cmdPersist, 2}, "rename": {cmdRename, 3}, "renamenx": {cmdRename, 3},
	"move": {cmdMove, 3}, "copy": {cmdCopy, -3}, "swapdb": {cmdSwapDB, 3},
	"flushdb": {cmdFlushDB, -1}, "flushall": {cmdFlushAll, -1}, "restore": {cmdRestore, -4},
	"ping": {cmdPing, -1},
	// strings
	"set": {cmdSet, -3}, "setnx": {cmdSetNX, 3}, "setex": {cmdSetEX, 4}, "psetex": {cmdSetEX, 4},
	"mset": {cmdMSet, -3}, "msetnx": {cmdMSet, -3}, "append": {cmdAppend, 3}, "setrange": {cmdSetRange, 4},
	"incr": {cmdIncr, 2}, "decr": {cmdIncr, 2}, "incrby": {cmdIncr, 3}, "decrby": {cmdIncr, 3},
	"incrbyfloat": {cmdIncrByFloat, 3}, "getset": {cmdGetSet, 3}, "getdel": {cmdGetDel, 2},
	"getex": {cmdGetEx, -2}, "setbit": {cmdSetBit, 4},
	// lists
	"lpush": {cmdPush, -3}, "rpush": {cmdPush, -3}, "lpushx": {cmdPush, -3}, "rpushx": {cmdPush, -3},
	"linsert": {cmdLInsert, 5}, "lset": {cmdLSet, 4}, "lrem": {cmdLRem, 4}, "ltrim": {cmdLTrim, 4},
	"lpop": {cmdPop, -2}, "rpop": {cmdPop, -2}, "rpoplpush": {cmdLMove, 3}, "lmove": {cmdLMove, 5},
	// sets
	"sadd": {cmdSAdd, -3}, "srem": {cmdSRem, -3}, "smove": {cmdSMove, 4}, "spop": {cmdSPop, -2},
	"sinterstore": {cmdSStore, -3}, "sunionstore": {cmdSStore, -3}, "sdiffstore": {cmdSStore, -3},
	// sorted sets
	"zadd": {cmdZAdd, -4}, "zincrby": {cmdZIncrBy, 4}, "zrem": {cmdZRem, -3},
	"zremrangebyscore": {cmdZRemRange, 4}, "zremrangebyrank": {cmdZRemRange, 4}, "zremrangebylex": {cmdZRemRange, 4},
	"zpopmin": {cmdZPop, -2}, "zpopmax": {cmdZPop, -2},
	"zunionstore": {cmdZStore, -4}, "zinterstore": {cmdZStore, -4}, "zdiffstore": {cmdZStore, -4},
	"zrangestore": {cmdZRangeStore, -5},
	// hashes
	"hset": {cmdHSet, -4}, "hmset": {cmdHSet, -4}, "hsetnx": {cmdHSetNX, 4}, "hdel": {cmdHDel, -3},
	"hincrby": {cmdHIncrBy, 4}, "hincrbyfloat": {cmdHIncrByFloat, 4},
	"hexpire": {cmdHExpire, -6}, "hpexpire": {cmdHExpire, -6}, "hexpireat": {cmdHExpire, -6}, "hpexpireat": {cmdHExpire, -6},
	"hpersist": {cmdHPersist, -5},
	// streams
	"xadd": {cmdXAdd, -5}, "xdel": {cmdXDel, -3}, "xtrim": {cmdXTrim, -4}, "xsetid": {cmdXSetID, -3},
	"xgroup": {cmdXGroup, -2}, "xclaim": {cmdXClaim, -6}, "xack": {cmdXAck, -4},
	// functions
	"function": {cmdFunctionAll, -2},
	// geo, bits, sort
	"geoadd": {cmdGeoAdd, -5}, "geosearchstore": {cmdGeoStore, -8},
	"georadius": {cmdGeoStore, -6}, "georadiusbymember": {cmdGeoStore, -5},
	"bitop": {cmdBitOp, -4}, "bitfield": {cmdBitField, -2}, "sort": {cmdSort, -2},
	"pfadd": {cmdPFAdd, -2}, "pfmerge": {cmdPFMerge, -2}, "pfcount": {cmdPFCount, -2},
}

// run applies one command outside a transaction.
func (k *Keyspace) run(args [][]byte, db int, ts int64, file string, offset int64) error {
	name := strings.ToLower(string(args[0]))
	h, ok := handlers[name]
	cmdName := strings.ToUpper(name)
	if (name == "xgroup" || name == "function") && len(args) > 1 {
		cmdName += " " + strings.ToUpper(string(args[1]))
	}
	fail := func(err error) error {
		return &CommandError{Command: cmdName, File: file, Offset: offset, Err: err}
	}
	if !ok {
		return fail(ErrUnsupportedCommand)
	}
	if h.arity > 0 && len(args) != h.arity || h.arity < 0 && len(args) < -h.arity {
		return fail(rejectf("wrong number of arguments"))
	}
	c := &cmd{k: k, args: args, db: db, ts: ts}
	if err := h.fn(c); err != nil {
		return fail(err)
	}
	return nil
}

func cmdPing(*cmd) error { return nil }

// Keys calls fn for every key, sorted by database then key bytes, as a
// KeyValue valid until fn returns. Elements come in a deterministic
// order: lists in order, set members and hash fields sorted by bytes,
// sorted set members by score then member, stream entries by ID.
func (k *Keyspace) Keys(fn func(*rdb.KeyValue) error) error {
	dbs := make([]int, 0, len(k.dbs))
	for n, d := range k.dbs {
		if len(d) > 0 {
			dbs = append(dbs, n)
		}
	}
	sort.Ints(dbs)
	for _, n := range dbs {
		d := k.dbs[n]
		keys := make([]string, 0, len(d))
		for key := range d {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			o := d[key]
			kv := &rdb.KeyValue{DB: n, Key: []byte(key), Type: o.typ, ExpireAt: o.expireAt, Idle: o.idle, Freq: o.freq}
			kv.Elements = func(fn func(*rdb.Element) error) error { return o.elements(fn) }
			if o.typ == rdb.TypeStream {
				kv.Stream = o.stream.info
			}
			if err := fn(kv); err != nil {
				return err
			}
		}
	}
	return nil
}

// Functions calls fn with the source code of every function library,
// sorted by library name.
func (k *Keyspace) Functions(fn func(code []byte) error) error {
	names := make([]string, 0, len(k.libs))
	for n := range k.libs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := fn(k.libs[n]); err != nil {
			return err
		}
	}
	return nil
}

func (o *object) elements(fn func(*rdb.Element) error) error {
	e := &rdb.Element{ExpireAt: rdb.NoExpiry}
	switch o.typ {
	case rdb.TypeString:
		e.Member = o.str
		return fn(e)
	case rdb.TypeList:
		for _, m := range o.items() {
			*e = rdb.Element{Member: m, ExpireAt: rdb.NoExpiry}
			if err := fn(e); err != nil {
				return err
			}
		}
	case rdb.TypeSet:
		for _, m := range sortedKeys(o.set) {
			*e = rdb.Element{Member: []byte(m), ExpireAt: rdb.NoExpiry}
			if err := fn(e); err != nil {
				return err
			}
		}
	case rdb.TypeZSet:
		for _, m := range zsorted(o.zset) {
			*e = rdb.Element{Member: []byte(m.member), Score: m.score, ExpireAt: rdb.NoExpiry}
			if err := fn(e); err != nil {
				return err
			}
		}
	case rdb.TypeHash:
		for _, f := range sortedKeys(o.hash) {
			v := o.hash[f]
			*e = rdb.Element{Member: []byte(f), Value: v.value, ExpireAt: v.expireAt}
			if err := fn(e); err != nil {
				return err
			}
		}
	case rdb.TypeStream:
		for _, se := range o.stream.entries {
			*e = rdb.Element{ID: se.id, Fields: se.fields, ExpireAt: rdb.NoExpiry}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	s := make([]string, 0, len(m))
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Argument parsing, as Redis's getLongLongFromObject, string2d and
// string2ld do it.

var errNotInt = rejectf("value is not an integer or out of range")

func argInt(b []byte) (int64, error) {
	n, ok := parseInt(b)
	if !ok {
		return 0, errNotInt
	}
	return n, nil
}

// parseFloat parses as strtod with Redis's checks: no leading space, the
// whole string, no overflow or underflow to zero, not NaN.
func parseFloat(b []byte) (float64, bool) {
	if len(b) == 0 || isCSpace(b[0]) || bytes.IndexByte(b, '_') >= 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) {
		return 0, false
	}
	if f == 0 && hasNonZeroDigit(b) {
		return 0, false // underflow: strtod sets ERANGE
	}
	return f, true
}

func hasNonZeroDigit(b []byte) bool {
	for _, c := range b {
		if c == 'e' || c == 'E' || c == 'p' || c == 'P' {
			return false
		}
		if c >= '1' && c <= '9' {
			return true
		}
	}
	return false
}

func isCSpace(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' }

// longDoublePrec is the mantissa of an x87 long double, which Redis on
// x86-64 uses for INCRBYFLOAT and HINCRBYFLOAT.
const longDoublePrec = 64

// parseLongDouble parses as string2ld.
func parseLongDouble(b []byte) (*big.Float, bool) {
	if len(b) == 0 || len(b) >= 5*1024 || isCSpace(b[0]) || bytes.IndexByte(b, '_') >= 0 {
		return nil, false
	}
	s := string(b)
	switch strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(s, "+"), "-")) {
	case "inf", "infinity":
		return new(big.Float).SetInf(s[0] == '-'), true
	case "nan":
		return nil, false
	}
	if e, ok := decimalExponent(s); ok && (e > 5000 || e < -5000) {
		// Beyond the long double range (about 1e±4950), which strtold
		// refuses as ERANGE unless the mantissa is zero; big.Float would
		// take long to get there.
		if e > 0 || hasNonZeroDigit(b) {
			return nil, false
		}
		return new(big.Float).SetPrec(longDoublePrec), true
	}
	f, _, err := big.ParseFloat(s, 0, longDoublePrec, big.ToNearestEven)
	if err != nil {
		if _, ok := parseFloat(b); !ok {
			return nil, false
		}
		f, _, err = big.ParseFloat(s, 0, longDoublePrec, big.ToNearestEven)
		if err != nil {
			return nil, false
		}
	}
	if f.Sign() == 0 && hasNonZeroDigit(b) {
		return nil, false
	}
	// strtold overflows beyond the long double range (about 1.19e4932).
	if f.MantExp(nil) > 16384 {
		return nil, false
	}
	return f, true
}

// decimalExponent returns the exponent of a decimal or hex float string,
// clamped to ±1e9.
func decimalExponent(s string) (int64, bool) {
	i := strings.IndexAny(s, "eEpP")
	if strings.HasPrefix(strings.TrimLeft(s, "+-"), "0x") || strings.HasPrefix(strings.TrimLeft(s, "+-"), "0X") {
		i = strings.IndexAny(s, "pP")
	}
	if i < 0 {
		return 0, false
	}
	exp := s[i+1:]
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(exp, "+-")
	var n int64
	for _, ch := range []byte(exp) {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = min(n*10+int64(ch-'0'), 1e9)
	}
	if neg {
		n = -n
	}
	return n, true
}

// formatLongDouble formats as ld2string in LD_STR_HUMAN mode: "%.17Lf"
// with trailing zeros (and a trailing point) removed, "-0" as "0".
func formatLongDouble(f *big.Float) []byte {
	if f.IsInf() {
		if f.Sign() > 0 {
			return []byte("inf")
		}
		return []byte("-inf")
	}
	s := f.Text('f', 17)
	if strings.IndexByte(s, '.') >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return []byte(s)
}

// incrLongDouble adds incr to the value cur as Redis does in long double
// arithmetic, refusing NaN and infinite results.
func incrLongDouble(cur, incr *big.Float) (*big.Float, error) {
	if cur.IsInf() || incr.IsInf() {
		// inf + x is inf or NaN: both are refused.
		return nil, rejectf("increment would produce NaN or Infinity")
	}
	sum := new(big.Float).SetPrec(longDoublePrec).SetMode(big.ToNearestEven).Add(cur, incr)
	if sum.MantExp(nil) > 16384 {
		return nil, rejectf("increment would produce NaN or Infinity")
	}
	return sum, nil
}

var errSyntax = rejectf("syntax error")
