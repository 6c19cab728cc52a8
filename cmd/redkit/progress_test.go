package main

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
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
		{-1, `dump 11\.8 MiB `},
		{0, `dump 11\.8 MiB `},
		{50_000_000, `dump 11\.8 MiB of 47\.7 MiB +24% `},
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
	waitFor(t, &buf, regexp.MustCompile(`full sync 500/1000 keys 4\.8 MiB of 9\.5 MiB +50% `))
}

// TestProgressUnits: a bar shows every size in binary units (KiB, MiB,
// GiB), as every other size redkit prints, never SI ones (kB, MB).
func TestProgressUnits(t *testing.T) {
	var buf lockedBuffer
	var n atomic.Int64
	n.Store(3 << 20)
	p := newProgress(&buf, "convert", 10<<30, 5*time.Millisecond)
	p.count(n.Load)
	waitFor(t, &buf, regexp.MustCompile(`convert 3\.0 MiB of 10\.0 GiB`))
	p.stop()
	if si := regexp.MustCompile(`[0-9] ?[kKMGT]B\b`).FindString(buf.String()); si != "" {
		t.Errorf("an SI unit %q drawn: %q", si, buf.String())
	}
}

// TestProgressNoFirstFrameRate: a bar whose count is already large when
// it is first drawn (a snapshot that came fast, a bar made again when
// the total became known) shows no rate until a second of samples: the
// rate is never the count over the few microseconds since the bar began.
func TestProgressNoFirstFrameRate(t *testing.T) {
	var buf lockedBuffer
	var n atomic.Int64
	n.Store(2_200_000_000)
	p := newProgress(&buf, "dump", -1, 5*time.Millisecond)
	p.count(n.Load)
	waitFor(t, &buf, regexp.MustCompile(`dump 2\.0 GiB`))
	p.setTotal(4_400_000_000) // a new bar, mid-transfer
	waitFor(t, &buf, regexp.MustCompile(`dump 2\.0 GiB of 4\.1 GiB`))
	time.Sleep(100 * time.Millisecond)
	p.stop()
	if strings.Contains(buf.String(), "/s") {
		t.Errorf("a rate drawn before a second passed: %q", buf.String())
	}
}

// TestRateMeter: no rate until the samples span a second; then the
// count's growth per second over the last few seconds.
func TestRateMeter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var m rateMeter
	if got := m.rate(); got != -1 {
		t.Errorf("no samples: rate %v, want -1", got)
	}
	m.add(t0, 2_000_000_000) // a large count at the first sample
	m.add(t0.Add(200*time.Millisecond), 2_010_000_000)
	if got := m.rate(); got != -1 {
		t.Errorf("after 200ms: rate %v, want -1 (none yet)", got)
	}
	m.add(t0.Add(time.Second), 2_050_000_000)
	if got := m.rate(); got != 50_000_000 {
		t.Errorf("after 1s: rate %v, want 50000000", got)
	}
	// The window moves: the rate follows the last seconds, not the start.
	for i := 2; i <= 20; i++ {
		m.add(t0.Add(time.Duration(i)*time.Second), 2_050_000_000+int64(i-1)*10_000_000)
	}
	if got := m.rate(); got != 10_000_000 {
		t.Errorf("after 20s: rate %v, want 10000000", got)
	}
	if len(m.samples) > 7 {
		t.Errorf("%d samples kept, want those of the last 5s", len(m.samples))
	}
}

// TestProgressText: sizes in binary units, the rate and the time left
// only when the rate is known.
func TestProgressText(t *testing.T) {
	for _, tc := range []struct {
		done, total int64
		rate        float64
		want        string
	}{
		{512, -1, -1, "dump 512 B"},
		{3 << 20, -1, 1 << 20, "dump 3.0 MiB, 1.0 MiB/s"},
		{3 << 20, 10 << 20, -1, "dump 3.0 MiB of 10.0 MiB"},
		{3 << 20, 10 << 20, 1 << 20, "dump 3.0 MiB of 10.0 MiB, 1.0 MiB/s, 7s left"},
		{10 << 20, 10 << 20, 0, "dump 10.0 MiB of 10.0 MiB, 0 B/s"},
		{1 << 30, 90 << 30, 1 << 30, "dump 1.0 GiB of 90.0 GiB, 1.0 GiB/s, 1m29s left"},
	} {
		if got := progressText("dump", tc.done, tc.total, tc.rate); got != tc.want {
			t.Errorf("progressText(%d, %d, %v) = %q, want %q", tc.done, tc.total, tc.rate, got, tc.want)
		}
	}
}

// TestProgressRateAfterASecond: once a second of samples is in, the
// bar shows the rate and the time left.
func TestProgressRateAfterASecond(t *testing.T) {
	var buf lockedBuffer
	var n atomic.Int64
	p := newProgress(&buf, "dump", 1<<40, 20*time.Millisecond)
	p.count(func() int64 { return n.Add(1 << 20) })
	waitFor(t, &buf, regexp.MustCompile(`dump [0-9.]+ MiB of 1\.0 TiB, [0-9.]+ MiB/s, [0-9hms]+ left`))
	p.stop()
	t.Logf("%q", buf.String()[max(0, len(buf.String())-300):])
}
