package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/redistest"
	rsync "github.com/redkit/redkit/sync"
)

// TestSyncSentinelFailover syncs from a redis+sentinel:// URL, fails the
// master over to its replica with SENTINEL FAILOVER, and keeps writing to
// the new master: the sync follows it and continues its stream with a
// partial resynchronization (PSYNC2 keeps the old history's ID): no
// second full sync, and the target ends equal to the new master.
func TestSyncSentinelFailover(t *testing.T) {
	ctx := context.Background()
	master, replica := masterWithReplica(t)
	if err := redistest.FillMixed(ctx, master.Client(), 5); err != nil {
		t.Fatal(err)
	}
	sentinel := startSentinel(t, master)
	dst := redistest.Start(t, redistest.Options{})
	status := freeAddr(t)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runIO(sctx, []string{"redkit", "sync", "--from", "redis+sentinel://" + sentinel + "/mymaster",
			"--to", dst.URL(), "--status-addr", status}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("redkit sync:\n%s", stderr.String())
		}
	}()
	w := redistest.StartWriter(t, master, 1)
	w.WaitRounds(t, 200)
	w.Halt(t)
	failover(t, sentinel, master, replica)
	waitInfo(t, master, "master_link_status", "up") // the old master follows the new one
	w = redistest.StartWriter(t, replica, 2)
	w.WaitRounds(t, 200)
	w.Halt(t)

	// Caught up: the applied offset reaches the new master's.
	deadline := time.Now().Add(60 * time.Second)
	var st rsync.SyncStatus
	for {
		want := replica.InfoInt(t, "master_repl_offset")
		var err error
		st, err = getStatus(status)
		if err == nil && st.Applied >= want && st.Phase == rsync.PhaseStreaming {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never caught up with the new master (offset %d): %+v %v", want, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if st.FullSyncs != 1 || st.Reconnects < 1 {
		t.Errorf("want one full sync (the first) and a reconnect: %+v", st)
	}
	key := rsync.CheckpointKey("mymaster")
	if got, want := digestWithout(t, dst, key), debugDigest(t, replica); got != want {
		t.Errorf("digest %s, want %s", got, want)
	}
	if !strings.Contains(stderr.String(), "continuing the stream") {
		t.Errorf("no continuation logged")
	}
}

// masterWithReplica starts a master and a replica of it.
func masterWithReplica(t *testing.T) (master, replica *redistest.Server) {
	t.Helper()
	master = redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	replica = redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0",
		"replicaof 127.0.0.1 " + strconv.Itoa(master.Port())}})
	return master, replica
}

// failover promotes the replica with SENTINEL FAILOVER once it holds
// everything the master has (a lagging one would be promoted with a
// shorter history, which no PSYNC can continue).
func failover(t *testing.T, sentinel string, master, replica *redistest.Server) {
	t.Helper()
	off := master.InfoInt(t, "master_repl_offset")
	for deadline := time.Now().Add(30 * time.Second); replica.InfoInt(t, "master_repl_offset") < off; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the replica never caught up with offset %d", off)
		}
	}
	if err := redisDo(t, sentinel, "SENTINEL", "FAILOVER", "mymaster"); err != nil {
		t.Fatal(err)
	}
	waitInfo(t, replica, "role", "master")
}

func waitInfo(t *testing.T, s *redistest.Server, field, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.InfoField(t, field) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s is %q, want %q", s.Addr(), field, s.InfoField(t, field), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func redisDo(t *testing.T, addr string, args ...string) error {
	t.Helper()
	c, err := rsync.Dial(context.Background(), addr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.DoString(args...)
	return err
}

// TestContinuousSentinelFailover backs up from a redis+sentinel:// URL
// continuously, fails the master over to its replica, and keeps writing
// to the new master: the backup follows it and continues its generation
// with a partial resynchronization (PSYNC2: the new master knows the old
// history's ID), its later segments named with the new ID, and a
// restore of everything equals the new master.
func TestContinuousSentinelFailover(t *testing.T) {
	ctx := context.Background()
	master, replica := masterWithReplica(t)
	sentinel := startSentinel(t, master)
	store := "file://" + t.TempDir()
	status := freeAddr(t)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runIO(sctx, []string{"redkit", "backup", "--continuous", "--from", "redis+sentinel://" + sentinel + "/mymaster",
			"--to", store, "--segment-interval", "200ms", "--status-addr", status}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("redkit backup --continuous:\n%s", stderr.String())
		}
	}()
	wait := func(what string, ok func(backup.ContinuousStatus) bool) backup.ContinuousStatus {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			st, err := continuousStatus(status)
			if err == nil && ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("never %s: %+v, %v", what, st, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	first := wait("streaming", func(st backup.ContinuousStatus) bool { return st.Phase == rsync.PhaseStreaming })
	w := redistest.StartWriter(t, master, 1)
	w.WaitRounds(t, 200)
	w.Halt(t)
	failover(t, sentinel, master, replica)
	w = redistest.StartWriter(t, replica, 2)
	w.WaitRounds(t, 200)
	w.Halt(t)
	want := replica.InfoInt(t, "master_repl_offset")
	st := wait("durable up to the new master's offset", func(st backup.ContinuousStatus) bool {
		return st.Phase == rsync.PhaseStreaming && st.Durable >= want && st.ReplID != first.ReplID
	})
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if st.Generations != 1 || st.Generation != first.Generation || st.Reconnects < 1 {
		t.Errorf("want one generation continued after a reconnect: %+v", st)
	}
	if !strings.Contains(stderr.String(), "a new replication ID") {
		t.Errorf("the failover's new replication ID was not logged")
	}
	dst := redistest.Start(t, redistest.Options{})
	r := redkit(t, nil, "restore", "--to", dst.URL(), store, "--at", "latest").want(t, 0)
	if got, want := debugDigest(t, dst), debugDigest(t, replica); got != want {
		t.Errorf("restore after the failover: digest %s, want %s\n%s", got, want, r.stderr)
	}
}
