package backup_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
)

// backupsAt makes manifests started at the given times.
func backupsAt(times ...string) []*backup.Manifest {
	var ms []*backup.Manifest
	for _, s := range times {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		ms = append(ms, &backup.Manifest{ID: backup.NewID(t), Started: t})
	}
	return ms
}

func kept(ds []backup.Decision) string {
	var out []string
	for _, d := range ds {
		if d.Keep {
			out = append(out, d.Backup.Started.UTC().Format("01-02T15"))
		}
	}
	return strings.Join(out, " ")
}

func TestPolicy(t *testing.T) {
	// Two a day from Monday 2026-11-02 to Sunday 2026-11-22, at 03:00 and 15:00.
	var times []string
	for d := 2; d <= 22; d++ {
		times = append(times, fmt.Sprintf("2026-11-%02dT03:00:00Z", d), fmt.Sprintf("2026-11-%02dT15:00:00Z", d))
	}
	all := backupsAt(times...)
	for _, tc := range []struct {
		name string
		p    backup.Policy
		want string
	}{
		{"none", backup.Policy{}, "11-22T15"},
		{"last 3", backup.Policy{Last: 3}, "11-22T15 11-22T03 11-21T15"},
		{"daily 3", backup.Policy{Daily: 3}, "11-22T15 11-21T15 11-20T15"},
		{"weekly 2", backup.Policy{Weekly: 2}, "11-22T15 11-15T15"},
		{"weekly 9 (only 3 weeks)", backup.Policy{Weekly: 9}, "11-22T15 11-15T15 11-08T15"},
		{"within 24h", backup.Policy{Within: 24 * time.Hour}, "11-22T15 11-22T03 11-21T15"},
		{"last 1 daily 2 weekly 2", backup.Policy{Last: 1, Daily: 2, Weekly: 2}, "11-22T15 11-21T15 11-15T15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := tc.p.Apply(all, nil)
			if got := kept(ds); got != tc.want {
				t.Errorf("kept %s, want %s", got, tc.want)
			}
			if len(ds) != len(all) || !ds[0].Keep || ds[0].Reasons[0] != "newest" {
				t.Errorf("decisions: %d, first %+v", len(ds), ds[0])
			}
		})
	}
	// Daily counts days that have backups: a gap is skipped over.
	gappy := backupsAt("2026-11-01T10:00:00Z", "2026-11-05T10:00:00Z", "2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z")
	if got := kept(backup.Policy{Daily: 2}.Apply(gappy, nil)); got != "11-20T11 11-05T10" {
		t.Errorf("daily 2 over gaps: %s", got)
	}
}

// TestPolicyPerSource: the rules apply to each source's backups apart:
// --keep-last 1 over two sources keeps one of each, and every source's
// newest is kept whatever the rules.
func TestPolicyPerSource(t *testing.T) {
	mk := func(at string, src backup.SourceInfo) *backup.Manifest {
		ts, err := time.Parse(time.RFC3339, at)
		if err != nil {
			panic(err)
		}
		return &backup.Manifest{ID: backup.NewID(ts), Started: ts, Source: src}
	}
	a := backup.SourceInfo{Kind: "live", URL: "redis://10.0.0.5:6379", Host: "10.0.0.5:6379"}
	aTLS := backup.SourceInfo{Kind: "live", URL: "rediss://user:xxxxx@10.0.0.5:6379/2", Host: "10.0.0.5:6379"} // the same server
	b := backup.SourceInfo{Kind: "live", URL: "redis://10.0.0.6:6379", Host: "10.0.0.6:6379"}
	f := backup.SourceInfo{Kind: "rdb-file", URL: "/var/lib/redis/dump.rdb"}
	ms := []*backup.Manifest{
		mk("2026-11-01T01:00:00Z", a), mk("2026-11-02T01:00:00Z", aTLS), mk("2026-11-03T01:00:00Z", a),
		mk("2026-10-01T01:00:00Z", b), mk("2026-10-02T01:00:00Z", b),
		mk("2025-01-01T01:00:00Z", f),
	}
	for _, tc := range []struct {
		name string
		p    backup.Policy
		want string // kept, newest first
	}{
		{"none", backup.Policy{}, "11-03T01 10-02T01 01-01T01"},
		{"last 1", backup.Policy{Last: 1}, "11-03T01 10-02T01 01-01T01"},
		{"last 2", backup.Policy{Last: 2}, "11-03T01 11-02T01 10-02T01 10-01T01 01-01T01"},
		// Within counts from each source's newest: b's are a month older than a's.
		{"within 30h", backup.Policy{Within: 30 * time.Hour}, "11-03T01 11-02T01 10-02T01 10-01T01 01-01T01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := tc.p.Apply(ms, nil)
			if got := kept(ds); got != tc.want {
				t.Errorf("kept %s, want %s", got, tc.want)
			}
			for _, d := range ds {
				if d.Source != d.Backup.Source.Key() {
					t.Errorf("%s: source %q, want %q", d.Backup.ID, d.Source, d.Backup.Source.Key())
				}
			}
		})
	}
}

func TestSourceKey(t *testing.T) {
	for _, tc := range []struct {
		src  backup.SourceInfo
		want string
	}{
		{backup.SourceInfo{Kind: "live", URL: "redis://10.0.0.5:6379", Host: "10.0.0.5:6379"}, "10.0.0.5:6379"},
		{backup.SourceInfo{Kind: "live", URL: "rediss://default:xxxxx@Cache.Example.com:6380/3", Host: "10.1.1.1:6380"}, "cache.example.com:6380"},
		{backup.SourceInfo{Kind: "live", URL: "redis+sentinel://s1:26379,s2:26379/mymaster", Host: "10.0.0.7:6379"}, "s1:26379,s2:26379/mymaster"},
		{backup.SourceInfo{Kind: "live", URL: "rediss+sentinel://u@s1:26379/mymaster/2", Host: "10.0.0.8:6379"}, "s1:26379/mymaster"},
		{backup.SourceInfo{Kind: "live", Host: "10.0.0.9:6379"}, "10.0.0.9:6379"},
		{backup.SourceInfo{Kind: "rdb-file", URL: "/var/lib/redis/dump.rdb"}, "/var/lib/redis/dump.rdb"},
		{backup.SourceInfo{Kind: "aof-dir", URL: "/var/lib/redis/appendonlydir"}, "/var/lib/redis/appendonlydir"},
	} {
		if got := tc.src.Key(); got != tc.want {
			t.Errorf("%+v: key %q, want %q", tc.src, got, tc.want)
		}
	}
}

// TestPolicyCalendar: hourly, monthly and yearly, as restic's: the newest
// of each of the last N hours (months, years) that have backups, UTC.
func TestPolicyCalendar(t *testing.T) {
	// Every 20 minutes over 3 hours; then monthly ones over two years.
	var times []string
	for i := 0; i < 9; i++ {
		times = append(times, time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC).Add(time.Duration(i)*20*time.Minute).Format(time.RFC3339))
	}
	for _, ym := range []string{"2025-03", "2025-07", "2025-12", "2026-01", "2026-06", "2026-10"} {
		times = append(times, ym+"-15T12:00:00Z")
	}
	all := backupsAt(times...)
	for _, tc := range []struct {
		name string
		p    backup.Policy
		want string
	}{
		// 21:00-23:40 on 11-30: hours 23, 22, 21 have backups.
		{"hourly 2", backup.Policy{Hourly: 2}, "11-30T23 11-30T22"},
		{"hourly 9 (only 3 hours, then months)", backup.Policy{Hourly: 9}, "11-30T23 11-30T22 11-30T21 10-15T12 06-15T12 01-15T12 12-15T12 07-15T12 03-15T12"},
		{"monthly 3", backup.Policy{Monthly: 3}, "11-30T23 10-15T12 06-15T12"},
		{"yearly 2", backup.Policy{Yearly: 2}, "11-30T23 12-15T12"},
		{"yearly 5 (only 2 years)", backup.Policy{Yearly: 5}, "11-30T23 12-15T12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kept(tc.p.Apply(all, nil)); got != tc.want {
				t.Errorf("kept %s, want %s", got, tc.want)
			}
		})
	}
}

func TestLock(t *testing.T) {
	ctx := context.Background()
	b, _ := newFile(t)
	l1, err := storage.AcquireLock(ctx, b, "backup", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = storage.AcquireLock(ctx, b, "prune", time.Minute, nil)
	if !errors.Is(err, storage.ErrLocked) || !strings.Contains(err.Error(), "backup (pid") {
		t.Errorf("second lock: %v", err)
	}
	// The error names the holder and the storage, and no flag.
	var le *storage.LockedError
	if !errors.As(err, &le) || le.Holder.Operation != "backup" || le.Holder.PID != os.Getpid() || le.Storage != b.URL() || le.Timeout != time.Minute || le.Race {
		t.Errorf("second lock: %#v, want a *LockedError naming the backup's lock", err)
	} else if want := "the storage is locked by another run: " + le.Holder.String() + " holds " + b.URL(); err.Error() != want {
		t.Errorf("second lock: %q, want %q", err, want)
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	l2, err := storage.AcquireLock(ctx, b, "prune", time.Minute, nil)
	if err != nil || l2.TookOver {
		t.Fatalf("after release: %v %+v", err, l2)
	}
	// A run that died: its lock is not refreshed, and goes stale.
	time.Sleep(1100 * time.Millisecond)
	l3, err := storage.AcquireLock(ctx, b, "backup", time.Second, nil)
	if err != nil || !l3.TookOver {
		t.Fatalf("stale lock: %v", err)
	}
	l3.Release(ctx)
	if objs, _ := b.List(ctx, storage.LocksDir); len(objs) != 0 {
		t.Errorf("locks left: %v", objs)
	}
	// Not listed among backups.
	if l, err := backup.List(ctx, b); err != nil || len(l.Backups)+len(l.Incomplete) != 0 {
		t.Errorf("List: %+v %v", l, err)
	}
}

// TestLockOfGoneProcess: a lock left by a process that ended on this
// machine (its PID namespace, since this boot) is taken over at once; the
// lock of a live process, or of another machine, holds.
func TestLockOfGoneProcess(t *testing.T) {
	ctx := context.Background()
	b, _ := newFile(t)
	l, err := storage.AcquireLock(ctx, b, "backup", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := b.List(ctx, storage.LocksDir)
	if len(objs) != 1 {
		t.Fatalf("locks: %v", objs)
	}
	rc, err := b.Get(ctx, objs[0].Key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	var mine storage.LockInfo
	if err := json.Unmarshal(data, &mine); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if mine.Machine == "" {
		t.Skip("no machine id on this system: locks go stale after their timeout only")
	}
	ended := exec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	running := exec.Command("sleep", "60")
	if err := running.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { running.Process.Kill(); running.Wait() })
	now := time.Now().UTC()
	for _, tc := range []struct {
		name     string
		pid      int
		machine  string
		takeOver bool
	}{
		{"ended here", ended.ProcessState.Pid(), mine.Machine, true},
		{"running here", running.Process.Pid, mine.Machine, false},
		{"ended elsewhere", ended.ProcessState.Pid(), "another-boot/pid:[1]", false},
		{"no machine", ended.ProcessState.Pid(), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			li := storage.LockInfo{ID: backup.NewID(now.Add(-time.Second)), Operation: "backup", Host: mine.Host, PID: tc.pid, Created: now, Refreshed: now, Machine: tc.machine}
			data, _ := json.Marshal(li)
			key := storage.LocksDir + li.ID + ".json"
			if _, err := b.Put(ctx, key, strings.NewReader(string(data))); err != nil {
				t.Fatal(err)
			}
			defer b.Delete(ctx, key)
			l, err := storage.AcquireLock(ctx, b, "backup", time.Minute, nil)
			if !tc.takeOver {
				if !errors.Is(err, storage.ErrLocked) {
					t.Errorf("got %v, want ErrLocked", err)
				}
				if err == nil {
					l.Release(ctx)
				}
				return
			}
			if err != nil || !l.TookOver {
				t.Fatalf("got %v, want the lock taken over", err)
			}
			l.Release(ctx)
		})
	}
}
