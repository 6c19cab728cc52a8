// Command gendump fills an empty redis-server with a deterministic, realistic
// mix of keys, so that a SAVE afterwards gives a benchmark dump of about
// -size-mb megabytes.
//
// The same -seed and -size-mb always produce the same keys, values and
// expiries; only stream consumer-group delivery times (set by the server)
// differ between runs. Expiries are absolute and fixed in 2100, so no key
// expires while the dump is built or read.
//
// What it writes, for -size-mb 1100 (smaller sizes scale the big keys down):
//
//   - about 3.6 million small keys: integer strings (counter:*), embedded
//     strings (user:N:session), raw strings of 45-500 bytes (cache:page:*,
//     session:*, user:N:json), small hashes, sets (intset and hashtable),
//     sorted sets and lists (listpack encodings); about a quarter have a TTL;
//   - about 0.1% larger collections: hashtable hashes, big sets, skiplist
//     sorted sets and multi-node quicklists;
//   - big keys: a 5-million-member sorted set, a 1-million-field hash, a
//     2-million-member set, a 1-million-item list, a 32 MB and an 8 MB string;
//   - three streams of 120k-200k entries with deleted entries and consumer
//     groups holding pending entries (XREADGROUP without XACK);
//   - 20,000 keys in database 1.
//
// Commands go out either through go-redis pipelines on -workers connections
// (the default), or as RESP on stdout with -resp, to be fed to
// `redis-cli --pipe`. Logs go to stderr.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Calibrated against dumps written by redis-server 7.0.15 (RDB 10).
const (
	// bulkBytesPerIndex is the average number of dump bytes one bulk index adds.
	bulkBytesPerIndex = 230
	// bigBytes is the dump size of the big keys, streams and db 1 at scale 1.
	bigBytes = 307 << 20
	// fullScaleMB is the -size-mb at and above which big keys have full size.
	fullScaleMB = 1000
	// expireBase is 2100-01-01T00:00:00Z in Unix milliseconds.
	expireBase = 4102444800000
	// streamBaseMS is the first stream entry's millisecond time (2023-11-14).
	streamBaseMS = 1700000000000
)

// RNG stream identifiers: every key or chunk draws from its own generator
// seeded with (seed, stream<<40 | index), so tasks can run in any order.
const (
	rngBuffer = iota + 1
	rngBulk
	rngZset
	rngHash
	rngSet
	rngList
	rngStream
	rngString
	rngDB1
)

type options struct {
	addr      string
	password  string
	sizeMB    int
	seed      uint64
	workers   int
	batch     int
	resp      bool
	force     bool
	bulkCount int
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:6379", "redis-server address `host:port`")
	flag.StringVar(&o.password, "password", os.Getenv("REDISCLI_AUTH"), "password (default $REDISCLI_AUTH)")
	flag.IntVar(&o.sizeMB, "size-mb", 1100, "approximate dump size in MiB")
	flag.Uint64Var(&o.seed, "seed", 1, "seed; equal seeds give equal data")
	flag.IntVar(&o.workers, "workers", 4, "concurrent pipelined connections")
	flag.IntVar(&o.batch, "batch", 1000, "commands per pipeline round trip")
	flag.BoolVar(&o.resp, "resp", false, "write RESP to stdout (for redis-cli --pipe) instead of connecting")
	flag.BoolVar(&o.force, "force", false, "write even if the database is not empty")
	flag.IntVar(&o.bulkCount, "bulk-keys", -1, "number of bulk (small) keys; -1 derives it from -size-mb")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, log, o); err != nil {
		log.Error("gendump failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, o options) error {
	if o.sizeMB <= 0 || o.workers <= 0 || o.batch <= 0 {
		return errors.New("-size-mb, -workers and -batch must be positive")
	}
	g := newGen(o)
	tasks := g.tasks()
	log.Info("plan", "size_mb", o.sizeMB, "seed", o.seed, "scale", g.scale, "bulk_keys", g.bulk, "tasks", len(tasks), "resp", o.resp)

	start := time.Now()
	var sent atomic.Int64
	if o.resp {
		s := &respSink{w: bufio.NewWriterSize(os.Stdout, 1<<20), sent: &sent}
		db := 0
		for _, t := range tasks {
			if t.db != db {
				if err := s.cmd("SELECT", t.db); err != nil {
					return err
				}
				db = t.db
			}
			if err := t.run(s); err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
		}
		if err := s.flush(); err != nil {
			return err
		}
		log.Info("done", "commands", sent.Load(), "elapsed", time.Since(start).Round(time.Millisecond))
		return nil
	}

	var clients [2]*redis.Client // databases 0 and 1
	for db := range clients {
		clients[db] = redis.NewClient(&redis.Options{
			Addr: o.addr, Password: o.password, DB: db, Protocol: 2,
			PoolSize: o.workers + 1, DisableIdentity: true,
			ReadTimeout: 5 * time.Minute, WriteTimeout: 5 * time.Minute,
		})
		defer clients[db].Close()
	}
	c0, c1 := clients[0], clients[1]
	if err := c0.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping %s: %w", o.addr, err)
	}
	if !o.force {
		for db, c := range map[int]*redis.Client{0: c0, 1: c1} {
			n, err := c.DBSize(ctx).Result()
			if err != nil {
				return fmt.Errorf("dbsize: %w", err)
			}
			if n > 0 {
				return fmt.Errorf("database %d holds %d keys; use an empty server or -force", db, n)
			}
		}
	}

	ch := make(chan task)
	errc := make(chan error, o.workers)
	var done atomic.Int64
	var wg gosync.WaitGroup
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range ch {
				s := &clientSink{ctx: ctx, pipe: clients[t.db].Pipeline(), batch: o.batch, sent: &sent}
				err := t.run(s)
				if err == nil {
					err = s.flush()
				}
				if err != nil {
					errc <- fmt.Errorf("%s: %w", t.name, err)
					return
				}
				done.Add(1)
			}
		}()
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var err error
feed:
	for _, t := range tasks {
		for {
			select {
			case ch <- t:
				continue feed
			case err = <-errc:
				break feed
			case <-ctx.Done():
				err = ctx.Err()
				break feed
			case <-tick.C:
				el := time.Since(start).Seconds()
				log.Info("progress", "tasks_done", done.Load(), "tasks", len(tasks), "commands", sent.Load(), "cmd_per_s", int(float64(sent.Load())/el))
			}
		}
	}
	close(ch)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	if err != nil {
		return err
	}
	el := time.Since(start)
	n0, _ := c0.DBSize(ctx).Result()
	n1, _ := c1.DBSize(ctx).Result()
	mem, _ := c0.Info(ctx, "memory").Result()
	log.Info("done", "commands", sent.Load(), "elapsed", el.Round(time.Millisecond),
		"cmd_per_s", int(float64(sent.Load())/el.Seconds()), "keys_db0", n0, "keys_db1", n1,
		"used_memory", infoField(mem, "used_memory_human"))
	return nil
}

func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return v
		}
	}
	return ""
}

// sink receives commands in order. Arguments are string, []byte, int or
// float64; byte slices must stay unchanged until flush returns.
type sink interface {
	cmd(args ...any) error
	flush() error
}

type clientSink struct {
	ctx   context.Context
	pipe  redis.Pipeliner
	batch int
	n     int
	bytes int
	sent  *atomic.Int64
}

func (s *clientSink) cmd(args ...any) error {
	s.pipe.Do(s.ctx, args...)
	s.n++
	for _, a := range args {
		switch a := a.(type) {
		case string:
			s.bytes += len(a)
		case []byte:
			s.bytes += len(a)
		default:
			s.bytes += 8
		}
	}
	if s.n >= s.batch || s.bytes >= 16<<20 {
		return s.flush()
	}
	return nil
}

func (s *clientSink) flush() error {
	if s.n == 0 {
		return nil
	}
	cmds, _ := s.pipe.Exec(s.ctx)
	s.sent.Add(int64(s.n))
	s.n, s.bytes = 0, 0
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("%v: %w", c.Args()[0], err)
		}
	}
	return s.ctx.Err()
}

type respSink struct {
	w       *bufio.Writer
	scratch []byte
	sent    *atomic.Int64
}

func (s *respSink) cmd(args ...any) error {
	s.sent.Add(1)
	b := append(s.scratch[:0], '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		var v []byte
		var str string
		isStr := false
		switch a := a.(type) {
		case string:
			str, isStr = a, true
		case []byte:
			v = a
		case int:
			str, isStr = strconv.Itoa(a), true
		case float64:
			str, isStr = strconv.FormatFloat(a, 'f', -1, 64), true
		default:
			return fmt.Errorf("unsupported argument type %T", a)
		}
		n := len(v)
		if isStr {
			n = len(str)
		}
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, '\r', '\n')
		if len(b) > 64<<10 {
			if _, err := s.w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
		if isStr {
			b = append(b, str...)
		} else if n > 64<<10 {
			if _, err := s.w.Write(b); err != nil {
				return err
			}
			if _, err := s.w.Write(v); err != nil {
				return err
			}
			b = b[:0]
		} else {
			b = append(b, v...)
		}
		b = append(b, '\r', '\n')
	}
	s.scratch = b
	_, err := s.w.Write(b)
	return err
}

func (s *respSink) flush() error { return s.w.Flush() }

var _ sink = (*clientSink)(nil)
var _ sink = (*respSink)(nil)

// task writes one independent part of the data set to database db.
type task struct {
	name string
	db   int
	run  func(s sink) error
}

type gen struct {
	seed  uint64
	scale float64
	bulk  int
	buf   []byte // random printable bytes that values are sliced from
}

func newGen(o options) *gen {
	g := &gen{seed: o.seed, scale: min(1, float64(o.sizeMB)/fullScaleMB)}
	if o.bulkCount >= 0 {
		g.bulk = o.bulkCount
	} else {
		rest := float64(o.sizeMB)*(1<<20) - g.scale*bigBytes
		g.bulk = max(0, int(rest/bulkBytesPerIndex))
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	r := g.rng(rngBuffer, 0)
	g.buf = make([]byte, 4<<20)
	for i := range g.buf {
		g.buf[i] = alphabet[r.IntN(len(alphabet))]
	}
	return g
}

func (g *gen) rng(stream, index int) *rand.Rand {
	return rand.New(rand.NewPCG(g.seed, uint64(stream)<<40|uint64(index)))
}

// n scales a big-key size, keeping at least 1.
func (g *gen) n(full int) int { return max(1, int(float64(full)*g.scale)) }

// rnd returns n random printable bytes; the slice aliases g.buf.
func (g *gen) rnd(r *rand.Rand, n int) []byte {
	off := r.IntN(len(g.buf) - n)
	return g.buf[off : off+n : off+n]
}

func expireAt(r *rand.Rand) int { return expireBase + r.IntN(30*86400000) }

var (
	apps      = []string{"web", "api", "mobile", "batch", "admin"}
	countries = []string{"US", "DE", "FR", "BR", "IN", "JP", "GB", "CA", "ES", "IT"}
	statuses  = []string{"new", "paid", "packed", "shipped", "delivered", "returned"}
	levels    = []string{"DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR"}
)

func (g *gen) tasks() []task {
	var ts []task
	// Streams and the list first: they are sequential and long.
	for i, st := range []struct {
		key     string
		entries int
	}{{"stream:orders", 200000}, {"stream:clicks", 150000}, {"stream:logs", 120000}} {
		ts = append(ts, task{name: st.key, run: func(s sink) error { return g.stream(s, st.key, i, g.n(st.entries)) }})
	}
	ts = append(ts, task{name: "queue:events", run: func(s sink) error { return g.bigList(s, "queue:events", g.n(1000000)) }})
	ts = append(ts, chunked("events:by-time", g.n(5000000), 100000, func(s sink, c, from, to int) error {
		return g.bigZset(s, "events:by-time", c, from, to)
	})...)
	ts = append(ts, chunked("index:email", g.n(1000000), 100000, func(s sink, c, from, to int) error {
		return g.bigHash(s, "index:email", c, from, to)
	})...)
	ts = append(ts, chunked("online:sessions", g.n(2000000), 100000, func(s sink, c, from, to int) error {
		return g.bigSet(s, "online:sessions", c, from, to)
	})...)
	for i, size := range []int{32 << 20, 8 << 20} {
		key := fmt.Sprintf("blob:snapshot:%d", i+1)
		ts = append(ts, task{name: key, run: func(s sink) error { return g.bigString(s, key, i, g.n(size)) }})
	}
	for _, t := range chunked("db1", g.n(20000), 5000, func(s sink, _, from, to int) error {
		return g.db1(s, from, to)
	}) {
		t.db = 1
		ts = append(ts, t)
	}
	ts = append(ts, chunked("bulk", g.bulk, 20000, func(s sink, _, from, to int) error {
		for i := from; i < to; i++ {
			if err := g.bulkKey(s, i); err != nil {
				return err
			}
		}
		return nil
	})...)
	return ts
}

func chunked(name string, total, size int, f func(s sink, chunk, from, to int) error) []task {
	var ts []task
	for c, from := 0, 0; from < total; c, from = c+1, from+size {
		to := min(total, from+size)
		ts = append(ts, task{name: fmt.Sprintf("%s[%d:%d]", name, from, to), run: func(s sink) error { return f(s, c, from, to) }})
	}
	return ts
}

// bulkKey writes the small key number i; its kind and content depend only on
// the seed and i.
func (g *gen) bulkKey(s sink, i int) error {
	r := g.rng(rngBulk, i)
	p := r.IntN(1000)
	switch {
	case p < 220: // integer strings, all four integer widths
		mag := []int{100, 30000, 2000000000, 1 << 62}[r.IntN(4)]
		v := r.IntN(mag)
		if r.IntN(10) == 0 {
			return s.cmd("SET", fmt.Sprintf("ratelimit:%s:%d", apps[i%len(apps)], i), v, "PXAT", expireAt(r))
		}
		return s.cmd("SET", fmt.Sprintf("counter:%s:%d", apps[i%len(apps)], i), v)
	case p < 470: // embedded strings (<= 44 bytes)
		key := fmt.Sprintf("user:%d:session", i)
		v := g.rnd(r, 16+r.IntN(29))
		if r.IntN(100) < 35 {
			return s.cmd("SET", key, v, "PXAT", expireAt(r))
		}
		return s.cmd("SET", key, v)
	case p < 700: // raw strings 100-500 bytes
		key := fmt.Sprintf("cache:page:%d", i)
		v := g.rnd(r, 100+r.IntN(401))
		if r.IntN(100) < 40 {
			return s.cmd("SET", key, v, "PXAT", expireAt(r))
		}
		return s.cmd("SET", key, v)
	case p < 720: // JSON documents
		v := fmt.Sprintf(`{"id":%d,"name":"%s","email":"%s@example.com","country":"%s","age":%d,"bio":"%s"}`,
			i, g.rnd(r, 6+r.IntN(10)), g.rnd(r, 8), countries[r.IntN(len(countries))], 18+r.IntN(60), g.rnd(r, 20+r.IntN(200)))
		return s.cmd("SET", fmt.Sprintf("user:%d:json", i), v)
	case p < 800: // small hashes (listpack)
		key := fmt.Sprintf("user:%d:profile", i)
		args := []any{"HSET", key,
			"name", g.rnd(r, 5+r.IntN(12)), "email", fmt.Sprintf("%s@example.com", g.rnd(r, 8)),
			"age", 18 + r.IntN(70), "country", countries[r.IntN(len(countries))],
			"created_at", 1500000000 + r.IntN(200000000)}
		for f := range r.IntN(16) {
			args = append(args, fmt.Sprintf("pref_%d", f), g.rnd(r, 1+r.IntN(24)))
		}
		if err := s.cmd(args...); err != nil {
			return err
		}
		if r.IntN(5) == 0 {
			return s.cmd("PEXPIREAT", key, expireAt(r))
		}
		return nil
	case p < 820: // small integer sets (intset)
		args := []any{"SADD", fmt.Sprintf("user:%d:follows", i)}
		for range 1 + r.IntN(60) {
			args = append(args, r.IntN(10000000))
		}
		return s.cmd(args...)
	case p < 840: // small string sets (hashtable in Redis 7.0)
		args := []any{"SADD", fmt.Sprintf("tags:%d", i)}
		for range 1 + r.IntN(20) {
			args = append(args, g.rnd(r, 3+r.IntN(10)))
		}
		return s.cmd(args...)
	case p < 880: // small sorted sets (listpack)
		args := []any{"ZADD", fmt.Sprintf("scores:%d", i)}
		for range 1 + r.IntN(50) {
			args = append(args, float64(r.IntN(100000))/10, fmt.Sprintf("player:%d", r.IntN(10000000)))
		}
		return s.cmd(args...)
	case p < 920: // small lists (one listpack node)
		args := []any{"RPUSH", fmt.Sprintf("feed:%d", i)}
		for range 1 + r.IntN(60) {
			if r.IntN(3) == 0 {
				args = append(args, r.IntN(1000000000))
			} else {
				args = append(args, g.rnd(r, 8+r.IntN(24)))
			}
		}
		return s.cmd(args...)
	case p < 999: // session blobs just above the embstr limit
		key := fmt.Sprintf("session:%016x", mix(g.seed^uint64(i)))
		v := g.rnd(r, 45+r.IntN(76))
		if r.IntN(2) == 0 {
			return s.cmd("SET", key, v, "PXAT", expireAt(r))
		}
		return s.cmd("SET", key, v)
	default: // larger collections: hashtable, big set, skiplist, quicklist
		return g.largeKey(s, r, i)
	}
}

func (g *gen) largeKey(s sink, r *rand.Rand, i int) error {
	var args []any
	flushArgs := func() error {
		if len(args) <= 2 {
			return nil
		}
		err := s.cmd(args...)
		args = append([]any(nil), args[:2]...) // the pipeline keeps the old slice
		return err
	}
	add := func(a ...any) error {
		args = append(args, a...)
		if len(args) >= 1000 {
			return flushArgs()
		}
		return nil
	}
	switch r.IntN(4) {
	case 0:
		args = []any{"HSET", fmt.Sprintf("order:%d:items", i)}
		for f := range 200 + r.IntN(1800) {
			if err := add(fmt.Sprintf("sku:%d", f), g.rnd(r, 5+r.IntN(80))); err != nil {
				return err
			}
		}
	case 1:
		args = []any{"SADD", fmt.Sprintf("group:%d:members", i)}
		for range 600 + r.IntN(2400) {
			if err := add(fmt.Sprintf("user:%d", r.IntN(100000000))); err != nil {
				return err
			}
		}
	case 2:
		args = []any{"ZADD", fmt.Sprintf("ranking:%d", i)}
		for m := range 200 + r.IntN(1800) {
			if err := add(r.Float64()*1e6, fmt.Sprintf("item:%d:%s", m, g.rnd(r, 4))); err != nil {
				return err
			}
		}
	default:
		args = []any{"RPUSH", fmt.Sprintf("timeline:%d", i)}
		for range 500 + r.IntN(4500) {
			if err := add(g.rnd(r, 10+r.IntN(60))); err != nil {
				return err
			}
		}
	}
	return flushArgs()
}

func (g *gen) bigZset(s sink, key string, chunk, from, to int) error {
	// Scores grow with the member number, like a time index: random scores
	// make each skiplist insert into a 5M-member set cost ~15 us in Redis.
	r := g.rng(rngZset, chunk)
	for lo := from; lo < to; lo += 1000 {
		args := []any{"ZADD", key}
		for j := lo; j < min(to, lo+1000); j++ {
			args = append(args, 1.7e9+float64(j)+float64(r.IntN(1000))/1000, "player:"+strconv.Itoa(j))
		}
		if err := s.cmd(args...); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) bigHash(s sink, key string, chunk, from, to int) error {
	r := g.rng(rngHash, chunk)
	for lo := from; lo < to; lo += 1000 {
		args := []any{"HSET", key}
		for j := lo; j < min(to, lo+1000); j++ {
			args = append(args, fmt.Sprintf("u%d@example.com", j), g.rnd(r, 16))
		}
		if err := s.cmd(args...); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) bigSet(s sink, key string, chunk, from, to int) error {
	for lo := from; lo < to; lo += 1000 {
		args := []any{"SADD", key}
		for j := lo; j < min(to, lo+1000); j++ {
			args = append(args, fmt.Sprintf("sess:%016x", mix(g.seed<<32^uint64(j))))
		}
		if err := s.cmd(args...); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) bigList(s sink, key string, n int) error {
	r := g.rng(rngList, 0)
	for lo := 0; lo < n; lo += 1000 {
		args := []any{"RPUSH", key}
		for j := lo; j < min(n, lo+1000); j++ {
			args = append(args, fmt.Sprintf(`{"seq":%d,"type":"%s","payload":"%s"}`, j, statuses[r.IntN(len(statuses))], g.rnd(r, 10+r.IntN(50))))
		}
		if err := s.cmd(args...); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) bigString(s sink, key string, idx, n int) error {
	r := g.rng(rngString, idx)
	v := make([]byte, 0, n)
	for len(v) < n {
		v = append(v, g.rnd(r, min(n-len(v), 1<<20))...)
	}
	return s.cmd("SET", key, v)
}

// stream writes n entries with explicit IDs, deletes every 97th, and creates
// consumer groups that leave entries pending.
func (g *gen) stream(s sink, key string, idx, n int) error {
	r := g.rng(rngStream, idx)
	ids := make([]string, n)
	ms, seq := streamBaseMS, 0
	for j := range n {
		if r.IntN(4) == 0 {
			seq++ // several entries in the same millisecond
		} else {
			ms, seq = ms+1+r.IntN(20), 0
		}
		ids[j] = strconv.Itoa(ms) + "-" + strconv.Itoa(seq)
		var fields []any
		switch key {
		case "stream:orders":
			fields = []any{"order_id", 1000000 + j, "user_id", r.IntN(5000000), "amount", fmt.Sprintf("%d.%02d", r.IntN(500), r.IntN(100)),
				"status", statuses[r.IntN(len(statuses))], "note", g.rnd(r, 10+r.IntN(40))}
		case "stream:clicks":
			fields = []any{"user", r.IntN(5000000), "page", fmt.Sprintf("/p/%d", r.IntN(100000)), "ref", g.rnd(r, 8+r.IntN(20))}
		default:
			fields = []any{"level", levels[r.IntN(len(levels))], "host", fmt.Sprintf("app-%02d", r.IntN(40)), "msg", g.rnd(r, 30+r.IntN(120))}
			if r.IntN(10) == 0 {
				fields = append(fields, "trace", g.rnd(r, 32))
			}
		}
		if err := s.cmd(append([]any{"XADD", key, ids[j]}, fields...)...); err != nil {
			return err
		}
	}
	for lo := 0; lo < n; lo += 97 * 500 {
		args := []any{"XDEL", key}
		for j := lo + 50; j < min(n, lo+97*500); j += 97 {
			args = append(args, ids[j])
		}
		if len(args) > 2 {
			if err := s.cmd(args...); err != nil {
				return err
			}
		}
	}
	// Group "workers": three consumers read 1/4 of the stream, ack 2/3 of it.
	// Group "audit": reads everything in one consumer, acks nothing of the
	// last 1000. Group "late": created at the end, nothing pending.
	groups := []struct {
		name      string
		consumers []string
		read      int
		ackEvery  int
	}{
		{"workers", []string{"worker-1", "worker-2", "worker-3"}, n / 4, 3},
		{"audit", []string{"auditor"}, n, 0},
	}
	for _, gr := range groups {
		if err := s.cmd("XGROUP", "CREATE", key, gr.name, "0"); err != nil {
			return err
		}
		read := 0
		for c := 0; read < gr.read; c++ {
			cnt := min(1000, gr.read-read)
			if err := s.cmd("XREADGROUP", "GROUP", gr.name, gr.consumers[c%len(gr.consumers)], "COUNT", cnt, "STREAMS", key, ">"); err != nil {
				return err
			}
			read += cnt
		}
		// Bound the replies a pipeline holds before the acks.
		if err := s.flush(); err != nil {
			return err
		}
		last := min(n, gr.read)
		acks := []any{"XACK", key, gr.name}
		for j := 0; j < last; j++ {
			ack := gr.ackEvery > 0 && j%gr.ackEvery != 0 || gr.ackEvery == 0 && j < last-1000
			if !ack {
				continue
			}
			acks = append(acks, ids[j])
			if len(acks) >= 1003 {
				if err := s.cmd(acks...); err != nil {
					return err
				}
				acks = append([]any(nil), acks[:3]...) // the pipeline keeps the old slice
			}
		}
		if len(acks) > 3 {
			if err := s.cmd(acks...); err != nil {
				return err
			}
		}
	}
	return s.cmd("XGROUP", "CREATE", key, "late", "$")
}

func (g *gen) db1(s sink, from, to int) error {
	for i := from; i < to; i++ {
		r := g.rng(rngDB1, i)
		key := fmt.Sprintf("job:%d", i)
		if i%4 == 0 {
			if err := s.cmd("HSET", key, "state", statuses[r.IntN(len(statuses))], "tries", r.IntN(5), "payload", g.rnd(r, 20+r.IntN(100))); err != nil {
				return err
			}
			continue
		}
		if err := s.cmd("SET", key, g.rnd(r, 10+r.IntN(200)), "PXAT", expireAt(r)); err != nil {
			return err
		}
	}
	return nil
}

// mix is splitmix64's finalizer, a bijection, so distinct inputs give
// distinct key names.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
