package redistest

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Writer issues a mix of writes to a server until halted: INCR, LPUSH,
// APPEND, XADD and other non-idempotent commands, MULTI/EXEC, EVAL,
// expiring keys (TTLs of 1000 to 2000 s, so that none expires during a
// test), several databases.
type Writer struct {
	stop   chan struct{}
	done   chan struct{}
	rounds atomic.Int64 // rounds done
	err    error
	once   sync.Once
}

func StartWriter(t testing.TB, src *Server, seed uint64) *Writer {
	return StartWriterDBs(t, src, seed, 3)
}

// StartWriterDBs is StartWriter over databases 0 to dbs-1.
func StartWriterDBs(t testing.TB, src *Server, seed uint64, dbs int) *Writer {
	w := &Writer{stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() {
		w.once.Do(func() { close(w.stop) })
		<-w.done
	})
	go func() {
		defer close(w.done)
		c := redis.NewClient(&redis.Options{Addr: src.Addr(), Password: src.password, PoolSize: 1})
		defer c.Close()
		rng := rand.New(rand.NewPCG(seed, 0))
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			if err := writeRound(context.Background(), c, rng, i, dbs); err != nil {
				w.err = err
				return
			}
			w.rounds.Add(1)
		}
	}()
	return w
}

// WaitRounds waits until the writer has done n rounds.
func (w *Writer) WaitRounds(t testing.TB, n int64) {
	t.Helper()
	for w.rounds.Load() < n {
		select {
		case <-w.done:
			t.Fatalf("writer: %v", w.err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Halt stops the writer and returns how many rounds it did.
func (w *Writer) Halt(t testing.TB) int64 {
	t.Helper()
	w.once.Do(func() { close(w.stop) })
	<-w.done
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
	return w.rounds.Load()
}

func writeRound(ctx context.Context, c *redis.Client, rng *rand.Rand, i, dbs int) error {
	k := strconv.Itoa(rng.IntN(200))
	db := i % dbs
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "SELECT", db)
		p.Incr(ctx, "w:n:"+k)
		p.LPush(ctx, "w:l:"+k, i)
		p.Append(ctx, "w:s:"+k, "x")
		p.XAdd(ctx, &redis.XAddArgs{Stream: "w:x:" + k, Values: []any{"i", i}})
		p.HIncrBy(ctx, "w:h", k, 1)
		p.ZIncrBy(ctx, "w:z", 1, k)
		p.Set(ctx, "w:e:"+k, i, time.Duration(1000+rng.IntN(1000))*time.Second)
		if i%7 == 0 {
			p.Del(ctx, "w:l:"+k)
		}
		if i%11 == 0 {
			p.LPop(ctx, "w:l:"+strconv.Itoa(rng.IntN(200)))
		}
		p.Do(ctx, "SELECT", 0)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	if i%5 == 0 {
		_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Incr(ctx, "tx:a")
			p.RPush(ctx, "tx:l", i)
			p.Decr(ctx, "tx:b")
			return nil
		})
		if err != nil {
			return err
		}
	}
	if i%9 == 0 {
		return c.Eval(ctx, "redis.call('INCRBY', KEYS[1], ARGV[1]); return redis.call('RPUSH', KEYS[2], ARGV[1])",
			[]string{"lua:n", "lua:l"}, i).Err()
	}
	return nil
}

// Rounds is how many rounds the writer has done.
func (w *Writer) Rounds() int64 { return w.rounds.Load() }
