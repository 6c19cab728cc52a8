package sync

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// TestSyncFilter syncs with a filter on databases, key patterns and
// commands, in the full sync and in the stream: multi-key commands keep
// only the keys inside the filter, a command that cannot be split stops
// the sync with its offset.
func TestSyncFilter(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	dst := redistest.Start(t, redistest.Options{})
	do := func(db int, args ...any) {
		t.Helper()
		c := src.Client().Conn()
		defer c.Close()
		if err := c.Do(ctx, "SELECT", db).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	do(0, "SET", "keep:1", "a")
	do(0, "SET", "drop:1", "a")
	do(0, "SET", "keep:secret1", "a")
	do(1, "SET", "keep:2", "a")
	do(2, "SET", "keep:3", "a")

	opts := syncOptions(t, src, dst)
	opts.Filter = &SyncFilter{Keys: &rdb.Filter{DBs: []int{0, 1}, Match: "keep:*"}, Exclude: []string{"keep:secret*"},
		DBMap: map[int]int{1: 5}, Deny: []string{"FLUSHDB"}}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, errc := runSync(rctx, opts)
	for s.Status().Phase != PhaseStreaming {
		time.Sleep(5 * time.Millisecond)
	}
	do(0, "SET", "keep:a", "1")
	do(0, "SET", "drop:a", "1")
	do(0, "MSET", "keep:x", "1", "drop:y", "2", "keep:secret2", "3")
	do(0, "DEL", "keep:1", "drop:1")
	do(1, "LPUSH", "keep:l", "a")
	do(2, "SET", "keep:z", "1")
	do(0, "EVAL", "redis.call('SET', KEYS[1], 'e'); return redis.call('INCR', KEYS[2])", 2, "keep:e", "drop:e")
	do(0, "FLUSHDB")
	do(0, "SET", "keep:last", "1")

	want := map[int][]string{0: {"keep:a", "keep:e", "keep:last", "keep:x", CheckpointKey(src.Addr())}, 5: {"keep:2", "keep:l"}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[int][]string{}
		for db := range 16 {
			c := dst.Client().Conn()
			c.Do(ctx, "SELECT", db)
			keys, _ := c.Keys(ctx, "*").Result()
			c.Close()
			if len(keys) > 0 {
				slices.Sort(keys)
				got[db] = keys
			}
		}
		if equalKeys(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("target keys %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := s.Status(); st.Skipped < 3 {
		t.Errorf("status: %+v", st)
	}
	// A RENAME from inside the filter to outside cannot be split.
	do(0, "RENAME", "keep:last", "drop:last")
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "RENAME touches keys both inside and outside the filter") {
			t.Fatalf("error %v", err)
		}
		t.Log(err)
	case <-time.After(10 * time.Second):
		t.Fatal("the sync did not stop on RENAME")
	}
}

func equalKeys(a, b map[int][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// FuzzFilterCommand feeds arbitrary commands through the filter's key
// extraction: no panic, and a rewritten command keeps its name and only
// arguments of the original.
func FuzzFilterCommand(f *testing.F) {
	table := commandTable{
		"set": {first: 1, last: 1, step: 1, typ: rdb.TypeString}, "del": {first: 1, last: -1, step: 1},
		"mset": {first: 1, last: -1, step: 2, typ: rdb.TypeString}, "rename": {first: 1, last: 2, step: 1},
		"eval": {movable: true}, "zunionstore": {first: 1, last: 1, step: 1, movable: true, typ: rdb.TypeZSet},
		"xgroup": {}, "xgroup|create": {first: 2, last: 2, step: 1, typ: rdb.TypeStream},
		"blmpop": {movable: true, typ: rdb.TypeList}, "lmpop": {movable: true},
	}
	filter := &SyncFilter{Keys: &rdb.Filter{Match: "k*"}, Exclude: []string{"kx*"}}
	for _, s := range []string{"set\x00k1\x00v", "del\x00k1\x00a\x00kx", "mset\x00k\x001\x00a\x002\x00k3", "eval\x00s\x002\x00k\x00a",
		"zunionstore\x00k\x002\x00a\x00k", "xgroup\x00create\x00k\x00g\x00$", "eval\x00s\x00-1", "lmpop\x0099\x00k", "rename\x00k\x00a"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		args := bytes.Split(in, []byte{0})
		if len(args[0]) == 0 {
			return
		}
		out, err := table.filterCommand(filter, args, nil)
		if err != nil || out == nil {
			return
		}
		if !bytes.Equal(out[0], args[0]) || len(out) > len(args) {
			t.Fatalf("%q -> %q", args, out)
		}
	})
}
