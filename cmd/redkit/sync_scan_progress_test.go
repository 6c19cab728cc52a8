package main

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	rsync "github.com/redkit/redkit/sync"
)

// TestScanSyncProgress: a scan sync draws a bar of the keys read while
// a pass runs (of the source's key count when it began), takes it away
// when the pass ends, and draws a new one for the next pass.
func TestScanSyncProgress(t *testing.T) {
	if got, want := scanSyncText(10, 30, 10), "sync (scan): 10 of 30 keys read, 10 keys/s, 2s left"; got != want {
		t.Errorf("scanSyncText = %q, want %q", got, want)
	}
	var mu sync.Mutex
	var st rsync.ScanSyncStatus
	st.Phase = rsync.PhaseConnecting
	status := func() rsync.ScanSyncStatus {
		mu.Lock()
		defer mu.Unlock()
		return st
	}
	set := func(phase string, scanned, expected int64) {
		mu.Lock()
		st.Phase, st.KeysScanned, st.KeysExpected = phase, scanned, expected
		mu.Unlock()
	}
	var buf lockedBuffer
	stop := drawScanSyncProgress(&buf, status, 5*time.Millisecond)
	defer stop()
	time.Sleep(30 * time.Millisecond)
	if strings.Contains(buf.String(), "keys read") {
		t.Fatalf("a bar before the scan: %q", buf.String())
	}
	set(rsync.PhaseScanning, 7, 32)
	waitFor(t, &buf, regexp.MustCompile(`sync \(scan\): 7 of 32 keys read`))
	set(rsync.PhaseStreaming, 32, 32)
	time.Sleep(30 * time.Millisecond)
	set(rsync.PhaseScanning, 3, 40) // a rescan after a lost subscription
	waitFor(t, &buf, regexp.MustCompile(`sync \(scan\): 3 of 40 keys read`))
}
