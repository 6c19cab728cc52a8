package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/internal/s3test"
	rsync "github.com/redkit/redkit/sync"
)

func continuousStatus(addr string) (backup.ContinuousStatus, error) {
	var st backup.ContinuousStatus
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func waitContinuous(t *testing.T, addr string, cmd *exec.Cmd, what string, ok func(backup.ContinuousStatus) bool) backup.ContinuousStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := continuousStatus(addr)
		if err == nil && ok(st) {
			return st
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("continuous backup: never %s: %+v, %v", what, st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startContinuous starts a source and backup --continuous into store
// (with extra flags), and waits for it to stream.
func startContinuous(t *testing.T, store string, extra ...string) (src *redistest.Server, cmd *exec.Cmd, status string, args []string) {
	t.Helper()
	src = redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-backlog-size 64mb"}})
	status = freeAddr(t)
	args = append([]string{"backup", "--continuous", "--from", src.URL(), "--to", store, "--status-addr", status}, extra...)
	cmd, _ = redkitProcess(t, args...)
	waitContinuous(t, status, cmd, "streaming", func(st backup.ContinuousStatus) bool { return st.Phase == rsync.PhaseStreaming })
	return src, cmd, status, args
}

// listGenerations reads backup list --format json's continuous bases.
type listedGeneration struct {
	backup.Manifest
	Generation *struct {
		From, Until time.Time
		EndOffset   int64 `json:"end_offset"`
		Segments    int
		Commands    int64
	} `json:"generation"`
}

func listGenerations(t *testing.T, url string) []listedGeneration {
	t.Helper()
	r := redkit(t, nil, "backup", "list", url, "--format", "json").want(t, 0)
	var all, gens []listedGeneration
	if err := json.Unmarshal([]byte(r.stdout), &all); err != nil {
		t.Fatalf("backup list: %v\n%s", err, r.stdout)
	}
	for _, g := range all {
		if g.Generation != nil {
			gens = append(gens, g)
		}
	}
	return gens
}

// TestContinuousBackup runs backup --continuous as a process while a
// writer (INCR, LPUSH, APPEND, XADD, MULTI/EXEC, EVAL, expiries, three
// databases) works on the source in phases, and restores to instants
// between them, each checked against the DEBUG DIGEST the source had
// then.
//
// How the instants are made exact: receive times are kept to the
// millisecond. After each phase the writer stops; the test waits until
// the status says redkit received everything up to the source's
// master_repl_offset, takes T = now and the source's digest, and waits
// 5 ms before the next phase starts. So every command of the phases
// before T was received before T, and every later one more than a
// millisecond after it: a restore to T holds exactly the first.
//
// On the way: kill -9 mid-segment, with the writer still going, then a
// restart: the source counts one more partial resynchronization and no
// full one, and the restores after it match (no gap: nothing missing; no
// duplicate: INCR and LPUSH twice would change the digest). Then the
// source restarts empty (a new replication ID): a new generation starts,
// and restores on both sides work. A damaged segment stops a restore at
// the last good command before it, exit 1. A prune keeping one
// generation deletes the other's base and segments.
func TestContinuousBackup(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-backlog-size 64mb"}})
	store := "file://" + filepath.Join(t.TempDir(), "store")
	w := redistest.StartWriter(t, src, 1)
	w.WaitRounds(t, 20)
	w.Halt(t)

	status := freeAddr(t)
	args := []string{"backup", "--continuous", "--from", src.URL(), "--to", store, "--segment-interval", "300ms", "--status-addr", status}
	cmd, _ := redkitProcess(t, args...)
	streaming := func(st backup.ContinuousStatus) bool { return st.Phase == rsync.PhaseStreaming }
	st := waitContinuous(t, status, cmd, "streaming", streaming)
	gen1 := st.Generation

	type instant struct {
		at     time.Time
		digest string
	}
	mark := func() instant {
		t.Helper()
		off := src.InfoInt(t, "master_repl_offset")
		waitContinuous(t, status, cmd, "received the source's offset", func(st backup.ContinuousStatus) bool { return st.Received >= off })
		time.Sleep(2 * time.Millisecond)
		in := instant{at: time.Now()}
		in.digest = debugDigest(t, src)
		time.Sleep(5 * time.Millisecond)
		return in
	}
	phase := func(seed uint64, rounds int64) {
		w := redistest.StartWriter(t, src, seed)
		w.WaitRounds(t, rounds)
		w.Halt(t)
	}
	var ins []instant
	ins = append(ins, mark()) // the base alone
	phase(2, 30)
	ins = append(ins, mark())

	// kill -9 mid-segment, the writer going on, then a restart. (The
	// instants before are durable first: a command received but not yet
	// stored when the process dies is received again after the restart,
	// with that time.)
	waitContinuous(t, status, cmd, "durable past the instant", func(st backup.ContinuousStatus) bool { return st.RecoveryPoint.After(ins[1].at) })
	partial, full := src.InfoInt(t, "sync_partial_ok"), src.InfoInt(t, "sync_full")
	w = redistest.StartWriter(t, src, 3)
	w.WaitRounds(t, 30)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	w.WaitRounds(t, 60)
	w.Halt(t)
	cmd, _ = redkitProcess(t, args...)
	st = waitContinuous(t, status, cmd, "streaming again", streaming)
	if st.Generation != gen1 {
		t.Fatalf("after kill -9: generation %s, want %s continued", st.Generation, gen1)
	}
	ins = append(ins, mark())
	if p, f := src.InfoInt(t, "sync_partial_ok"), src.InfoInt(t, "sync_full"); p != partial+1 || f != full {
		t.Errorf("after kill -9: sync_partial_ok %d -> %d, sync_full %d -> %d: want one partial resync, no full one", partial, p, full, f)
	}
	phase(4, 30)
	ins = append(ins, mark())
	last := ins[len(ins)-1].at
	waitContinuous(t, status, cmd, "durable past the last instant", func(st backup.ContinuousStatus) bool { return st.RecoveryPoint.After(last) })

	// The source restarts empty, with a new replication ID: a gap.
	src.Restart(t, false)
	st = waitContinuous(t, status, cmd, "in a new generation", func(st backup.ContinuousStatus) bool {
		return st.Phase == rsync.PhaseStreaming && st.Generation != gen1
	})
	gen2 := st.Generation
	phase(5, 30)
	after := mark()
	waitContinuous(t, status, cmd, "durable past the last instant", func(st backup.ContinuousStatus) bool { return st.RecoveryPoint.After(after.at) })
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: %v, want exit 0", err)
	}

	gens := listGenerations(t, store)
	if len(gens) != 2 || gens[0].ID != gen1 || gens[1].ID != gen2 || !gens[0].Generation.Until.After(last) || gens[0].Generation.Commands == 0 {
		t.Fatalf("backup list: %+v", gens)
	}
	text := redkit(t, nil, "backup", "list", store).want(t, 0).stdout
	if !strings.Contains(text, "GENERATION") || !strings.Contains(text, gen2) {
		t.Errorf("backup list:\n%s", text)
	}

	dst := redistest.Start(t, redistest.Options{})
	restoreAt := func(want string, args ...string) {
		t.Helper()
		r := redkit(t, nil, append([]string{"restore", "--to", dst.URL(), "--flush"}, args...)...).want(t, 0)
		if got := debugDigest(t, dst); got != want {
			t.Errorf("restore %v: digest %s, want %s\n%s", args, got, want, r.stderr)
		}
	}
	for i, in := range ins {
		t.Run("at-"+strconv.Itoa(i), func(t *testing.T) {
			restoreAt(in.digest, store, "--at", in.at.Format(time.RFC3339Nano))
		})
	}
	restoreAt(after.digest, store, "--at", after.at.Format(time.RFC3339Nano))
	restoreAt(after.digest, store, "--at", "latest")
	restoreAt(ins[len(ins)-1].digest, store+"@"+gen1, "--at-offset", strconv.FormatInt(gens[0].Generation.EndOffset, 10), "--verify-first")

	// To a file: the keys replayed in memory, one RDB.
	rdbFile := filepath.Join(t.TempDir(), "at.rdb")
	redkit(t, nil, "restore", store, "--at", ins[2].at.Format(time.RFC3339Nano), "--to-file", rdbFile).want(t, 0)
	loaded := redistest.Start(t, redistest.Options{})
	data, err := os.ReadFile(rdbFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(loaded.Dir(), "dump.rdb"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded.Restart(t, false)
	if got := debugDigest(t, loaded); got != ins[2].digest {
		t.Errorf("restore --to-file: digest %s, want %s", got, ins[2].digest)
	}

	// Before the oldest instant, or in the gap: exit 1, saying why.
	r := redkit(t, nil, "restore", "--to", dst.URL(), store, "--at", ins[0].at.Add(-time.Hour).Format(time.RFC3339)).want(t, 1)
	if !strings.Contains(r.stderr, "before the oldest restorable instant") {
		t.Errorf("before the first base: %s", r.stderr)
	}

	if out := redkit(t, nil, "backup", "verify", store+"@"+gen1).want(t, 0).stdout; !strings.Contains(out, "segment(s)") {
		t.Errorf("backup verify of a generation:\n%s", out)
	}

	// A damaged segment: the restore stops at the last good command
	// before it and says where; backup verify finds it.
	dir := filepath.Join(strings.TrimPrefix(store, "file://"), "continuous", gen1)
	ents, _ := os.ReadDir(dir)
	var victim string
	most := 0
	for _, e := range ents {
		if si := strings.Split(e.Name(), "-"); len(si) == 9 {
			if n, _ := strconv.Atoi(si[6]); n > most {
				most, victim = n, filepath.Join(dir, e.Name())
			}
		}
	}
	if most < 10 {
		t.Fatalf("no segment with commands in %v", ents)
	}
	seg, _ := os.ReadFile(victim)
	seg[len(seg)*2/3] ^= 0x40
	os.WriteFile(victim, seg, 0o644)
	r = redkit(t, nil, "restore", "--to", dst.URL(), "--flush", store+"@"+gen1, "--at", "latest").want(t, 1)
	if !strings.Contains(r.stderr, filepath.Base(victim)) || !strings.Contains(r.stderr, "last good command") {
		t.Errorf("a damaged segment: %s", r.stderr)
	}
	if n := dst.Client().DBSize(ctx).Val(); n == 0 {
		t.Errorf("a damaged segment: nothing restored before it")
	}
	if r := redkit(t, nil, "backup", "verify", store+"@"+gen1).want(t, 1); !strings.Contains(r.stderr, filepath.Base(victim)) {
		t.Errorf("backup verify of a damaged generation: %s", r.stderr)
	}

	// Retention by generation: keeping one deletes the other's base and
	// its segments.
	redkit(t, nil, "backup", "prune", store, "--keep-last", "1").want(t, 0)
	if gens := listGenerations(t, store); len(gens) != 1 || gens[0].ID != gen2 {
		t.Errorf("after prune: %+v", gens)
	}
	if _, err := os.Stat(dir); err == nil {
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			t.Errorf("after prune: %d segments of %s left", len(ents), gen1)
		}
	}
	restoreAt(after.digest, store, "--at", after.at.Format(time.RFC3339Nano))
	redkit(t, nil, "restore", "--to", dst.URL(), store, "--at", ins[1].at.Format(time.RFC3339Nano)).want(t, 1)
}

// TestContinuousGenerations runs backup --continuous into S3 (a real
// versitygw) with a new base every second while a writer works in
// phases: each base is taken on a second link while the stream goes on,
// so that the generations overlap and every instant restores, each to
// the digest the source had then, whichever generation holds it.
func TestContinuousGenerations(t *testing.T) {
	srv := s3test.Start(t, "pitr")
	srv.Env(t)
	store := "s3://pitr/redis"
	src, cmd, status, _ := startContinuous(t, store, "--segment-interval", "200ms", "--snapshot-interval", "1s")

	type instant struct {
		at     time.Time
		digest string
	}
	var ins []instant
	for seed := uint64(1); ; seed++ {
		w := redistest.StartWriter(t, src, seed)
		w.WaitRounds(t, 20)
		w.Halt(t)
		off := src.InfoInt(t, "master_repl_offset")
		st := waitContinuous(t, status, cmd, "received the source's offset", func(st backup.ContinuousStatus) bool { return st.Received >= off })
		time.Sleep(2 * time.Millisecond)
		in := instant{at: time.Now()}
		in.digest = debugDigest(t, src)
		ins = append(ins, in)
		time.Sleep(5 * time.Millisecond)
		if st.Generations >= 4 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	last := ins[len(ins)-1].at
	waitContinuous(t, status, cmd, "durable past the last instant", func(st backup.ContinuousStatus) bool { return st.RecoveryPoint.After(last) })
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: %v, want exit 0", err)
	}
	gens := listGenerations(t, store)
	if len(gens) < 4 {
		t.Fatalf("%d generations, want 4 or more", len(gens))
	}
	for i := 1; i < len(gens); i++ {
		if gens[i-1].Generation.Until.Before(gens[i].Generation.From) {
			t.Errorf("generation %s ends at %v, before %s begins at %v: a gap", gens[i-1].ID, gens[i-1].Generation.Until, gens[i].ID, gens[i].Generation.From)
		}
	}
	dst := redistest.Start(t, redistest.Options{})
	for i, in := range ins {
		r := redkit(t, nil, "restore", "--to", dst.URL(), "--flush", store, "--at", in.at.Format(time.RFC3339Nano)).want(t, 0)
		if got := debugDigest(t, dst); got != in.digest {
			t.Errorf("instant %d (%v): digest %s, want %s\n%s", i, in.at, got, in.digest, r.stderr)
		}
	}
}

// TestContinuousStorageOutage stops the S3 store for a few seconds
// while the source takes writes: the segments wait (the status says so),
// are stored once it is back, and a restore of everything matches the
// source: nothing lost, no gap.
func TestContinuousStorageOutage(t *testing.T) {
	srv := s3test.Start(t, "pitr")
	srv.Env(t)
	store := "s3://pitr/outage"
	src, cmd, status, _ := startContinuous(t, store, "--segment-interval", "200ms")
	w := redistest.StartWriter(t, src, 1)
	w.WaitRounds(t, 50)
	srv.Down()
	st := waitContinuous(t, status, cmd, "waiting on the store", func(st backup.ContinuousStatus) bool { return st.Errors > 0 && st.PendingSegments > 0 })
	stalled := st.Durable
	time.Sleep(2 * time.Second)
	if st, _ := continuousStatus(status); st.Durable != stalled {
		t.Errorf("durable offset moved from %d to %d while the store was down", stalled, st.Durable)
	}
	srv.Up(t)
	w.WaitRounds(t, w.Rounds()+50)
	w.Halt(t)
	off := src.InfoInt(t, "master_repl_offset")
	st = waitContinuous(t, status, cmd, "durable again", func(st backup.ContinuousStatus) bool { return st.Durable >= off && st.PendingSegments == 0 })
	if st.Generations != 1 || st.LastError == "" {
		t.Errorf("after the outage: %+v", st)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: %v, want exit 0", err)
	}
	dst := redistest.Start(t, redistest.Options{})
	r := redkit(t, nil, "restore", "--to", dst.URL(), store, "--at", "latest").want(t, 0)
	if got, want := debugDigest(t, dst), debugDigest(t, src); got != want {
		t.Errorf("restore after the outage: digest %s, want %s\n%s", got, want, r.stderr)
	}
	if strings.Contains(r.stderr, "gap") {
		t.Errorf("a gap: %s", r.stderr)
	}
}

// TestContinuousValkey: a Valkey 8 source (RDB 11, its own replication
// stream) backed up continuously and restored to instants into a Valkey
// target, each with the source's digest then.
func TestContinuousValkey(t *testing.T) {
	src := redistest.Start(t, redistest.Options{Binary: "valkey-server", Config: []string{"repl-diskless-sync yes", "repl-backlog-size 64mb"}})
	store := "file://" + filepath.Join(t.TempDir(), "store")
	status := freeAddr(t)
	cmd, _ := redkitProcess(t, "backup", "--continuous", "--from", src.URL(), "--to", store, "--segment-interval", "200ms", "--status-addr", status)
	waitContinuous(t, status, cmd, "streaming", func(st backup.ContinuousStatus) bool { return st.Phase == rsync.PhaseStreaming })
	var ats []time.Time
	var digests []string
	for seed := uint64(1); seed <= 3; seed++ {
		w := redistest.StartWriter(t, src, seed)
		w.WaitRounds(t, 30)
		w.Halt(t)
		off := src.InfoInt(t, "master_repl_offset")
		waitContinuous(t, status, cmd, "received the source's offset", func(st backup.ContinuousStatus) bool { return st.Received >= off })
		time.Sleep(2 * time.Millisecond)
		ats = append(ats, time.Now())
		digests = append(digests, debugDigest(t, src))
		time.Sleep(5 * time.Millisecond)
	}
	last := ats[len(ats)-1]
	waitContinuous(t, status, cmd, "durable past the last instant", func(st backup.ContinuousStatus) bool { return st.RecoveryPoint.After(last) })
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: %v, want exit 0", err)
	}
	if gens := listGenerations(t, store); len(gens) != 1 || gens[0].Source.Server != "valkey" || gens[0].Source.RDBVersion != 11 {
		t.Fatalf("backup list: %+v", gens)
	}
	dst := redistest.Start(t, redistest.Options{Binary: "valkey-server"})
	for i, at := range ats {
		r := redkit(t, nil, "restore", "--to", dst.URL(), "--flush", store, "--at", at.Format(time.RFC3339Nano)).want(t, 0)
		if got := debugDigest(t, dst); got != digests[i] {
			t.Errorf("instant %d: digest %s, want %s\n%s", i, got, digests[i], r.stderr)
		}
	}
}

// TestContinuousGivesUp: with the store down for longer than
// --retry-for, the backup exits 1 (a service manager restarts it, and
// it continues from the last segment stored).
func TestContinuousGivesUp(t *testing.T) {
	srv := s3test.Start(t, "pitr")
	srv.Env(t)
	src, cmd, status, _ := startContinuous(t, "s3://pitr/giveup", "--segment-interval", "200ms", "--retry-for", "1s")
	srv.Down()
	w := redistest.StartWriter(t, src, 1)
	w.WaitRounds(t, 20)
	w.Halt(t)
	waitContinuous(t, status, cmd, "failing", func(st backup.ContinuousStatus) bool { return st.Errors > 0 })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("exit: %v, want exit code 1", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("still running a minute after the store went down, with --retry-for 1s")
	}
}

// TestContinuousGap deletes a segment from the middle of a generation:
// a gap, never an end. backup list shows it; a restore to latest replays
// up to it, then exits 1 naming the missing offsets and the last good
// command (the target holding the data as it was before the gap); an
// instant or offset after it is refused saying so; --verify-first
// writes nothing. --to-file with a gap, then with a damaged segment,
// exits 1 and leaves an existing file as it was.
func TestContinuousGap(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	store := "file://" + dir
	src, cmd, status, _ := startContinuous(t, store, "--segment-interval", "100ms")
	mark := func(seed uint64) (time.Time, string) {
		t.Helper()
		w := redistest.StartWriter(t, src, seed)
		w.WaitRounds(t, 20)
		w.Halt(t)
		off := src.InfoInt(t, "master_repl_offset")
		waitContinuous(t, status, cmd, "received the source's offset", func(st backup.ContinuousStatus) bool { return st.Received >= off })
		time.Sleep(2 * time.Millisecond)
		at, digest := time.Now(), debugDigest(t, src)
		time.Sleep(5 * time.Millisecond)
		// Durable past it: the segment open then is closed, so the next
		// phase's commands are in later segments.
		waitContinuous(t, status, cmd, "durable past the instant", func(st backup.ContinuousStatus) bool { return st.RecoveryPoint.After(at) })
		return at, digest
	}
	t1, d1 := mark(1)
	mark(2) // the victim's commands
	t3, _ := mark(3)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: %v, want exit 0", err)
	}
	gens := listGenerations(t, store)
	if len(gens) != 1 {
		t.Fatalf("backup list: %+v", gens)
	}
	gen := gens[0].ID
	segDir := filepath.Join(dir, "continuous", gen)
	ents, err := os.ReadDir(segDir)
	if err != nil {
		t.Fatal(err)
	}
	// The victim: the first segment with commands received after t1;
	// some with commands follow it.
	type seg struct {
		path               string
		start, end, closed int64
		records            int
	}
	var segs []seg
	victim, later := -1, 0
	for _, e := range ents {
		f := strings.Split(e.Name(), "-")
		if len(f) != 9 {
			continue
		}
		var s seg
		s.path = filepath.Join(segDir, e.Name())
		s.start, _ = strconv.ParseInt(f[0], 10, 64)
		s.end, _ = strconv.ParseInt(f[1], 10, 64)
		first, _ := strconv.ParseInt(f[3], 10, 64)
		s.closed, _ = strconv.ParseInt(f[5], 10, 64)
		s.records, _ = strconv.Atoi(f[6])
		if victim < 0 && s.records > 10 && first > t1.UnixMilli() {
			victim = len(segs)
		} else if victim >= 0 && s.records > 0 {
			later++
		}
		segs = append(segs, s)
	}
	if victim < 1 || later == 0 {
		t.Fatalf("no segment with commands after %v, with others after it: %v", t1, ents)
	}
	v := segs[victim]
	data, err := os.ReadFile(v.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(v.path); err != nil {
		t.Fatal(err)
	}
	missing := fmt.Sprintf("offsets %d to %d", v.start, v.end)
	before := time.UnixMilli(segs[victim-1].closed).UTC()

	// backup list: the table and the JSON show the gap.
	text := redkit(t, nil, "backup", "list", store).want(t, 0)
	if !strings.Contains(text.stdout, fmt.Sprintf("GAP: offsets %d-%d missing; %d segment(s) after it", v.start, v.end, len(segs)-victim-1)) {
		t.Errorf("backup list does not show the gap:\n%s", text.stdout)
	}
	r := redkit(t, nil, "backup", "list", store, "--format", "json").want(t, 0)
	var listed []struct {
		Generation *struct {
			Until     time.Time
			EndOffset int64 `json:"end_offset"`
			Gap       *struct {
				From          int64 `json:"from_offset"`
				To            int64 `json:"to_offset"`
				SegmentsAfter int   `json:"segments_after"`
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 1 || listed[0].Generation == nil {
		t.Fatalf("backup list --format json: %v\n%s", err, r.stdout)
	}
	if g := listed[0].Generation; g.Gap == nil || g.Gap.From != v.start || g.Gap.To != v.end || g.Gap.SegmentsAfter != len(segs)-victim-1 ||
		g.EndOffset != v.start || !g.Until.Equal(before) {
		t.Errorf("backup list --format json: %s", r.stdout)
	}

	if r := redkit(t, nil, "backup", "verify", store+"@"+gen).want(t, 1); !strings.Contains(r.stderr, missing) {
		t.Errorf("backup verify with a gap: %s", r.stderr)
	}

	// Latest: up to the gap, then exit 1 saying where it stopped.
	dst := redistest.Start(t, redistest.Options{})
	r = redkit(t, nil, "restore", "--to", dst.URL(), "--flush", store, "--at", "latest").want(t, 1)
	if !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, "last good command before it (offset ") {
		t.Errorf("restore --at latest with a gap: %s", r.stderr)
	}
	if got := debugDigest(t, dst); got != d1 {
		t.Errorf("restore --at latest with a gap: digest %s, want %s (the source's before the gap)\n%s", got, d1, r.stderr)
	}
	// Before the gap: restorable.
	redkit(t, nil, "restore", "--to", dst.URL(), "--flush", store, "--at", t1.Format(time.RFC3339Nano)).want(t, 0)
	if got := debugDigest(t, dst); got != d1 {
		t.Errorf("restore --at t1: digest %s, want %s", got, d1)
	}
	// After it: refused, saying why.
	for _, args := range [][]string{{"--at", t3.Format(time.RFC3339Nano)}, {"--at-offset", strconv.FormatInt(segs[len(segs)-1].end, 10)}} {
		r = redkit(t, nil, append([]string{"restore", "--to", dst.URL(), "--flush", store}, args...)...).want(t, 1)
		if !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, before.Format(time.RFC3339Nano)) || strings.Contains(r.stderr, "nothing received later") {
			t.Errorf("restore %v after the gap: %s", args, r.stderr)
		}
	}
	// --verify-first: nothing written.
	dst.Client().FlushAll(ctx)
	dst.Client().Set(ctx, "untouched", "1", 0)
	r = redkit(t, nil, "restore", "--to", dst.URL(), store, "--at", "latest", "--verify-first").want(t, 1)
	if n := dst.Client().DBSize(ctx).Val(); n != 1 || !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, "nothing was written") {
		t.Errorf("restore --verify-first with a gap: %d keys on the target\n%s", n, r.stderr)
	}

	// --to-file: an existing file is left as it was, with a gap and
	// with a damaged segment; no temporary file is left.
	outDir := t.TempDir()
	file := filepath.Join(outDir, "dump.rdb")
	old := []byte("the good file from before")
	if err := os.WriteFile(file, old, 0o644); err != nil {
		t.Fatal(err)
	}
	intact := func(what string) {
		t.Helper()
		if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, old) {
			t.Errorf("%s: %s replaced (%d bytes, %v)", what, file, len(got), err)
		}
		if ents, _ := os.ReadDir(outDir); len(ents) != 1 {
			t.Errorf("%s: %d files in %s, want 1", what, len(ents), outDir)
		}
	}
	r = redkit(t, nil, "restore", store, "--at", "latest", "--to-file", file).want(t, 1)
	if !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, "was not written") {
		t.Errorf("restore --to-file with a gap: %s", r.stderr)
	}
	intact("a gap")
	if err := os.WriteFile(v.path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	data[len(data)*2/3] ^= 0x40
	if err := os.WriteFile(v.path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r = redkit(t, nil, "restore", store, "--at", "latest", "--to-file", file).want(t, 1)
	if !strings.Contains(r.stderr, filepath.Base(v.path)) || !strings.Contains(r.stderr, "last good command") || !strings.Contains(r.stderr, "was not written") {
		t.Errorf("restore --to-file with a damaged segment: %s", r.stderr)
	}
	intact("a damaged segment")
}
