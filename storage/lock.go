package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Locks keep two runs (backups, prunes) from working on one storage at
// once. A run puts locks/<id>.json, then lists the locks: if another live
// one sorts first (ids begin with the time), it withdraws. A lock is
// refreshed while its run works; one not refreshed for the lock timeout
// is stale (its run died) and is taken over, with a warning. So is, at
// once, a lock whose process is gone from this very machine (its PID
// namespace, since its boot): a run that could not remove it (the
// storage was out when it failed) or that was killed.

// LocksDir is the folder of the locks, under the backend's root.
const LocksDir = "locks/"

// ErrLocked is returned when another run holds the storage's lock,
// wrapped in a *LockedError.
var ErrLocked = errors.New("the storage is locked by another run")

// LockedError tells that another run holds the storage's lock: AcquireLock
// found its lock live. It wraps ErrLocked.
type LockedError struct {
	Holder  LockInfo      // the lock in the way
	Storage string        // the storage's URL
	Timeout time.Duration // the age at which a lock not refreshed is stale: Holder's, once not refreshed that long
	// Race tells that Holder put its lock at the same moment as this
	// run (both saw no other; the first id wins).
	Race bool
}

func (e *LockedError) Error() string {
	if e.Race {
		return fmt.Sprintf("%v: %s took %s at the same moment", ErrLocked, e.Holder, e.Storage)
	}
	return fmt.Sprintf("%v: %s holds %s", ErrLocked, e.Holder, e.Storage)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// LockInfo is a lock's content.
type LockInfo struct {
	ID        string    `json:"id"`
	Operation string    `json:"operation"` // backup, prune...
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Created   time.Time `json:"created"`
	Refreshed time.Time `json:"refreshed"`
	// Machine names the PID namespace of the process, and the boot of
	// its kernel (Linux), so that a run in the same one can tell that
	// the process is gone. Empty where unknown.
	Machine string `json:"machine,omitempty"`
}

// gone tells that the lock's process has ended: it ran in this machine's
// PID namespace, since this boot, and no process has its PID any more.
func (li LockInfo) gone() bool {
	return li.Machine != "" && li.Machine == machineID() && li.PID > 0 && li.PID != os.Getpid() && !processExists(li.PID)
}

// Lock is a lock this process holds.
type Lock struct {
	b    Backend
	info LockInfo
	stop chan struct{}
	done chan struct{}
	// TookOver tells that a stale lock was removed to take this one: the
	// run that held it died, and may have left uploads behind.
	TookOver bool
}

func lockKey(id string) string { return LocksDir + id + ".json" }

func (l *Lock) put(ctx context.Context) error {
	data, _ := json.Marshal(l.info)
	_, err := l.b.Put(ctx, lockKey(l.info.ID), bytes.NewReader(data))
	return err
}

// readLocks reads every lock in the storage.
func readLocks(ctx context.Context, b Backend) ([]LockInfo, error) {
	objs, err := b.List(ctx, LocksDir)
	if err != nil {
		return nil, err
	}
	var out []LockInfo
	for _, o := range objs {
		data, err := ReadSmall(ctx, b, o.Key, 1<<20)
		if errors.Is(err, os.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, err
		}
		var li LockInfo
		if json.Unmarshal(data, &li) != nil || li.ID == "" {
			// Unreadable (cut short?): stale from its object's time.
			li = LockInfo{ID: strings.TrimSuffix(strings.TrimPrefix(o.Key, LocksDir), ".json"), Refreshed: o.ModTime, Operation: "unknown"}
		}
		out = append(out, li)
	}
	return out, nil
}

func (li LockInfo) String() string {
	return fmt.Sprintf("%s (pid %d on %s, since %s, refreshed %s)", li.Operation, li.PID, li.Host,
		li.Created.UTC().Format(time.RFC3339), li.Refreshed.UTC().Format(time.RFC3339))
}

// AcquireLock takes the storage's lock for an operation. timeout is the
// age at which a lock not refreshed is stale; the lock is refreshed every
// timeout/4 until Release. Another run's live lock is a *LockedError.
func AcquireLock(ctx context.Context, b Backend, operation string, timeout time.Duration, log *slog.Logger) (*Lock, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if timeout <= 0 {
		timeout = 15 * time.Minute
	}
	now := time.Now()
	host, _ := os.Hostname()
	l := &Lock{b: b, info: LockInfo{ID: NewID(now), Operation: operation, Host: host, PID: os.Getpid(), Created: now.UTC(), Refreshed: now.UTC(), Machine: machineID()}}
	locks, err := readLocks(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("read the locks of %s: %w", b.URL(), err)
	}
	for _, li := range locks {
		switch age := now.Sub(li.Refreshed); {
		case age > timeout:
			log.Warn("taking over a stale lock: its run stopped refreshing it (died?)", "lock", li.String(), "age", age.Round(time.Second), "lock_timeout", timeout)
		case li.gone():
			log.Warn("taking over the lock of a run that ended without removing it: its process is gone from this machine", "lock", li.String())
		default:
			return nil, &LockedError{Holder: li, Storage: b.URL(), Timeout: timeout}
		}
		if err := b.Delete(ctx, lockKey(li.ID)); err != nil {
			return nil, fmt.Errorf("remove the stale lock %s: %w", li.ID, err)
		}
		l.TookOver = true
	}
	if err := l.put(ctx); err != nil {
		return nil, fmt.Errorf("write the lock of %s: %w", b.URL(), err)
	}
	// Another run may have put its lock meanwhile: the first id wins.
	locks, err = readLocks(ctx, b)
	if err == nil {
		for _, li := range locks {
			if li.ID < l.info.ID && now.Sub(li.Refreshed) <= timeout && !li.gone() {
				b.Delete(context.WithoutCancel(ctx), lockKey(l.info.ID))
				return nil, &LockedError{Holder: li, Storage: b.URL(), Timeout: timeout, Race: true}
			}
		}
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.refresh(timeout/4, log)
	return l, nil
}

func (l *Lock) refresh(every time.Duration, log *slog.Logger) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.info.Refreshed = time.Now().UTC()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := l.put(ctx)
		cancel()
		if err != nil {
			log.Warn("could not refresh the storage lock: another run may take it over if this goes on for the lock timeout", "err", err)
		}
	}
}

// Release stops refreshing the lock and removes it. When it cannot (the
// storage is out), the lock is left: the next run on this machine takes
// it over at once (its process is gone), others after the lock timeout.
func (l *Lock) Release(ctx context.Context) error {
	close(l.stop)
	<-l.done
	if err := l.b.Delete(context.WithoutCancel(ctx), lockKey(l.info.ID)); err != nil {
		return fmt.Errorf("remove the lock %s of %s: %w", lockKey(l.info.ID), l.b.URL(), err)
	}
	return nil
}

// Created is when the lock was taken.
func (l *Lock) Created() time.Time { return l.info.Created }
