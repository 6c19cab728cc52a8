package sync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkit/redkit/internal/compare"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
	"github.com/redkit/redkit/sync"
)

const scanLib = "#!lua name=scanlib\nredis.register_function('sf', function(keys, args) return 1 end)"

// noReplication starts a server that refuses PSYNC and SYNC, as managed
// services do.
func noReplication(t *testing.T) *redistest.Server {
	return redistest.Start(t, redistest.Options{Config: []string{`rename-command PSYNC ""`, `rename-command SYNC ""`}})
}

func compareFiles(t *testing.T, a, b []byte) { compareTTL(t, a, b, 0) }

func compareTTL(t *testing.T, a, b []byte, tolerance time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := compare.Compare(ctx,
		compare.NewRDBSource("scanned", rdb.NewReader(bytes.NewReader(a)), compare.DumpOptions{}),
		compare.NewRDBSource("saved", rdb.NewReader(bytes.NewReader(b)), compare.DumpOptions{}),
		compare.Options{TTLTolerance: tolerance})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical() || res.KeysA != res.KeysB || res.KeysA == 0 {
		t.Fatalf("scanned %d keys, saved %d, differences %v", res.KeysA, res.KeysB, res.Diffs)
	}
}

func libraries(t *testing.T, file []byte) []string {
	t.Helper()
	rd := rdb.NewReader(bytes.NewReader(file))
	var libs []string
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return libs
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == rdb.KindFunction {
			libs = append(libs, string(rec.Data))
		}
	}
}

// TestScanDumpMixed reads the mixed data set (every type and encoding,
// expiries, three databases, a function library) from a server that
// refuses replication, and gets what the server's own SAVE holds.
func TestScanDumpMixed(t *testing.T) {
	srv := noReplication(t)
	ctx := t.Context()
	if err := redistest.FillMixed(ctx, srv.Client(), 5); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().Do(ctx, "FUNCTION", "LOAD", scanLib).Err(); err != nil {
		t.Fatal(err)
	}
	// The premise: replication is refused.
	if _, err := sync.OpenLink(ctx, srv.Addr(), sync.ReplicaOptions{RDBOnly: true}); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("OpenLink on a server without PSYNC: %v", err)
	}
	var buf bytes.Buffer
	var last int64
	st, err := sync.ScanDump(ctx, srv.Addr(), nil, &buf, sync.ScanOptions{Progress: func(n, _ int64) { last = n }})
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys != st.Expected || st.Keys < 1000 || last != st.Keys || st.Vanished != 0 || len(st.DBs) != 3 {
		t.Fatalf("stats %+v, progress %d", st, last)
	}
	if st.RDBVersion != 10 || st.Functions != 1 || st.FunctionsSkipped != "" || st.RelativeTTL || st.Ended.Before(st.Started) {
		t.Fatalf("stats %+v", st)
	}
	saved, err := os.ReadFile(srv.Save(t))
	if err != nil {
		t.Fatal(err)
	}
	compareFiles(t, buf.Bytes(), saved)
	if libs := libraries(t, buf.Bytes()); len(libs) != 1 || libs[0] != scanLib {
		t.Fatalf("libraries %q", libs)
	}
	// A server loads the file.
	dst := redistest.Start(t, redistest.Options{})
	if err := os.WriteFile(filepath.Join(dst.Dir(), "dump.rdb"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dst.Restart(t, false)
	var n int64
	for db := range st.DBs {
		v, err := dst.Do(ctx, "INFO", "keyspace")
		if err != nil {
			t.Fatal(err)
		}
		n += sync.ParseKeyspace([]byte(v.(string)))[db]
	}
	if n != st.Keys {
		t.Fatalf("the loading server has %d keys, want %d", n, st.Keys)
	}
}

// TestScanDumpEmpty: a server with no key and no function gives a valid
// empty RDB 10.
func TestScanDumpEmpty(t *testing.T) {
	srv := noReplication(t)
	var buf bytes.Buffer
	st, err := sync.ScanDump(t.Context(), srv.Addr(), nil, &buf, sync.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys != 0 || st.RDBVersion != 10 || st.Functions != 0 {
		t.Fatalf("stats %+v", st)
	}
	rd := rdb.NewReader(&buf)
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == rdb.KindKey {
			t.Fatal("a key in an empty dump")
		}
	}
}

// TestScanDumpACL: an ACL user without +psync +sync and without FUNCTION
// reads the keys; the functions are skipped with the server's refusal.
func TestScanDumpACL(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	conn := srv.Client().Conn()
	defer conn.Close()
	for _, cmd := range [][]any{
		{"ACL", "SETUSER", "reader", "on", ">pw", "~*", "&*", "+@all", "-psync", "-sync", "-function"},
		{"SET", "a", "1"}, {"SET", "b", "2", "PX", "3600000"}, {"SELECT", "4"}, {"RPUSH", "l", "x", "y"},
		{"FUNCTION", "LOAD", scanLib},
	} {
		if err := conn.Do(ctx, cmd...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	opts := &sync.Options{Username: "reader", Password: "pw"}
	if _, err := sync.OpenLink(ctx, srv.Addr(), sync.ReplicaOptions{Conn: *opts, RDBOnly: true}); sync.ErrorCode(err) != "NOPERM" {
		t.Fatalf("OpenLink as reader: %v", err)
	}
	var buf bytes.Buffer
	st, err := sync.ScanDump(ctx, srv.Addr(), opts, &buf, sync.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys != 3 || st.DBs[0] != 2 || st.DBs[4] != 1 || st.Functions != 0 || !strings.Contains(st.FunctionsSkipped, "NOPERM") {
		t.Fatalf("stats %+v", st)
	}
	saved, err := os.ReadFile(srv.Save(t))
	if err != nil {
		t.Fatal(err)
	}
	compareFiles(t, buf.Bytes(), saved)
}

// TestScanDumpPTTL: a server without PEXPIRETIME (renamed here, as
// before Redis 7.0) has its expiries read with PTTL, relative to the time
// before the batch: close, said to be inexact.
func TestScanDumpPTTL(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Config: []string{`rename-command PEXPIRETIME ""`}})
	ctx := t.Context()
	if err := redistest.FillMixed(ctx, srv.Client(), 5); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	st, err := sync.ScanDump(ctx, srv.Addr(), nil, &buf, sync.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !st.RelativeTTL || st.Keys != st.Expected {
		t.Fatalf("stats %+v", st)
	}
	saved, err := os.ReadFile(srv.Save(t))
	if err != nil {
		t.Fatal(err)
	}
	compareTTL(t, buf.Bytes(), saved, time.Second)
}

// TestScanDumpConnectionLost: the source drops the connection in the
// middle of the scan (CLIENT KILL after the first batch): ScanDump fails,
// naming the server, and never reports a complete dump.
func TestScanDumpConnectionLost(t *testing.T) {
	srv := noReplication(t)
	ctx := t.Context()
	c := srv.Client()
	args := []any{"MSET"}
	for i := range 2000 {
		args = append(args, fmt.Sprintf("k:%d", i), "v")
	}
	if err := c.Do(ctx, args...).Err(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	killed := false
	st, err := sync.ScanDump(ctx, srv.Addr(), nil, &buf, sync.ScanOptions{Progress: func(keys, _ int64) {
		if !killed {
			killed = true
			if err := c.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
				t.Error(err)
			}
		}
	}})
	if !killed {
		t.Fatal("no progress before the end")
	}
	if err == nil {
		t.Fatalf("ScanDump after a lost connection: no error; stats %+v", st)
	}
	if !strings.Contains(err.Error(), "database 0 of "+srv.Addr()) {
		t.Errorf("the error does not name the server and database: %v", err)
	}
	if st.Keys >= 2000 {
		t.Errorf("stats say %d keys were written", st.Keys)
	}
}

// TestScanDumpOneConnectionLost: ScanDump finds and sizes keys (SCAN,
// MEMORY USAGE) on one connection while it DUMPs them on another. When
// the source drops either one alone, ScanDump fails, naming the server
// and database, and never reports a complete dump.
func TestScanDumpOneConnectionLost(t *testing.T) {
	srv := noReplication(t)
	ctx := t.Context()
	c := srv.Client()
	const n = 20000
	fillKeys(t, c, n)
	for _, tc := range []struct {
		name string
		cmds []string // the connection whose last command is one of these is killed
	}{
		{"sizing", []string{"scan", "memory|usage", "type"}},
		{"dumping", []string{"dump", "pexpiretime"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			killed := false
			st, err := sync.ScanDump(ctx, srv.Addr(), nil, &buf, sync.ScanOptions{Progress: func(keys, _ int64) {
				if killed {
					return
				}
				list, err := c.Do(ctx, "CLIENT", "LIST", "TYPE", "normal").Text()
				if err != nil {
					t.Error(err)
					return
				}
				for _, line := range strings.Split(list, "\n") {
					var id, cmd string
					for _, f := range strings.Fields(line) {
						if v, ok := strings.CutPrefix(f, "id="); ok {
							id = v
						}
						if v, ok := strings.CutPrefix(f, "cmd="); ok {
							cmd = v
						}
					}
					for _, want := range tc.cmds {
						if cmd == want && !killed {
							if err := c.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
								t.Error(err)
							}
							killed = true
						}
					}
				}
			}})
			if !killed {
				t.Fatalf("no connection of %v to kill (keys %d, err %v)", tc.cmds, st.Keys, err)
			}
			if err == nil {
				t.Fatalf("ScanDump after the %s connection was lost: no error; stats %+v", tc.name, st)
			}
			if !strings.Contains(err.Error(), "database 0 of "+srv.Addr()) {
				t.Errorf("the error does not name the server and database: %v", err)
			}
			if st.Keys >= n {
				t.Errorf("stats say %d keys were written", st.Keys)
			}
		})
	}
}

// TestScanDumpStopped: a scan cancelled in its middle, and one whose
// source stops answering (CLIENT PAUSE ... ALL holds every command, as
// a hung server does), return at once with the reason, naming the
// server and database for the stall, and leave no connection of theirs
// open on the source: neither the one that DUMPs nor the one that finds
// and sizes the keys.
func TestScanDumpStopped(t *testing.T) {
	srv := noReplication(t)
	c := srv.Client()
	ctx := t.Context()
	const n = 20000
	fillKeys(t, c, n)
	const name = "redkit-scan-stopped"
	ours := func() int {
		list, err := c.Do(ctx, "CLIENT", "LIST", "TYPE", "normal").Text()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(list, "name="+name+" ")
	}
	for _, tc := range []struct {
		name string
		stop func(cancel context.CancelFunc)
		want func(err error) bool
	}{
		{"cancelled", func(cancel context.CancelFunc) { cancel() },
			func(err error) bool { return errors.Is(err, context.Canceled) }},
		{"stalled", func(context.CancelFunc) {
			if err := c.Do(ctx, "CLIENT", "PAUSE", "4000", "ALL").Err(); err != nil {
				t.Error(err)
			}
		}, func(err error) bool {
			return errors.Is(err, os.ErrDeadlineExceeded) && strings.Contains(err.Error(), "database 0 of "+srv.Addr())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var buf bytes.Buffer
			stopped := false
			start := time.Now()
			st, err := sync.ScanDump(sctx, srv.Addr(), &sync.Options{Name: name, ReadTimeout: 500 * time.Millisecond}, &buf,
				sync.ScanOptions{Progress: func(keys, _ int64) {
					if !stopped {
						stopped = true
						tc.stop(cancel)
					}
				}})
			took := time.Since(start)
			if !stopped {
				t.Fatalf("no progress before the end (keys %d, err %v)", st.Keys, err)
			}
			if err == nil || !tc.want(err) {
				t.Fatalf("ScanDump %s: err %v; stats %+v", tc.name, err, st)
			}
			if st.Keys >= n {
				t.Errorf("stats say %d keys were written", st.Keys)
			}
			// Bounded: the read timeout is 500 ms; the pause lasts 4 s.
			if took > 3500*time.Millisecond {
				t.Errorf("ScanDump returned %v after it was stopped", took)
			}
			// The source sees both connections go (once the pause ends).
			for deadline := time.Now().Add(10 * time.Second); ours() > 0; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d connections of the scan still open on the source", ours())
				}
			}
		})
	}
}

// fillKeys writes n small strings k:0 .. k:n-1, a thousand a command.
func fillKeys(t *testing.T, c *redis.Client, n int) {
	t.Helper()
	for i := 0; i < n; i += 1000 {
		args := []any{"MSET"}
		for j := i; j < min(i+1000, n); j++ {
			args = append(args, fmt.Sprintf("k:%d", j), "v")
		}
		if err := c.Do(t.Context(), args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
}
