package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redkit/redkit/storage"
)

// TestLockHint: a held lock's error reads as it always has once the
// command layer adds the advice that names --lock-timeout.
func TestLockHint(t *testing.T) {
	holder := storage.LockInfo{ID: "x", Operation: "backup", Host: "h", PID: 7,
		Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Refreshed: time.Date(2026, 1, 2, 3, 5, 5, 0, time.UTC)}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"held", &storage.LockedError{Holder: holder, Storage: "file:///b", Timeout: 15 * time.Minute},
			"prune: the storage is locked by another run: backup (pid 7 on h, since 2026-01-02T03:04:05Z, refreshed 2026-01-02T03:05:05Z) holds file:///b: wait for it to end; a lock not refreshed for --lock-timeout (15m0s) is taken over"},
		{"race", &storage.LockedError{Holder: holder, Storage: "file:///b", Timeout: time.Minute, Race: true},
			"prune: the storage is locked by another run: backup (pid 7 on h, since 2026-01-02T03:04:05Z, refreshed 2026-01-02T03:05:05Z) took file:///b at the same moment"},
		{"other", errors.New("read the locks of file:///b: boom"), "prune: read the locks of file:///b: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := withAdvice(fmt.Errorf("prune: %w", tc.err)).Error()
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
