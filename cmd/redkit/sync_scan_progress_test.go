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
	set(rsync.PhaseStreaming, 20, 32) // short of the count: keys deleted meanwhile
	// Taken away: the last thing written is a blank line ("\r", spaces,
	// "\r"), and nothing is drawn after it.
	cleared := func(got string) bool {
		seg := strings.Split(got, "\r")
		return len(seg) >= 2 && seg[len(seg)-1] == "" && strings.TrimSpace(seg[len(seg)-2]) == ""
	}
	var got string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if got = buf.String(); cleared(got) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bar was not cleared when the pass ended: ends %q", got[max(0, len(got)-120):])
		}
	}
	time.Sleep(30 * time.Millisecond)
	if again := buf.String(); len(again) != len(got) {
		t.Errorf("drawn while streaming: %q", again[len(got):])
	}
	set(rsync.PhaseScanning, 3, 40) // a rescan after a lost subscription
	waitFor(t, &buf, regexp.MustCompile(`sync \(scan\): 3 of 40 keys read`))
}
