package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
)

// The engine's errors state facts; with the hints redkit prints the
// messages it printed when the engine named the flags itself.
func TestBackupHint(t *testing.T) {
	_, _, noGens := backup.PlanRestore(nil, backup.Cutoff{})
	rp := time.Date(2026, 11, 26, 4, 0, 0, 160e6, time.UTC)
	after := &backup.AfterRecoveryPointError{Cut: backup.Cutoff{At: rp.Add(time.Millisecond)}, RecoveryPoint: rp, Generation: "g2"}
	enc := fmt.Errorf("backup %s is %w", "20261126T020700Z-3f9a1c", &storage.EncryptedError{Recipients: []string{"age1a", "age1b"}})
	for _, tc := range []struct {
		err  error
		want string
	}{
		{noGens, "not restorable: no continuous backup in this storage (backup --continuous writes them)"},
		{after, "not restorable: 2026-11-26T04:00:00.161Z is after the recovery point 2026-11-26T04:00:00.16Z of generation g2 (nothing received later is stored yet; --at latest restores everything stored)"},
		{enc, "backup 20261126T020700Z-3f9a1c is encrypted (age, to age1a, age1b): give the identity file with --identity-file"},
		{fmt.Errorf("restore: %w", storage.ErrChecksum), "restore: checksum mismatch"},
	} {
		if got := withAdvice(tc.err).Error(); got != tc.want {
			t.Errorf("withAdvice(%v)\n got %q\nwant %q", tc.err, got, tc.want)
		}
	}
}
