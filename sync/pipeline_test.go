package sync

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/redistest"
)

func bs(args ...string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

// testLog sends the Writer's log lines to t.Log.
func testLog(t *testing.T) func(string, ...any) {
	var mu gosync.Mutex
	done := false
	t.Cleanup(func() { mu.Lock(); done = true; mu.Unlock() })
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Logf(format, args...)
		}
	}
}

// mixed returns the i-th command of a deterministic mix over dbs
// databases: SET, RPUSH (order-sensitive), INCR, HSET, DEL, and every
// 997th an HINCRBY by a non-number (an ERR error reply).
func mixed(i, dbs int) (db int, args []string, wantErr bool) {
	db = i % dbs
	k := strconv.Itoa(i % 1000)
	switch i % 7 {
	case 0, 1:
		return db, []string{"SET", "s:" + k, "v" + strconv.Itoa(i)}, false
	case 2, 3:
		return db, []string{"RPUSH", "l:" + k, strconv.Itoa(i)}, false
	case 4:
		return db, []string{"INCR", "c:" + k}, false
	case 5:
		if i%997 == 5 {
			return db, []string{"HINCRBY", "h:" + k, "f", "not-a-number"}, true
		}
		return db, []string{"HSET", "h:" + k, "f" + strconv.Itoa(i%13), strconv.Itoa(i)}, false
	default:
		return db, []string{"DEL", "d:" + k}, false
	}
}

func TestWriterStandaloneMixed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := redistest.Start(t, redistest.Options{})
	ref := redistest.Start(t, redistest.Options{})
	const n, dbs = 100_000, 4

	w, err := NewWriter(ctx, srv.Addr(), false, WriterOptions{Depth: 256, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if w.Cluster() {
		t.Error("Cluster() = true on a standalone server")
	}
	var done, errs atomic.Int64
	var next atomic.Int64 // Done must come in Send order
	var outOfOrder atomic.Int64
	args := make([][]byte, 0, 4) // reused: the Writer must copy
	for i := range n {
		db, a, wantErr := mixed(i, dbs)
		args = args[:0]
		for _, s := range a {
			args = append(args, []byte(s))
		}
		err := w.Send(ctx, &Command{DB: db, Key: args[1], Args: args, Idempotent: true,
			Done: func(v aof.Value, err error) {
				if next.Add(1)-1 != int64(i) {
					outOfOrder.Add(1)
				}
				done.Add(1)
				if (err != nil) != wantErr {
					t.Errorf("command %d %q: err %v, want error %v", i, a, err, wantErr)
				}
				if err != nil {
					if ErrorCode(err) != "ERR" {
						t.Errorf("command %d: %v, want ERR", i, err)
					}
					errs.Add(1)
				}
			}})
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		for j := range args { // scribble over the caller's slices
			args[j] = append(args[j][:0], "garbage"...)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := done.Load(); got != n {
		t.Errorf("Done called %d times, want %d", got, n)
	}
	if got := outOfOrder.Load(); got != 0 {
		t.Errorf("%d Done calls out of order", got)
	}
	if errs.Load() == 0 {
		t.Error("no error reply seen")
	}
	st := w.Stats()
	if st.Commands != n || st.Bytes == 0 {
		t.Errorf("stats %+v, want %d commands", st, n)
	}

	// The same commands, one by one in batches through go-redis, into
	// a reference server: the digests must match.
	refc := redis.NewClient(&redis.Options{Addr: ref.Addr(), DB: 0, DisableIdentity: true})
	defer refc.Close()
	for db := range dbs {
		c := redis.NewClient(&redis.Options{Addr: ref.Addr(), DB: db, DisableIdentity: true})
		for start := 0; start < n; start += 5000 {
			pl := c.Pipeline()
			for i := start; i < start+5000 && i < n; i++ {
				if d, a, _ := mixed(i, dbs); d == db {
					xs := make([]any, len(a))
					for j := range a {
						xs[j] = a[j]
					}
					pl.Do(ctx, xs...)
				}
			}
			pl.Exec(ctx) // error replies expected
		}
		c.Close()
	}
	got, err := srv.Do(ctx, "DEBUG", "DIGEST")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Do(ctx, "DEBUG", "DIGEST")
	if err != nil {
		t.Fatal(err)
	}
	if got != want || strings.Trim(fmt.Sprint(got), "0") == "" {
		t.Errorf("DEBUG DIGEST %v, want %v", got, want)
	}
}

func TestWriterStandaloneErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := redistest.Start(t, redistest.Options{Config: []string{"databases 4"}})
	w, err := NewWriter(ctx, srv.Addr(), false, WriterOptions{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		v   aof.Value
		err error
	}
	results := make([]result, 4)
	send := func(i, db int, args ...string) {
		if err := w.Send(ctx, &Command{DB: db, Args: bs(args...), Done: func(v aof.Value, err error) {
			results[i] = result{v, err}
		}}); err != nil {
			t.Fatal(err)
		}
	}
	send(0, 0, "SET", "k", "v")
	send(1, 0, "NOSUCHCOMMAND")
	send(2, 9, "SET", "k", "v") // out of range: never SELECTed
	send(3, 3, "GET", "k")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.err != nil || string(r.v.Str) != "OK" {
		t.Errorf("SET: %+v", r)
	}
	if r := results[1]; ErrorCode(r.err) != "ERR" {
		t.Errorf("unknown command: %+v", r)
	}
	if r := results[2]; r.err == nil || !strings.Contains(r.err.Error(), "out of range") {
		t.Errorf("db 9 of 4: %+v", r)
	}
	if r := results[3]; r.err != nil || !r.v.Null {
		t.Errorf("GET in db 3: %+v", r)
	}
	if err := w.Send(ctx, &Command{Args: bs("PING")}); err == nil {
		t.Error("Send after Close succeeded")
	}
}

// TestWriterStandaloneTransient makes the server answer MASTERDOWN (a
// replica of a master that does not answer, with stale reads refused)
// for a while: the commands are retried, none is lost.
func TestWriterStandaloneTransient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := redistest.Start(t, redistest.Options{Config: []string{"replica-read-only no", "replica-serve-stale-data no"}})
	w, err := NewWriter(ctx, srv.Addr(), false, WriterOptions{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do(ctx, "REPLICAOF", "127.0.0.1", "1"); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(500 * time.Millisecond)
		srv.Do(ctx, "REPLICAOF", "NO", "ONE")
	}()
	var failed atomic.Int64
	const n = 2000
	for i := range n {
		if err := w.Send(ctx, &Command{Args: bs("RPUSH", "l", strconv.Itoa(i)), Done: func(_ aof.Value, err error) {
			if err != nil {
				failed.Add(1)
				t.Errorf("RPUSH %d: %v", i, err)
			}
		}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Stats().Retries == 0 {
		t.Error("no retry: the server never answered MASTERDOWN?")
	}
	got, err := srv.Client().LRange(ctx, "l", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("list has %d elements, want %d", len(got), n)
	}
	for i, s := range got {
		if s != strconv.Itoa(i) {
			t.Fatalf("element %d is %s: order lost", i, s)
		}
	}
}

// TestWriterStandaloneReconnect kills the Writer's connection several
// times mid-stream: idempotent commands all land, non-idempotent ones
// in flight fail with ErrUnknownOutcome, nothing hangs.
func TestWriterStandaloneReconnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := redistest.Start(t, redistest.Options{})
	w, err := NewWriter(ctx, srv.Addr(), false, WriterOptions{Log: testLog(t), Conn: Options{Name: "redkit-writer"}})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	killed := make(chan int)
	go func() {
		kills := 0
		defer func() { killed <- kills }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(30 * time.Millisecond):
			}
			// A fresh connection each time: CLIENT KILL by name needs
			// a client on its own connection.
			c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DisableIdentity: true})
			list, _ := c.ClientList(ctx).Result()
			for _, line := range strings.Split(list, "\n") {
				if strings.Contains(line, "name=redkit-writer") {
					for _, f := range strings.Fields(line) {
						if id, ok := strings.CutPrefix(f, "id="); ok {
							if c.Do(ctx, "CLIENT", "KILL", "ID", id).Err() == nil {
								kills++
							}
						}
					}
				}
			}
			c.Close()
		}
	}()
	const n = 200_000
	var incrOK, unknown, other atomic.Int64
	for i := 0; i < n; i++ {
		cmd := &Command{Args: bs("SET", "k:"+strconv.Itoa(i), strconv.Itoa(i)), Idempotent: true,
			Done: func(_ aof.Value, err error) {
				if err != nil {
					other.Add(1)
					t.Errorf("SET %d: %v", i, err)
				}
			}}
		if i%10 == 0 {
			cmd = &Command{Args: bs("INCR", "counter"), Done: func(_ aof.Value, err error) {
				switch {
				case err == nil:
					incrOK.Add(1)
				case errors.Is(err, ErrUnknownOutcome):
					unknown.Add(1)
				default:
					other.Add(1)
					t.Errorf("INCR: %v", err)
				}
			}}
		}
		if err := w.Send(ctx, cmd); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		if i == n/2 {
			time.Sleep(200 * time.Millisecond) // let the killer find the connection
		}
	}
	close(stop)
	kills := <-killed
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := w.Stats()
	t.Logf("kills %d, stats %+v, INCR ok %d unknown %d", kills, st, incrOK.Load(), unknown.Load())
	if kills == 0 || st.Reconnects == 0 {
		t.Fatalf("the connection was never killed (kills %d, reconnects %d)", kills, st.Reconnects)
	}
	if other.Load() != 0 {
		t.Errorf("%d commands failed otherwise", other.Load())
	}
	sets := 0
	for i := 0; i < n; i += 1000 {
		c := srv.Client().Pipeline()
		var cmds []*redis.StringCmd
		for j := i; j < i+1000; j++ {
			if j%10 != 0 {
				cmds = append(cmds, c.Get(ctx, "k:"+strconv.Itoa(j)))
			}
		}
		c.Exec(ctx)
		for _, cmd := range cmds {
			if cmd.Err() != nil {
				t.Fatalf("%v: %v", cmd.Args(), cmd.Err())
			}
			sets++
		}
	}
	if sets != n-n/10 {
		t.Errorf("%d SETs landed, want %d", sets, n-n/10)
	}
	counter, err := srv.Client().Get(ctx, "counter").Int64()
	if err != nil {
		t.Fatal(err)
	}
	if ok, unk := incrOK.Load(), unknown.Load(); counter < ok || counter > ok+unk || ok+unk != n/10 {
		t.Errorf("counter %d, INCR ok %d, unknown %d (want ok <= counter <= ok+unknown, ok+unknown = %d)", counter, ok, unk, n/10)
	}
}

// TestWriterCancel: cancelling the Writer's context unblocks Send and
// Close even when the server does not answer.
func TestWriterCancel(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	w, err := NewWriter(ctx, srv.Addr(), false, WriterOptions{Depth: 4})
	if err != nil {
		t.Fatal(err)
	}
	// CLIENT PAUSE makes the server hold our replies.
	if _, err := srv.Do(context.Background(), "CLIENT", "PAUSE", "3000", "WRITE"); err != nil {
		t.Fatal(err)
	}
	defer srv.Do(context.Background(), "CLIENT", "UNPAUSE")
	var done atomic.Int64
	errc := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if err := w.Send(context.Background(), &Command{Args: bs("SET", "k", "v"), Idempotent: true,
				Done: func(aof.Value, error) { done.Add(1) }}); err != nil {
				errc <- err
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Send: %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Send still blocked after cancel")
	}
	start := time.Now()
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Errorf("Close: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	if done.Load() != 4 {
		t.Errorf("Done called %d times, want 4 (the commands in flight)", done.Load())
	}
}

// TestWriterPassword: a wrong password fails NewWriter, and neither the
// error nor the log lines of a reconnect show the password.
func TestWriterPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const pass = "s3cret-pass"
	srv := redistest.Start(t, redistest.Options{Password: pass})
	_, err := NewWriter(ctx, srv.Addr(), false, WriterOptions{Conn: Options{Password: "wrong-" + pass}})
	if err == nil || ErrorCode(err) != "WRONGPASS" || strings.Contains(err.Error(), pass) {
		t.Errorf("wrong password: %v", err)
	}
	var mu gosync.Mutex
	var lines []string
	w, err := NewWriter(ctx, srv.Addr(), false, WriterOptions{Conn: Options{Password: pass},
		Log: func(format string, args ...any) {
			mu.Lock()
			lines = append(lines, fmt.Sprintf(format, args...))
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if i == 500 {
			// kill every normal client but this one: the Writer's
			if _, err := srv.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Send(ctx, &Command{Args: bs("SET", "k"+strconv.Itoa(i), "v"), Idempotent: true,
			Done: func(_ aof.Value, err error) {
				if err != nil {
					t.Errorf("SET: %v", err)
				}
			}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range lines {
		if strings.Contains(l, pass) {
			t.Errorf("log line shows the password: %s", l)
		}
	}
	if n, err := srv.Client().DBSize(ctx).Result(); err != nil || n != 1000 {
		t.Errorf("DBSIZE %d %v, want 1000", n, err)
	}
}
