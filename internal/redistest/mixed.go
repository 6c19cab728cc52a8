package redistest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Redis 7.0 defaults of the thresholds FillMixed changes; it sets them back
// to these when it is done.
var encodingDefaults = [][2]string{
	{"hash-max-listpack-entries", "128"},
	{"hash-max-listpack-value", "64"},
	{"zset-max-listpack-entries", "128"},
	{"zset-max-listpack-value", "64"},
	{"set-max-intset-entries", "512"},
	{"list-max-listpack-size", "-2"},
	{"stream-node-max-entries", "100"},
	{"stream-node-max-bytes", "4096"},
}

// FillMixed writes deterministic mixed data into the Redis 7.0 server c
// talks to: about 2,900 keys in databases 0, 1 and 2 covering every type
// and every in-memory encoding Redis 7.0 has (string int, embstr and raw;
// list quicklist with one or many listpack nodes, and plain nodes when
// DEBUG is allowed; set intset of 16, 32 and 64-bit members and hashtable;
// zset listpack and skiplist; hash listpack and hashtable; streams with
// consumer groups, pending entries and deleted entries), with a spread of
// value, element and key sizes and some keys with a TTL of an hour or
// more.
//
// Values are built by the commands applications use (SET, RPUSH, SADD,
// ZADD, HSET, XADD, XREADGROUP, ...), one pinned connection issuing them
// in order. Between batches it lowers and raises the encoding thresholds
// with CONFIG SET to force each encoding at sizes the defaults would not
// give, and it restores the 7.0 defaults before returning.
//
// The same seed writes the same keys and values. What the seed does not
// decide: stream pending-entry delivery times, and whether the elements of
// the "list:plain" keys become plain nodes (only when DEBUG
// QUICKLIST-PACKED-THRESHOLD is allowed, as it is on servers started by
// Start) or listpack nodes. FillMixed does not flush the server
// first; it expects an empty one.
func FillMixed(ctx context.Context, c *redis.Client, seed int64) (err error) {
	conn := c.Conn()
	defer release(ctx, c, conn, &err)
	f := &filler{
		ctx:  ctx,
		conn: conn,
		pipe: conn.Pipeline(),
		rng:  rand.New(rand.NewPCG(uint64(seed), 0x7265646b6974)),
		db:   -1,
	}
	f.selectDB(0)
	f.strings()
	f.lists()
	f.sets()
	f.zsets()
	f.hashes()
	f.streams()
	for _, kv := range encodingDefaults {
		f.do("CONFIG", "SET", kv[0], kv[1])
	}
	f.flush()
	if f.err != nil {
		return fmt.Errorf("fill mixed data: %w", f.err)
	}
	return nil
}

// pipelineLimit is how many commands the filler queues before sending them.
const pipelineLimit = 512

// filler queues commands on one pinned connection and keeps the first
// error; once it has one, it queues nothing more.
type filler struct {
	ctx  context.Context
	conn *redis.Conn
	pipe redis.Pipeliner
	rng  *rand.Rand
	db   int // database the connection has selected
	n    int // keys made so far, part of every key name
	err  error
}

func (f *filler) do(args ...any) {
	if f.err != nil {
		return
	}
	f.pipe.Do(f.ctx, args...)
	if f.pipe.Len() >= pipelineLimit {
		f.flush()
	}
}

func (f *filler) flush() {
	if f.err != nil || f.pipe.Len() == 0 {
		return
	}
	cmds, err := f.pipe.Exec(f.ctx)
	if err == nil || errors.Is(err, redis.Nil) {
		return
	}
	for _, cmd := range cmds {
		if cerr := cmd.Err(); cerr != nil && !errors.Is(cerr, redis.Nil) {
			f.err = fmt.Errorf("%s: %w", cmdName(cmd), cerr)
			return
		}
	}
	f.err = err
}

// cmdName names a command by its first arguments, never by its values.
func cmdName(cmd redis.Cmder) string {
	args := cmd.Args()
	name := fmt.Sprint(args[0])
	if len(args) > 1 {
		switch strings.ToLower(name) {
		case "config", "debug", "xgroup", "object", "memory":
			name += " " + fmt.Sprint(args[1])
		default:
			if k, ok := args[1].(string); ok {
				name += fmt.Sprintf(" %.40q", k)
			}
		}
	}
	return name
}

func (f *filler) config(name string, value int) {
	f.do("CONFIG", "SET", name, strconv.Itoa(value))
}

func (f *filler) selectDB(db int) {
	if db != f.db {
		f.do("SELECT", db)
		f.db = db
	}
}

// key makes a new key name starting with prefix, in a database picked
// at random (mostly 0, some in 1 and 2), with a length spread over the
// sds header classes (< 32, < 256 and longer) and some binary bytes.
func (f *filler) key(prefix string) string {
	f.n++
	switch r := f.rng.IntN(100); {
	case r < 8:
		f.selectDB(1)
	case r < 14:
		f.selectDB(2)
	default:
		f.selectDB(0)
	}
	k := fmt.Sprintf("%s:%d", prefix, f.n)
	var want int
	switch r := f.rng.IntN(100); {
	case r < 60:
		return k
	case r < 75:
		want = 28 + f.rng.IntN(8) // around the sdshdr5/sdshdr8 boundary
	case r < 88:
		want = 36 + f.rng.IntN(200)
	case r < 95:
		want = 250 + f.rng.IntN(12) // around the sdshdr8/sdshdr16 boundary
	default:
		want = 262 + f.rng.IntN(1800)
	}
	if want <= len(k) {
		return k
	}
	b := []byte(k + ":")
	binary := f.rng.IntN(10) == 0
	for len(b) < want {
		if binary {
			b = append(b, byte(f.rng.IntN(256)))
		} else {
			b = append(b, 'a'+byte(f.rng.IntN(26)))
		}
	}
	return string(b[:want])
}

// maybeExpire gives about one key in eight a TTL of one to 24 hours.
func (f *filler) maybeExpire(key string) {
	if f.rng.IntN(8) == 0 {
		f.do("EXPIRE", key, 3600+f.rng.IntN(23*3600))
	}
}

func (f *filler) text(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_:."
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[f.rng.IntN(len(alphabet))]
	}
	return string(b)
}

func (f *filler) binary(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(f.rng.Uint32())
	}
	return string(b)
}

// logSize returns a length between lo and hi, spread evenly over its
// logarithm so that small and big sizes are both common.
func (f *filler) logSize(lo, hi int) int {
	if hi <= lo {
		return lo
	}
	x := math.Log(float64(lo)) + f.rng.Float64()*(math.Log(float64(hi))-math.Log(float64(lo)))
	return min(hi, max(lo, int(math.Round(math.Exp(x)))))
}

// element returns a collection element of about maxLen bytes or less:
// integers of every listpack integer width, short and long text, binary.
func (f *filler) element(maxLen int) string {
	switch r := f.rng.IntN(20); {
	case r < 3:
		return strconv.Itoa(f.rng.IntN(128)) // 7-bit uint
	case r < 5:
		return strconv.Itoa(f.rng.IntN(8192) - 4096) // 13-bit int
	case r < 6:
		return strconv.Itoa(f.rng.IntN(1<<16) - 1<<15) // 16-bit
	case r < 7:
		return strconv.Itoa(f.rng.IntN(1<<24) - 1<<23) // 24-bit
	case r < 8:
		return strconv.FormatInt(f.rng.Int64N(1<<32)-1<<31, 10) // 32-bit
	case r < 9:
		return strconv.FormatInt(f.rng.Int64()-f.rng.Int64(), 10) // 64-bit
	case r < 11:
		return f.binary(f.logSize(1, maxLen))
	default:
		return f.text(f.logSize(1, maxLen))
	}
}

// strings writes string keys: int, embstr and raw encodings.
func (f *filler) strings() {
	// Integers: shared (0..9999), small negative, big, and boundaries.
	for range 120 {
		k := f.key("str:int")
		f.do("SET", k, f.rng.IntN(10000))
		f.maybeExpire(k)
	}
	for range 40 {
		k := f.key("str:int")
		f.do("SET", k, -1-f.rng.IntN(100000))
		f.maybeExpire(k)
	}
	for range 80 {
		k := f.key("str:bigint")
		v := f.rng.Int64() >> f.rng.IntN(63)
		if f.rng.IntN(2) == 0 {
			v = -v
		}
		f.do("SET", k, v)
		f.maybeExpire(k)
	}
	for range 40 {
		k := f.key("str:counter")
		for range 1 + f.rng.IntN(5) {
			f.do("INCRBY", k, f.rng.IntN(1000000))
		}
	}
	// Values that look like integers but are not canonical: embstr.
	edges := []string{
		"9223372036854775807", "-9223372036854775808", // int, 19 and 20 bytes
		"9223372036854775808", "-9223372036854775809", // overflow: embstr
		"-0", "007", "+1", " 1", "1 ", "1.5", "1e3", "0x10", "", "-", "00",
		"10000", "9999", "-1", "4294967296", "2147483648", "-2147483649",
	}
	for _, v := range edges {
		k := f.key("str:edge")
		f.do("SET", k, v)
	}
	// embstr: 0..44 bytes, text and binary.
	for i := range 450 {
		k := f.key("str:embstr")
		n := f.rng.IntN(45)
		if i%20 == 0 {
			n = 44
		}
		v := f.text(n)
		if f.rng.IntN(4) == 0 {
			v = f.binary(n)
		}
		if n > 0 && v[0] >= '1' && v[0] <= '9' {
			v = "v" + v[1:] // keep it from parsing as an integer
		}
		f.do("SET", k, v)
		f.maybeExpire(k)
	}
	// raw: 45 B .. 100 KB, with the sds header boundaries.
	fixed := []int{45, 46, 63, 64, 65, 127, 128, 255, 256, 257, 4096, 8192, 65535, 65536, 65537, 100 << 10}
	for i := range 520 {
		k := f.key("str:raw")
		var n int
		if i < len(fixed) {
			n = fixed[i]
		} else {
			n = f.logSize(45, 100<<10)
		}
		v := f.text(n)
		if f.rng.IntN(3) == 0 {
			v = f.binary(n)
		}
		if f.rng.IntN(4) == 0 {
			f.do("SET", k, v, "EX", 3600+f.rng.IntN(3600))
		} else {
			f.do("SET", k, v)
		}
	}
}

// push fills a list with RPUSH and LPUSH in batches of random sizes.
func (f *filler) push(k string, elems []string) {
	for len(elems) > 0 {
		n := min(len(elems), 1+f.rng.IntN(64))
		cmd := "RPUSH"
		if f.rng.IntN(4) == 0 {
			cmd = "LPUSH"
		}
		args := []any{cmd, k}
		for _, e := range elems[:n] {
			args = append(args, e)
		}
		f.do(args...)
		elems = elems[n:]
	}
}

func (f *filler) listElems(n, maxLen int) []string {
	elems := make([]string, n)
	for i := range elems {
		elems[i] = f.element(maxLen)
	}
	return elems
}

// lists writes lists, which Redis 7.0 always encodes as quicklists: of
// one node, many nodes, nodes limited by size (negative fill) and count
// (positive fill), nodes holding one big element, and plain nodes.
func (f *filler) lists() {
	// Default fill (-2, 8 KB nodes): small single-node lists.
	for range 180 {
		k := f.key("list:small")
		f.push(k, f.listElems(1+f.rng.IntN(120), 40))
		f.maybeExpire(k)
	}
	// Multi-node lists.
	for range 40 {
		k := f.key("list:big")
		f.push(k, f.listElems(f.logSize(200, 20000), f.logSize(8, 300)))
		f.maybeExpire(k)
	}
	// Elements over 8 KB: each gets a listpack node of its own.
	for range 12 {
		k := f.key("list:bigelem")
		elems := f.listElems(f.logSize(2, 300), 50)
		for range 1 + f.rng.IntN(4) {
			elems[f.rng.IntN(len(elems))] = f.text(8192 + f.rng.IntN(40000))
		}
		f.push(k, elems)
	}
	// Applications pop, trim, insert, set and remove, which splits and
	// merges nodes.
	for range 30 {
		k := f.key("list:edited")
		elems := f.listElems(f.logSize(10, 5000), 60)
		f.push(k, elems)
		for range 1 + f.rng.IntN(6) {
			switch f.rng.IntN(6) {
			case 0:
				f.do("LPOP", k, 1+f.rng.IntN(len(elems)/4+1))
			case 1:
				f.do("RPOP", k, 1+f.rng.IntN(len(elems)/4+1))
			case 2:
				f.do("LINSERT", k, "BEFORE", elems[f.rng.IntN(len(elems))], f.element(80))
			case 3:
				// The pops and trims before may have emptied it (the key is
				// then gone and LSET fails): a head to set first.
				f.do("LPUSH", k, "head")
				f.do("LSET", k, 0, f.element(200))
			case 4:
				f.do("LREM", k, 0, elems[f.rng.IntN(len(elems))])
			case 5:
				f.do("LTRIM", k, f.rng.IntN(10), -1-f.rng.IntN(10))
			}
		}
	}
	// Other node sizes: negative fill limits bytes, positive fill counts.
	for _, fill := range []int{-1, -3, -4, -5, 1, 4, 16, 128, 1000} {
		f.config("list-max-listpack-size", fill)
		for range 12 {
			k := f.key(fmt.Sprintf("list:fill%d", fill))
			f.push(k, f.listElems(f.logSize(1, 5000), f.logSize(4, 500)))
		}
	}
	f.config("list-max-listpack-size", -2)
	// Plain nodes: Redis 7.0 makes an element a plain node only from 1 GB
	// on (DEBUG QUICKLIST-PACKED-THRESHOLD), so lower that if allowed.
	// Without DEBUG the same elements go in listpack nodes of their own.
	f.flush()
	if f.err != nil {
		return
	}
	debug := f.conn.Do(f.ctx, "DEBUG", "QUICKLIST-PACKED-THRESHOLD", "4kb").Err() == nil
	for range 12 {
		k := f.key("list:plain")
		elems := f.listElems(f.logSize(1, 200), 40)
		for range 1 + f.rng.IntN(4) {
			elems[f.rng.IntN(len(elems))] = f.binary(4096 + f.rng.IntN(30000))
		}
		f.push(k, elems)
	}
	if debug {
		f.do("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1gb")
	}
}

// sets writes intsets (16, 32 and 64-bit members, small and large) and
// hashtable sets.
func (f *filler) sets() {
	sadd := func(k string, members []string) {
		for len(members) > 0 {
			n := min(len(members), 1+f.rng.IntN(100))
			args := []any{"SADD", k}
			for _, m := range members[:n] {
				args = append(args, m)
			}
			f.do(args...)
			members = members[n:]
		}
	}
	ints := func(n int, bits uint) []string {
		m := make([]string, n)
		for i := range m {
			var v int64
			if bits == 64 {
				v = f.rng.Int64() - f.rng.Int64()
			} else {
				v = f.rng.Int64N(1<<(bits-1)) - f.rng.Int64N(1<<(bits-1))
			}
			m[i] = strconv.FormatInt(v, 10)
		}
		return m
	}
	for _, bits := range []uint{16, 32, 64} {
		for range 60 {
			k := f.key(fmt.Sprintf("set:int%d", bits))
			sadd(k, ints(f.logSize(1, 512), bits))
			f.maybeExpire(k)
		}
	}
	// Intsets that upgrade from 16 to 32 or 64-bit members as they grow.
	for range 20 {
		k := f.key("set:upgrade")
		sadd(k, ints(f.logSize(1, 200), 16))
		sadd(k, ints(1+f.rng.IntN(5), []uint{32, 64}[f.rng.IntN(2)]))
	}
	// Large intsets.
	f.config("set-max-intset-entries", 10000)
	for range 12 {
		k := f.key("set:bigint")
		sadd(k, ints(f.logSize(513, 8000), []uint{16, 32, 64}[f.rng.IntN(3)]))
	}
	f.config("set-max-intset-entries", 512)
	// Hashtable sets: strings, intsets grown past 512, and small sets of
	// integers under a lowered threshold.
	for range 110 {
		k := f.key("set:str")
		sadd(k, f.listElems(f.logSize(1, 5000), f.logSize(4, 200)))
		f.maybeExpire(k)
	}
	for range 20 {
		k := f.key("set:intbig")
		sadd(k, ints(f.logSize(513, 6000), 32))
	}
	f.config("set-max-intset-entries", 4)
	for range 30 {
		k := f.key("set:intht")
		sadd(k, ints(5+f.rng.IntN(60), 16))
	}
	f.config("set-max-intset-entries", 512)
	// Applications also remove members.
	for range 20 {
		k := f.key("set:srem")
		m := f.listElems(f.logSize(50, 3000), 30)
		sadd(k, m)
		args := []any{"SREM", k}
		for _, x := range m[:f.rng.IntN(len(m))] {
			args = append(args, x)
		}
		if len(args) > 2 { // SREM needs a member
			f.do(args...)
		}
	}
}

func (f *filler) score() string {
	switch f.rng.IntN(10) {
	case 0:
		return "inf"
	case 1, 2, 3:
		return strconv.Itoa(f.rng.IntN(1000))
	case 4, 5:
		return strconv.FormatInt(1700000000000+f.rng.Int64N(1e10), 10) // timestamps
	default:
		return strconv.FormatFloat((f.rng.Float64()-0.3)*1e6, 'g', -1, 64)
	}
}

func (f *filler) zadd(k string, n, maxLen int) {
	for n > 0 {
		c := min(n, 1+f.rng.IntN(100))
		args := []any{"ZADD", k}
		for range c {
			args = append(args, f.score(), f.element(maxLen))
		}
		f.do(args...)
		n -= c
	}
}

// zsets writes listpack and skiplist sorted sets.
func (f *filler) zsets() {
	for range 150 {
		k := f.key("zset:small")
		f.zadd(k, f.logSize(1, 128), 40)
		f.maybeExpire(k)
	}
	for range 40 {
		k := f.key("zset:skiplist")
		f.zadd(k, f.logSize(129, 10000), f.logSize(4, 60))
		f.maybeExpire(k)
	}
	// Few members, one of them longer than zset-max-listpack-value.
	for range 25 {
		k := f.key("zset:longmember")
		f.zadd(k, f.rng.IntN(20), 30)
		f.do("ZADD", k, f.score(), f.text(65+f.rng.IntN(500)))
	}
	// Applications also increment and remove.
	for range 25 {
		k := f.key("zset:edited")
		f.zadd(k, f.logSize(20, 2000), 20)
		for range 1 + f.rng.IntN(20) {
			m := f.element(20)
			f.do("ZINCRBY", k, f.rng.IntN(100), m)
			f.do("ZREM", k, m)
			f.do("ZREMRANGEBYRANK", k, 0, f.rng.IntN(5))
		}
	}
	// Big listpacks under raised thresholds.
	f.config("zset-max-listpack-entries", 1000)
	f.config("zset-max-listpack-value", 200)
	for range 20 {
		k := f.key("zset:biglp")
		f.zadd(k, f.logSize(129, 1000), 200)
	}
	// Small skiplists under lowered thresholds.
	f.config("zset-max-listpack-entries", 4)
	f.config("zset-max-listpack-value", 8)
	for range 30 {
		k := f.key("zset:smallsl")
		f.zadd(k, f.logSize(1, 60), 30)
	}
	f.config("zset-max-listpack-entries", 128)
	f.config("zset-max-listpack-value", 64)
}

func (f *filler) hset(k string, n, maxField, maxValue int) {
	for n > 0 {
		c := min(n, 1+f.rng.IntN(50))
		args := []any{"HSET", k}
		for range c {
			args = append(args, "f"+f.element(maxField), f.element(maxValue))
		}
		f.do(args...)
		n -= c
	}
}

// hashes writes listpack and hashtable hashes.
func (f *filler) hashes() {
	for range 220 {
		k := f.key("hash:small")
		f.hset(k, f.logSize(1, 128), 20, 60)
		f.maybeExpire(k)
	}
	for range 45 {
		k := f.key("hash:ht")
		f.hset(k, f.logSize(129, 5000), f.logSize(4, 40), f.logSize(4, 300))
		f.maybeExpire(k)
	}
	// Few fields with long values (JSON blobs, sessions).
	for range 45 {
		k := f.key("hash:longval")
		f.hset(k, f.rng.IntN(10), 15, 60)
		f.do("HSET", k, "payload", f.text(f.logSize(65, 20000)))
	}
	// Applications also increment and delete fields.
	for range 25 {
		k := f.key("hash:edited")
		f.hset(k, f.logSize(10, 1000), 15, 40)
		for range 1 + f.rng.IntN(20) {
			f.do("HINCRBY", k, "counter", f.rng.IntN(1000))
			f.do("HDEL", k, "f"+f.element(15))
		}
	}
	// Big listpacks under raised thresholds.
	f.config("hash-max-listpack-entries", 1000)
	f.config("hash-max-listpack-value", 512)
	for range 20 {
		k := f.key("hash:biglp")
		f.hset(k, f.logSize(129, 1000), 20, 500)
	}
	// Small hashtables under lowered thresholds.
	f.config("hash-max-listpack-entries", 2)
	f.config("hash-max-listpack-value", 8)
	for range 30 {
		k := f.key("hash:smallht")
		f.hset(k, f.logSize(1, 40), 12, 30)
	}
	f.config("hash-max-listpack-entries", 128)
	f.config("hash-max-listpack-value", 64)
}

// xadd appends n entries with explicit, increasing IDs, some sharing a
// millisecond; when same is set every entry has the same fields (the
// listpack then stores them once, in the master entry).
func (f *filler) xadd(k string, ms *int64, n int, same bool) []string {
	nf := 1 + f.rng.IntN(6)
	fields := make([]string, nf)
	for i := range fields {
		fields[i] = f.text(1 + f.rng.IntN(12))
	}
	ids := make([]string, 0, n)
	seq := 0
	for range n {
		if f.rng.IntN(4) == 0 {
			seq++
		} else {
			*ms += 1 + f.rng.Int64N(5000)
			seq = 0
		}
		id := fmt.Sprintf("%d-%d", *ms, seq)
		args := []any{"XADD", k, id}
		if same {
			for _, fl := range fields {
				args = append(args, fl, f.element(40))
			}
		} else {
			for range 1 + f.rng.IntN(6) {
				args = append(args, f.text(1+f.rng.IntN(12)), f.element(80))
			}
		}
		f.do(args...)
		ids = append(ids, id)
	}
	return ids
}

// streams writes streams: small and large, fixed and varying fields,
// several node sizes, consumer groups with pending entries and idle
// consumers, deleted and trimmed entries, empty streams.
func (f *filler) streams() {
	ms := int64(1700000000000)
	stream := func(prefix string, n int) (string, []string) {
		k := f.key(prefix)
		return k, f.xadd(k, &ms, n, f.rng.IntN(2) == 0)
	}
	for range 40 {
		k, _ := stream("stream:small", 1+f.rng.IntN(20))
		f.maybeExpire(k)
	}
	for range 30 {
		stream("stream:big", f.logSize(100, 3000))
	}
	// Consumer groups: deliveries, acks, claims, idle consumers.
	for range 30 {
		k, ids := stream("stream:groups", f.logSize(5, 2000))
		for g := range 1 + f.rng.IntN(3) {
			group := fmt.Sprintf("group-%d", g)
			f.do("XGROUP", "CREATE", k, group, "0")
			consumers := 1 + f.rng.IntN(5)
			for c := range consumers {
				consumer := fmt.Sprintf("consumer-%d-%s", c, f.text(f.rng.IntN(20)))
				f.do("XREADGROUP", "GROUP", group, consumer, "COUNT", 1+f.rng.IntN(len(ids)), "STREAMS", k, ">")
			}
			for range f.rng.IntN(len(ids)/2 + 1) {
				f.do("XACK", k, group, ids[f.rng.IntN(len(ids))])
			}
			if f.rng.IntN(2) == 0 {
				f.do("XCLAIM", k, group, "consumer-claimer", 0, ids[f.rng.IntN(len(ids))])
			}
			if f.rng.IntN(2) == 0 {
				f.do("XGROUP", "CREATECONSUMER", k, group, "idle-"+f.text(8))
			}
		}
	}
	// Deleted and trimmed entries.
	for range 20 {
		k, ids := stream("stream:deleted", f.logSize(10, 2000))
		args := []any{"XDEL", k}
		for range 1 + f.rng.IntN(len(ids)) {
			args = append(args, ids[f.rng.IntN(len(ids))])
		}
		f.do(args...)
		if f.rng.IntN(2) == 0 {
			f.do("XTRIM", k, "MAXLEN", f.rng.IntN(len(ids)))
		}
	}
	// Empty streams: created by a group, or emptied.
	for range 4 {
		f.do("XGROUP", "CREATE", f.key("stream:empty"), "g", "$", "MKSTREAM")
	}
	for range 4 {
		k, ids := stream("stream:emptied", 1+f.rng.IntN(10))
		args := []any{"XDEL", k}
		for _, id := range ids {
			args = append(args, id)
		}
		f.do(args...)
	}
	// Other node limits.
	for _, lim := range [][2]int{{10, 4096}, {500, 4096}, {100, 512}, {100, 32768}, {0, 8192}, {50, 0}} {
		f.config("stream-node-max-entries", lim[0])
		f.config("stream-node-max-bytes", lim[1])
		for range 8 {
			k, ids := stream(fmt.Sprintf("stream:node%d-%d", lim[0], lim[1]), f.logSize(1, 2000))
			if f.rng.IntN(3) == 0 {
				f.do("XGROUP", "CREATE", k, "g", "0")
				f.do("XREADGROUP", "GROUP", "g", "c", "COUNT", 1+f.rng.IntN(len(ids)), "STREAMS", k, ">")
			}
		}
	}
	f.config("stream-node-max-entries", 100)
	f.config("stream-node-max-bytes", 4096)
}

// KeyUsage is what a live server reports about one key.
type KeyUsage struct {
	DB       int
	Key      string
	Type     string // TYPE
	Encoding string // OBJECT ENCODING
	Usage    int64  // MEMORY USAGE key SAMPLES 0
}

// MemoryUsage reports TYPE, OBJECT ENCODING and MEMORY USAGE key SAMPLES 0
// for every key of databases 0 to 15, sorted by database and key. Keys
// that expire while it runs are left out.
func MemoryUsage(ctx context.Context, c *redis.Client) (_ []KeyUsage, err error) {
	conn := c.Conn()
	defer release(ctx, c, conn, &err)
	var all []KeyUsage
	for db := range 16 {
		if err := conn.Select(ctx, db).Err(); err != nil {
			return nil, fmt.Errorf("select db %d: %w", db, err)
		}
		var keys []string
		var cursor uint64
		for {
			page, next, err := conn.Scan(ctx, cursor, "", 1000).Result()
			if err != nil {
				return nil, fmt.Errorf("scan db %d: %w", db, err)
			}
			keys = append(keys, page...)
			if cursor = next; cursor == 0 {
				break
			}
		}
		sort.Strings(keys)
		keys = dedup(keys) // SCAN may return a key twice
		for len(keys) > 0 {
			batch := keys[:min(len(keys), 300)]
			keys = keys[len(batch):]
			got, err := usageBatch(ctx, conn, db, batch)
			if err != nil {
				return nil, err
			}
			all = append(all, got...)
		}
	}
	return all, nil
}

// release selects c's database again on conn, which goes back to c's
// pool, and closes it; it sets *err if that fails and *err is nil.
func release(ctx context.Context, c *redis.Client, conn *redis.Conn, err *error) {
	serr := conn.Select(ctx, c.Options().DB).Err()
	if serr != nil {
		serr = fmt.Errorf("select db %d: %w", c.Options().DB, serr)
	}
	if cerr := conn.Close(); cerr != nil && serr == nil {
		serr = fmt.Errorf("close connection: %w", cerr)
	}
	if serr != nil && *err == nil {
		*err = serr
	}
}

func dedup(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func usageBatch(ctx context.Context, conn *redis.Conn, db int, keys []string) ([]KeyUsage, error) {
	type cmds struct {
		typ   *redis.StatusCmd
		enc   *redis.StringCmd
		usage *redis.IntCmd
	}
	cs := make([]cmds, len(keys))
	_, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cs[i].typ = p.Type(ctx, k)
			cs[i].enc = p.ObjectEncoding(ctx, k)
			cs[i].usage = p.MemoryUsage(ctx, k, 0)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("db %d: memory usage: %w", db, err)
	}
	out := make([]KeyUsage, 0, len(keys))
	for i, k := range keys {
		typ, enc, usage := cs[i].typ.Val(), cs[i].enc.Val(), cs[i].usage.Val()
		if errors.Is(cs[i].usage.Err(), redis.Nil) || typ == "none" {
			continue // expired meanwhile
		}
		for _, e := range []error{cs[i].typ.Err(), cs[i].enc.Err(), cs[i].usage.Err()} {
			if e != nil {
				return nil, fmt.Errorf("db %d: key %.40q: %w", db, k, e)
			}
		}
		out = append(out, KeyUsage{DB: db, Key: k, Type: typ, Encoding: enc, Usage: usage})
	}
	return out, nil
}
