package backup_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

func TestLock(t *testing.T) {
	ctx := context.Background()
	b, _ := newFile(t)
	l1, err := storage.AcquireLock(ctx, b, "backup", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := storage.AcquireLock(ctx, b, "prune", time.Minute, nil); !errors.Is(err, storage.ErrLocked) || !strings.Contains(err.Error(), "backup (pid") {
		t.Errorf("second lock: %v", err)
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
