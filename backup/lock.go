package backup

import (
	"context"
	"log/slog"
	"time"

	"github.com/redkit/redkit/storage"
	rsync "github.com/redkit/redkit/sync"
)

// Lock takes the storage's lock for op (backup, prune: what the lock
// says its holder does), then removes what runs that died before this
// one left (pending multipart uploads, temporary files, a segment's PUT
// cut short): with the lock held, nothing else writes there. A lock not
// refreshed for timeout is taken over. Its error is a *LockError.
func Lock(ctx context.Context, b storage.Backend, op string, timeout time.Duration, log *slog.Logger) (*storage.Lock, error) {
	log = logOrDiscard(log)
	lock, err := storage.AcquireLock(ctx, b, op, timeout, log)
	if err != nil {
		return nil, &LockError{Op: op, Err: err}
	}
	if cl, ok := b.(storage.Cleaner); ok {
		n, err := cl.Cleanup(ctx, BackupsDir, lock.Created())
		if err == nil {
			// A segment's PUT cut short by a continuous backup that died.
			var k int
			k, err = cl.Cleanup(ctx, ContinuousDir, lock.Created())
			n += k
		}
		switch {
		case err != nil:
			log.Warn("could not look for uploads interrupted by a run that died", "err", err)
		case n > 0:
			log.Warn("removed uploads interrupted by a run that died", "count", n)
		}
	}
	return lock, nil
}

// LogLockNotReleased is the message of the warning logged when the
// storage's lock cannot be removed at the end of a run.
const LogLockNotReleased = "could not release the storage lock: the next run on this machine takes it over (on Linux), others once it is older than the lock timeout"

// releaseLock removes the storage's lock, on every return (an error
// and an interruption too), and says so when it cannot.
func releaseLock(ctx context.Context, lock *storage.Lock, log *slog.Logger) {
	if err := lock.Release(ctx); err != nil {
		log.Warn(LogLockNotReleased, "err", rsync.Redact(err.Error()))
	}
}
