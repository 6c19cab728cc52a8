package main

import (
	"bytes"
	"regexp"
	"sync"
	"testing"
	"time"

	rsync "github.com/redkit/redkit/sync"
)

// lockedBuffer is a terminal stand-in that the bars' goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until what is drawn matches re.
func waitFor(t *testing.T, buf *lockedBuffer, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !re.MatchString(buf.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("nothing drawn matches %s; drawn: %q", re, buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestProgressBytesDone: dump's and backup's bars show the bytes done,
// whether the total is known or not (a diskless snapshot's is not), not
// only a rate.
func TestProgressBytesDone(t *testing.T) {
	for _, tc := range []struct {
		total int64
		want  string
	}{
		{-1, `\(12 MB[,)]`},
		{0, `\(12 MB[,)]`},
		{50_000_000, `24% .*\(12/50 MB[,)]`},
	} {
		var buf lockedBuffer
		p := newProgress(&buf, "dump", tc.total, 5*time.Millisecond)
		p.count(func() int64 { return 12_345_678 })
		waitFor(t, &buf, regexp.MustCompile(tc.want))
		p.stop()
	}
}

// TestSyncProgressTotalLater: the full sync's bar is drawn, with its
// percentage, once the snapshot's size is known, which is after the
// phase began.
func TestSyncProgressTotalLater(t *testing.T) {
	var mu sync.Mutex
	st := rsync.SyncStatus{Phase: rsync.PhaseFullSync} // the snapshot's header not read yet
	status := func() rsync.SyncStatus {
		mu.Lock()
		defer mu.Unlock()
		return st
	}
	var buf lockedBuffer
	stop := drawSyncProgress(func(total int64) *progress { return newProgress(&buf, "full sync", total, 5*time.Millisecond) }, status, 5*time.Millisecond)
	defer stop()
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	st.FullBytesTotal, st.FullBytes, st.FullKeys, st.FullKeysTotal = 10_000_000, 5_000_000, 500, 1000
	mu.Unlock()
	waitFor(t, &buf, regexp.MustCompile(`full sync 500/1000 keys +50% .*\(5\.0/10 MB[,)]`))
}
