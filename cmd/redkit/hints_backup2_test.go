package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/redkit/redkit/backup"
)

// The backup engine's warnings name no flag; redkit prints them as it
// did, with the flag.
func TestAdviceLogBackup(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		newLogger(&buf, format, false).Warn(backup.LogLockNotReleased, "err", "gone")
		want := "could not release the storage lock: the next run on this machine takes it over (on Linux), others after --lock-timeout"
		if out := buf.String(); !strings.Contains(out, want) {
			t.Errorf("%s: no %q in\n%s", format, want, out)
		}
	}
}
