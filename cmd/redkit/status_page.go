package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"net/http"
	gosync "sync"
	"time"

	"github.com/redkit/redkit/backup"
	rsync "github.com/redkit/redkit/sync"
)

// statusPage is the page --status-addr serves at GET /: one file, its CSS
// and JavaScript inline, no request but to /status and /status/history.
//
//go:embed status_page.html
var statusPage []byte

// statusPageCSP lets the page load nothing but its own inline code and
// fetch nothing but its own origin, so it works offline and cannot leak.
const statusPageCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " +
	"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"

func serveStatusPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", statusPageCSP)
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(statusPage)
}

// History of the status, for GET /status/history: one sample a second,
// the last historyLen kept.
const (
	historyInterval = time.Second
	historyLen      = 600
)

// statusSample is one point of the history: rates over the second before
// T (Unix milliseconds), and the lag at T. The page computes the same
// from its own polls of /status (rates in status_page.html's sampleOf):
// keep the two in step.
type statusSample struct {
	T              int64   `json:"t"`
	Phase          string  `json:"phase"`
	BytesPerSecond float64 `json:"bytes_per_second"` // read from the source
	CmdsPerSecond  float64 `json:"commands_per_second"`
	LagSeconds     float64 `json:"lag_seconds"` // sync: lag_seconds; backup: recovery_lag_seconds
	LagBytes       int64   `json:"lag_bytes"`   // sync: lag_bytes; backup: received, not yet stored
}

// statusHistoryJSON is GET /status/history's body; Now (Unix
// milliseconds) lets the page place the samples on its own clock.
type statusHistoryJSON struct {
	Kind            string         `json:"kind"` // "sync" or "backup"
	Now             int64          `json:"now"`
	IntervalSeconds float64        `json:"interval_seconds"`
	Samples         []statusSample `json:"samples"`
}

// statusPoint holds what a sample is computed from: the counters of a
// status at an instant.
type statusPoint struct {
	t                             time.Time
	phase, replID                 string
	received, fullBytes, commands int64
	lagSeconds                    float64
	lagBytes                      int64
}

// pointOf reads a status served by serveStatus; kind is "" for a type
// it does not know.
func pointOf(v any, now time.Time) (p statusPoint, kind string) {
	switch st := v.(type) {
	case rsync.SyncStatus:
		return statusPoint{t: now, phase: st.Phase, replID: st.ReplID, received: st.Received, fullBytes: st.FullBytes,
			commands: st.Commands, lagSeconds: st.LagSeconds, lagBytes: st.LagBytes}, "sync"
	case rsync.ScanSyncStatus:
		// No bytes are counted: the keys read by the pass and the
		// notified keys applied stand for commands.
		return statusPoint{t: now, phase: st.Phase, commands: st.KeysScanned + st.NotificationsApplied}, "sync"
	case backup.ContinuousStatus:
		return statusPoint{t: now, phase: st.Phase, replID: st.ReplID, received: st.Received, commands: st.Commands,
			lagSeconds: st.RecoveryLagSeconds, lagBytes: max(0, st.Received-st.Durable)}, "backup"
	}
	return statusPoint{}, ""
}

// sampleBetween is the sample at cur. Bytes read are the full sync's
// bytes plus the stream's (the replication offset's advance while
// streaming in both points, same replication ID: the jump to a full
// sync's starting offset is not traffic); a counter that went down
// started again from 0.
func sampleBetween(prev, cur statusPoint) statusSample {
	s := statusSample{T: cur.t.UnixMilli(), Phase: cur.phase, LagSeconds: cur.lagSeconds, LagBytes: cur.lagBytes}
	dt := cur.t.Sub(prev.t).Seconds()
	if dt <= 0 {
		return s
	}
	grew := func(a, b int64) int64 {
		if b >= a {
			return b - a
		}
		return b
	}
	bytes := grew(prev.fullBytes, cur.fullBytes)
	if prev.phase == rsync.PhaseStreaming && cur.phase == rsync.PhaseStreaming && prev.replID == cur.replID && cur.received >= prev.received {
		bytes += cur.received - prev.received
	}
	s.BytesPerSecond = float64(bytes) / dt
	s.CmdsPerSecond = float64(grew(prev.commands, cur.commands)) / dt
	return s
}

// statusHistory samples a status every historyInterval.
type statusHistory struct {
	status func() any
	kind   string
	first  statusPoint

	mu      gosync.Mutex
	samples []statusSample
}

func newStatusHistory(status func() any) *statusHistory {
	h := &statusHistory{status: status}
	h.first, h.kind = pointOf(status(), time.Now())
	return h
}

// run samples the status until ctx is done.
func (h *statusHistory) run(ctx context.Context) {
	if h.kind == "" {
		return
	}
	prev := h.first
	tick := time.NewTicker(historyInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			cur, _ := pointOf(h.status(), now)
			h.add(sampleBetween(prev, cur))
			prev = cur
		}
	}
}

func (h *statusHistory) add(s statusSample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.samples) == historyLen {
		copy(h.samples, h.samples[1:])
		h.samples = h.samples[:historyLen-1]
	}
	h.samples = append(h.samples, s)
}

func (h *statusHistory) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	body := statusHistoryJSON{Kind: h.kind, Now: time.Now().UnixMilli(), IntervalSeconds: historyInterval.Seconds(),
		Samples: append([]statusSample{}, h.samples...)}
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body)
}
