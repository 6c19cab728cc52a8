package aof

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/redkit/redkit/rdb"
)

// Errors of the Rewriter. They come wrapped with the key's name.
var (
	// ErrNaNScore is a sorted set member whose score is NaN: Redis never
	// stores one (ZADD refuses it), so the input is corrupt.
	ErrNaNScore = errors.New("sorted set score is NaN")
	// ErrNoCommands is a value of a type no command recreates and that
	// has no DUMP payload to RESTORE.
	ErrNoCommands = errors.New("no commands recreate this value")
)

// EmitFunc receives one command, name first. The arguments are valid
// only during the call: copy what must outlive it. (*Writer).WriteCommand
// is one.
type EmitFunc func(args ...[]byte) error

// RewriteOptions configure a Rewriter. The zero value works.
type RewriteOptions struct {
	// Batch is the most elements one RPUSH, SADD, ZADD or HSET carries;
	// bigger values are split into several commands, as Redis's AOF
	// rewrite splits them (it uses 64). 0 means 512.
	Batch int
	// BatchBytes also ends a command once its elements hold this many
	// bytes, so memory stays bounded with big elements. 0 means 4 MiB.
	BatchBytes int
	// RestorePayloads writes each key as one RESTORE of its DUMP payload
	// (with ABSTTL, IDLETIME or FREQ from the dump) instead of the
	// commands that build it. The payload carries the dump's RDB version:
	// the target must be of the same or a newer version, and a whole
	// value is held in memory at once.
	RestorePayloads bool
}

const (
	defaultBatch      = 512
	defaultBatchBytes = 4 << 20
)

// Rewriter turns keys read from a dump into the commands that recreate
// them exactly, as Redis's AOF rewrite (rewriteAppendOnlyFileRio in
// aof.c) does:
//
//   - strings: SET key value
//   - lists: RPUSH, sets: SADD, sorted sets: ZADD score member (scores
//     formatted so that they parse back to the same float64 bits; inf and
//     -inf as such), hashes: HSET, each at most Batch elements per command
//   - hash field expiries (Redis 7.4+): HPEXPIREAT key ms FIELDS n field...
//     right after the HSET that created the fields, only for fields that
//     have one; servers before 7.4 reject the command
//   - streams: one XADD per entry with its exact ID (an empty stream is
//     created with XADD key MAXLEN 0 0-1 x y, Redis's own trick), XSETID
//     key last-id ENTRIESADDED n MAXDELETEDID id (Redis 7.0 syntax), per
//     group XGROUP CREATE key group last-id [ENTRIESREAD n], XGROUP
//     CREATECONSUMER for each consumer and XCLAIM key group consumer 0 id
//     TIME ms RETRYCOUNT n JUSTID FORCE for each pending entry a consumer
//     owns, then (Redis 8.8) XNACK key group FAIL IDS 1 id RETRYCOUNT n
//     FORCE for each entry of the group's NACK zone, in its order
//   - arrays (Redis 8.8): ARMSET key index value ..., at most Batch
//     elements per command, then ARSEEK key n+1 when the array's insert
//     index is n (ARSEEK sets it to its argument less one)
//   - module values (and any type without commands): RESTORE key 0
//     payload REPLACE, from the key's DUMP payload
//   - then, for keys with an expiry, PEXPIREAT key ms: expiries stay
//     absolute
//
// With RestorePayloads every key is one RESTORE key ms payload ABSTTL
// REPLACE (0 and no ABSTTL without expiry), plus IDLETIME or FREQ when
// the dump has them.
//
// What no command can recreate, so a server loading these commands
// differs from one loading the dump: consumers' seen and active times
// (the load time instead), and pending entries whose stream entry was
// deleted (XCLAIM drops them, as it does for Redis's own AOF rewrite;
// their consumers are still created). Empty lists, sets, sorted sets and
// hashes produce no commands, as Redis drops them on load.
//
// A Rewriter tracks the database: it emits SELECT db before a key of
// another database than the previous key's, and before the first key.
// Call Reset when the commands start going to a new connection or file.
// A Rewriter is not safe for concurrent use.
type Rewriter struct {
	opts   RewriteOptions
	w      *words
	db     int // database of the last SELECT, -1 before any
	onElem func(*rdb.Element) error

	// The key being rewritten.
	kv      *rdb.KeyValue
	emit    EmitFunc
	cmd     []byte // command of the batch being built
	perElem int    // arguments per element for cmd
	elems   int    // elements in this key so far
	entries int    // stream entries in this key so far
	err     error  // error of the element callback's own making

	// The batch: arguments packed in arena, ending at ends.
	arena []byte
	ends  []int
	n     int // elements in the batch
	// Hash fields with an expiry in the batch: index in ends, expiry.
	ttlIdx []int
	ttlAt  []int64

	args    [][]byte
	num     [3][24]byte
	rnum    [2][20]byte // AppendRestore's numbers
	payload bytes.Buffer
}

// NewRewriter returns a Rewriter with opts.
func NewRewriter(opts RewriteOptions) *Rewriter {
	if opts.Batch <= 0 {
		opts.Batch = defaultBatch
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = defaultBatchBytes
	}
	r := &Rewriter{opts: opts, db: -1, w: newWords()}
	r.onElem = r.element
	return r
}

// Reset forgets the selected database: the next key starts with SELECT.
func (r *Rewriter) Reset() { r.db = -1 }

// words are the command names and keywords, one copy per Rewriter so
// that no package-level slice can be changed by an EmitFunc.
type words struct {
	cmdSelect         []byte
	cmdSet            []byte
	cmdRPush          []byte
	cmdSAdd           []byte
	cmdZAdd           []byte
	cmdHSet           []byte
	cmdHPExpireAt     []byte
	cmdXAdd           []byte
	cmdXSetID         []byte
	cmdXGroup         []byte
	cmdXClaim         []byte
	cmdXNack          []byte
	cmdARMSet         []byte
	cmdARSeek         []byte
	cmdRestore        []byte
	cmdPExpireAt      []byte
	cmdFunction       []byte
	argLoad           []byte
	argReplace        []byte
	argFields         []byte
	argMaxLen         []byte
	argZero           []byte
	argEmptyID        []byte
	argX              []byte
	argY              []byte
	argEntriesAdded   []byte
	argMaxDeletedID   []byte
	argCreate         []byte
	argCreateConsumer []byte
	argEntriesRead    []byte
	argTime           []byte
	argRetryCount     []byte
	argJustID         []byte
	argForce          []byte
	argFail           []byte
	argIDs            []byte
	argOne            []byte
	argInf            []byte
	argNegInf         []byte
}

func newWords() *words {
	return &words{
		cmdSelect:         []byte("SELECT"),
		cmdSet:            []byte("SET"),
		cmdRPush:          []byte("RPUSH"),
		cmdSAdd:           []byte("SADD"),
		cmdZAdd:           []byte("ZADD"),
		cmdHSet:           []byte("HSET"),
		cmdHPExpireAt:     []byte("HPEXPIREAT"),
		cmdXAdd:           []byte("XADD"),
		cmdXSetID:         []byte("XSETID"),
		cmdXGroup:         []byte("XGROUP"),
		cmdXClaim:         []byte("XCLAIM"),
		cmdXNack:          []byte("XNACK"),
		cmdARMSet:         []byte("ARMSET"),
		cmdARSeek:         []byte("ARSEEK"),
		cmdRestore:        []byte("RESTORE"),
		cmdPExpireAt:      []byte("PEXPIREAT"),
		cmdFunction:       []byte("FUNCTION"),
		argLoad:           []byte("LOAD"),
		argReplace:        []byte("REPLACE"),
		argFields:         []byte("FIELDS"),
		argMaxLen:         []byte("MAXLEN"),
		argZero:           []byte("0"),
		argEmptyID:        []byte("0-1"),
		argX:              []byte("x"),
		argY:              []byte("y"),
		argEntriesAdded:   []byte("ENTRIESADDED"),
		argMaxDeletedID:   []byte("MAXDELETEDID"),
		argCreate:         []byte("CREATE"),
		argCreateConsumer: []byte("CREATECONSUMER"),
		argEntriesRead:    []byte("ENTRIESREAD"),
		argTime:           []byte("TIME"),
		argRetryCount:     []byte("RETRYCOUNT"),
		argJustID:         []byte("JUSTID"),
		argForce:          []byte("FORCE"),
		argFail:           []byte("FAIL"),
		argIDs:            []byte("IDS"),
		argOne:            []byte("1"),
		argInf:            []byte("inf"),
		argNegInf:         []byte("-inf"),
	}
}

// Function emits FUNCTION LOAD REPLACE code for a function library
// (the Data of an rdb.KindFunction record). Functions belong to no
// database.
func (r *Rewriter) Function(code []byte, emit EmitFunc) error {
	return emit(r.w.cmdFunction, r.w.argLoad, r.w.argReplace, code)
}

// Key emits the commands that recreate kv in its database kv.DB,
// walking its value once (Elements, or Dump for RESTORE). Errors from
// emit and from reading the value are returned as they are; the
// Rewriter's own (ErrNaNScore, ErrNoCommands) name the key.
func (r *Rewriter) Key(kv *rdb.KeyValue, emit EmitFunc) error {
	if kv.DB != r.db {
		if err := emit(r.w.cmdSelect, strconv.AppendInt(r.num[0][:0], int64(kv.DB), 10)); err != nil {
			return err
		}
		r.db = kv.DB
	}
	r.kv, r.emit = kv, emit
	defer r.clear()
	if r.opts.RestorePayloads {
		return r.restore(true)
	}
	r.cmd, r.perElem = nil, 1
	switch kv.Type {
	case rdb.TypeString:
		r.cmd = r.w.cmdSet
	case rdb.TypeList:
		r.cmd = r.w.cmdRPush
	case rdb.TypeSet:
		r.cmd = r.w.cmdSAdd
	case rdb.TypeZSet:
		r.cmd, r.perElem = r.w.cmdZAdd, 2
	case rdb.TypeHash:
		r.cmd, r.perElem = r.w.cmdHSet, 2
	case rdb.TypeArray:
		r.cmd, r.perElem = r.w.cmdARMSet, 2
	case rdb.TypeStream:
	default:
		if err := r.restore(false); err != nil {
			return err
		}
		return r.expire()
	}
	if kv.Elements == nil {
		if kv.Dump == nil {
			return fmt.Errorf("key %q of type %s: %w", kv.Key, kv.Type, ErrNoCommands)
		}
		if err := r.restore(false); err != nil {
			return err
		}
		return r.expire()
	}
	if err := kv.Elements(r.onElem); err != nil {
		if r.err != nil {
			return r.err
		}
		return err
	}
	if err := r.flush(); err != nil {
		return err
	}
	switch {
	case kv.Type == rdb.TypeStream:
		if err := r.streamMeta(); err != nil {
			return err
		}
	case r.elems == 0 && kv.Type != rdb.TypeString:
		return nil // an empty collection: Redis would not load it either
	case kv.Type == rdb.TypeArray:
		if err := r.arraySeek(); err != nil {
			return err
		}
	}
	return r.expire()
}

// clear drops references to the key once it is done.
func (r *Rewriter) clear() {
	r.kv, r.emit, r.err = nil, nil, nil
	r.elems, r.entries = 0, 0
	r.resetBatch()
	if r.payload.Cap() > defaultBatchBytes {
		r.payload = bytes.Buffer{} // do not keep a huge value's memory
	}
	if cap(r.arena) > 2*r.opts.BatchBytes {
		r.arena = nil
	}
}

func (r *Rewriter) resetBatch() {
	r.arena, r.ends, r.n = r.arena[:0], r.ends[:0], 0
	r.ttlIdx, r.ttlAt = r.ttlIdx[:0], r.ttlAt[:0]
}

// element handles one element of the current key.
func (r *Rewriter) element(e *rdb.Element) error {
	r.elems++
	switch r.kv.Type {
	case rdb.TypeString:
		return r.send(r.w.cmdSet, r.kv.Key, e.Member)
	case rdb.TypeStream:
		return r.xadd(e)
	case rdb.TypeZSet:
		switch {
		case math.IsNaN(e.Score):
			r.err = fmt.Errorf("key %q member %q: %w", r.kv.Key, e.Member, ErrNaNScore)
			return r.err
		case math.IsInf(e.Score, 1):
			r.arena = append(r.arena, r.w.argInf...)
		case math.IsInf(e.Score, -1):
			r.arena = append(r.arena, r.w.argNegInf...)
		default:
			r.arena = strconv.AppendFloat(r.arena, e.Score, 'g', -1, 64)
		}
		r.ends = append(r.ends, len(r.arena))
		r.add(e.Member)
	case rdb.TypeHash:
		if e.ExpireAt != rdb.NoExpiry {
			r.ttlIdx = append(r.ttlIdx, len(r.ends))
			r.ttlAt = append(r.ttlAt, e.ExpireAt)
		}
		r.add(e.Member)
		r.add(e.Value)
	case rdb.TypeArray:
		r.arena = strconv.AppendUint(r.arena, e.Index, 10)
		r.ends = append(r.ends, len(r.arena))
		r.add(e.Member)
	default:
		r.add(e.Member)
	}
	r.n++
	if r.n >= r.opts.Batch || len(r.arena) >= r.opts.BatchBytes {
		return r.flush()
	}
	return nil
}

func (r *Rewriter) add(b []byte) {
	r.arena = append(r.arena, b...)
	r.ends = append(r.ends, len(r.arena))
}

// send emits a command through r.args, so that the variadic arguments
// of the call stay on the stack.
func (r *Rewriter) send(args ...[]byte) error {
	r.args = append(r.args[:0], args...)
	return r.emit(r.args...)
}

// arg returns the i-th buffered argument.
func (r *Rewriter) arg(i int) []byte {
	start := 0
	if i > 0 {
		start = r.ends[i-1]
	}
	return r.arena[start:r.ends[i]]
}

// flush emits the batch: the command, then HPEXPIREAT for its hash
// fields that expire, consecutive fields of the same expiry together.
func (r *Rewriter) flush() error {
	if r.n == 0 {
		return nil
	}
	args := append(r.args[:0], r.cmd, r.kv.Key)
	start := 0
	for _, end := range r.ends {
		args = append(args, r.arena[start:end])
		start = end
	}
	r.args = args
	if err := r.emit(args...); err != nil {
		return err
	}
	for i := 0; i < len(r.ttlIdx); {
		at := r.ttlAt[i]
		j := i + 1
		for j < len(r.ttlIdx) && r.ttlAt[j] == at {
			j++
		}
		args = append(r.args[:0], r.w.cmdHPExpireAt, r.kv.Key,
			strconv.AppendInt(r.num[0][:0], at, 10), r.w.argFields,
			strconv.AppendInt(r.num[1][:0], int64(j-i), 10))
		for _, idx := range r.ttlIdx[i:j] {
			args = append(args, r.arg(idx))
		}
		r.args = args
		if err := r.emit(args...); err != nil {
			return err
		}
		i = j
	}
	r.resetBatch()
	return nil
}

func appendID(b []byte, id rdb.StreamID) []byte {
	b = strconv.AppendUint(b, id.Ms, 10)
	b = append(b, '-')
	return strconv.AppendUint(b, id.Seq, 10)
}

// xadd emits one stream entry with its ID.
func (r *Rewriter) xadd(e *rdb.Element) error {
	r.entries++
	args := append(r.args[:0], r.w.cmdXAdd, r.kv.Key, appendID(r.num[0][:0], e.ID))
	args = append(args, e.Fields...)
	r.args = args
	return r.emit(args...)
}

// streamMeta emits what follows a stream's entries: its last ID and
// counters, then its consumer groups.
func (r *Rewriter) streamMeta() error {
	key := r.kv.Key
	if r.entries == 0 {
		// As aof.c: XADD then trim to nothing creates an empty stream.
		if err := r.send(r.w.cmdXAdd, key, r.w.argMaxLen, r.w.argZero, r.w.argEmptyID, r.w.argX, r.w.argY); err != nil {
			return err
		}
	}
	info := r.kv.Stream()
	if info == nil {
		return fmt.Errorf("key %q: stream metadata missing after its entries", key)
	}
	if err := r.send(r.w.cmdXSetID, key, appendID(r.num[0][:0], info.LastID),
		r.w.argEntriesAdded, strconv.AppendUint(r.num[1][:0], info.EntriesAdded, 10),
		r.w.argMaxDeletedID, appendID(r.num[2][:0], info.MaxDeletedID)); err != nil {
		return err
	}
	for gi := range info.Groups {
		g := &info.Groups[gi]
		name := []byte(g.Name)
		args := append(r.args[:0], r.w.cmdXGroup, r.w.argCreate, key, name, appendID(r.num[0][:0], g.LastID))
		if g.EntriesRead >= 0 {
			args = append(args, r.w.argEntriesRead, strconv.AppendInt(r.num[1][:0], g.EntriesRead, 10))
		}
		r.args = args
		if err := r.emit(args...); err != nil {
			return err
		}
		// Unlike aof.c, which creates only consumers without pending
		// entries this way and leaves the others to XCLAIM, every
		// consumer is created: XCLAIM skips entries deleted from the
		// stream, and a consumer with only such entries would be lost.
		for ci := range g.Consumers {
			if err := r.send(r.w.cmdXGroup, r.w.argCreateConsumer, key, name, []byte(g.Consumers[ci].Name)); err != nil {
				return err
			}
		}
		for pi := range g.Pending {
			p := &g.Pending[pi]
			if p.Consumer == "" && len(g.Nacked) > 0 {
				continue // in the NACK zone: XNACK below
			}
			if err := r.send(r.w.cmdXClaim, key, name, []byte(p.Consumer), r.w.argZero, appendID(r.num[0][:0], p.ID),
				r.w.argTime, strconv.AppendInt(r.num[1][:0], p.DeliveryTime, 10),
				r.w.argRetryCount, strconv.AppendUint(r.num[2][:0], p.DeliveryCount, 10),
				r.w.argJustID, r.w.argForce); err != nil {
				return err
			}
		}
		if err := r.nackZone(key, name, g); err != nil {
			return err
		}
	}
	return nil
}

// nackZone emits XNACK for each entry of a group's NACK zone (Redis
// 8.8), in the zone's order, with the entry's delivery count; FORCE
// makes the pending entry, which no consumer owns. No command sets its
// delivery time; Redis keeps NACKed entries with a delivery time of 0
// (librdb's stream_v14_xnack dump shows them so).
func (r *Rewriter) nackZone(key, name []byte, g *rdb.StreamGroup) error {
	if len(g.Nacked) == 0 {
		return nil
	}
	count := make(map[rdb.StreamID]uint64, len(g.Pending))
	for i := range g.Pending {
		count[g.Pending[i].ID] = g.Pending[i].DeliveryCount
	}
	for _, id := range g.Nacked {
		if err := r.send(r.w.cmdXNack, key, name, r.w.argFail, r.w.argIDs, r.w.argOne, appendID(r.num[0][:0], id),
			r.w.argRetryCount, strconv.AppendUint(r.num[1][:0], count[id], 10), r.w.argForce); err != nil {
			return err
		}
	}
	return nil
}

// arraySeek emits ARSEEK for an array with an insert index.
func (r *Rewriter) arraySeek() error {
	if r.kv.Array == nil {
		return nil
	}
	info := r.kv.Array()
	if info == nil || info.InsertIndex == rdb.NoInsertIndex {
		return nil
	}
	return r.send(r.w.cmdARSeek, r.kv.Key, strconv.AppendUint(r.num[0][:0], info.InsertIndex+1, 10))
}

// restore emits RESTORE of the key's DUMP payload; full adds the
// expiry and the LRU or LFU information, for RestorePayloads.
func (r *Rewriter) restore(full bool) error {
	kv := r.kv
	if kv.Dump == nil {
		return fmt.Errorf("key %q of type %s: %w", kv.Key, kv.Type, ErrNoCommands)
	}
	r.payload.Reset()
	if err := kv.Dump(&r.payload); err != nil {
		return err
	}
	var args [][]byte
	if full {
		args = AppendRestore(r.args[:0], &r.rnum, kv, r.payload.Bytes(), true)
	} else {
		args = append(r.args[:0], r.w.cmdRestore, kv.Key, r.w.argZero, r.payload.Bytes(), r.w.argReplace)
	}
	r.args = args
	return r.emit(args...)
}

var (
	argRestore  = []byte("RESTORE")
	argZero     = []byte("0")
	argABSTTL   = []byte("ABSTTL")
	argReplace  = []byte("REPLACE")
	argIdleTime = []byte("IDLETIME")
	argFreq     = []byte("FREQ")
)

// AppendRestore appends to args the command that restores kv from its
// DUMP payload: RESTORE key ttl payload [ABSTTL] [REPLACE] [IDLETIME n |
// FREQ n], with the absolute expiry (0 without one) and the LRU or LFU
// information the key carries. num holds the numbers; args and num are
// the caller's to reuse once the command is sent.
func AppendRestore(args [][]byte, num *[2][20]byte, kv *rdb.KeyValue, payload []byte, replace bool) [][]byte {
	ttl := argZero
	if kv.ExpireAt != rdb.NoExpiry {
		ttl = strconv.AppendInt(num[0][:0], kv.ExpireAt, 10)
	}
	args = append(args, argRestore, kv.Key, ttl, payload)
	if kv.ExpireAt != rdb.NoExpiry {
		args = append(args, argABSTTL)
	}
	if replace {
		args = append(args, argReplace)
	}
	// RESTORE takes IDLETIME or FREQ, not both.
	switch {
	case kv.Idle >= 0:
		args = append(args, argIdleTime, strconv.AppendInt(num[1][:0], kv.Idle, 10))
	case kv.Freq >= 0:
		args = append(args, argFreq, strconv.AppendInt(num[1][:0], int64(kv.Freq), 10))
	}
	return args
}

// expire emits PEXPIREAT for a key with an expiry.
func (r *Rewriter) expire() error {
	if r.kv.ExpireAt == rdb.NoExpiry {
		return nil
	}
	return r.send(r.w.cmdPExpireAt, r.kv.Key, strconv.AppendInt(r.num[0][:0], r.kv.ExpireAt, 10))
}
