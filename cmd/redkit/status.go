package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	rsync "github.com/redkit/redkit/sync"
)

// syncMetrics exports a Syncer's status to Prometheus.
type syncMetrics struct {
	reg     *prometheus.Registry
	latency prometheus.Histogram
}

// statusMetrics registers metrics read from a status on each scrape.
type statusMetrics[T any] struct {
	reg    *prometheus.Registry
	ns     string
	status func() T
}

func (m statusMetrics[T]) gauge(name, help string, f func(T) float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: m.ns, Name: name, Help: help},
		func() float64 { return f(m.status()) }))
}

func (m statusMetrics[T]) counter(name, help string, f func(T) float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: m.ns, Name: name, Help: help},
		func() float64 { return f(m.status()) }))
}

func newSyncMetrics(status func() rsync.SyncStatus) *syncMetrics {
	reg := prometheus.NewRegistry()
	m := &syncMetrics{reg: reg}
	sm := statusMetrics[rsync.SyncStatus]{reg, "redkit_sync", status}
	gauge, counter := sm.gauge, sm.counter
	phases := []string{rsync.PhaseConnecting, rsync.PhaseFullSync, rsync.PhaseStreaming, rsync.PhaseBackoff, rsync.PhaseDone}
	for _, p := range phases {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "redkit_sync", Name: "phase",
			Help: "1 for the phase the sync is in.", ConstLabels: prometheus.Labels{"phase": p}},
			func() float64 {
				if status().Phase == p {
					return 1
				}
				return 0
			}))
	}
	gauge("full_sync_bytes", "Bytes of the current or last full sync's snapshot read.", func(st rsync.SyncStatus) float64 { return float64(st.FullBytes) })
	gauge("full_sync_bytes_total", "Size of the snapshot (-1: diskless, unknown).", func(st rsync.SyncStatus) float64 { return float64(st.FullBytesTotal) })
	gauge("full_sync_keys", "Keys of the current or last full sync written.", func(st rsync.SyncStatus) float64 { return float64(st.FullKeys) })
	gauge("full_sync_keys_total", "Keys of the source when the full sync began.", func(st rsync.SyncStatus) float64 { return float64(st.FullKeysTotal) })
	gauge("received_offset", "Replication offset of the last command read from the source.", func(st rsync.SyncStatus) float64 { return float64(st.Received) })
	gauge("applied_offset", "Replication offset the target is at.", func(st rsync.SyncStatus) float64 { return float64(st.Applied) })
	gauge("lag_bytes", "Bytes of the stream read and not yet applied.", func(st rsync.SyncStatus) float64 { return float64(st.LagBytes) })
	gauge("lag_seconds", "How long the oldest command not yet applied has waited.", func(st rsync.SyncStatus) float64 { return st.LagSeconds })
	counter("full_syncs_total", "Full syncs started.", func(st rsync.SyncStatus) float64 { return float64(st.FullSyncs) })
	counter("commands_total", "Stream commands applied.", func(st rsync.SyncStatus) float64 { return float64(st.Commands) })
	counter("errors_total", "Runs that ended in an error.", func(st rsync.SyncStatus) float64 { return float64(st.Errors) })
	counter("reconnects_total", "Reconnections after an error.", func(st rsync.SyncStatus) float64 { return float64(st.Reconnects) })
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "redkit_sync", Name: "apply_latency_seconds",
		Help:    "Time from reading a batch of the stream to the target's reply.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5}})
	reg.MustRegister(m.latency)
	return m
}

func (m *syncMetrics) observe(d time.Duration) { m.latency.Observe(d.Seconds()) }

// serveStatus serves /status, /status/history, /metrics and a page at /
// (status_page.go) on addr until stop is called; bound is the address
// listened on (addr with port 0 picks one).
func serveStatus(addr string, status func() any, reg *prometheus.Registry, log *slog.Logger) (stop func(), bound string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(status())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	history := newStatusHistory(status)
	mux.HandleFunc("GET /status/history", history.serve)
	mux.HandleFunc("GET /{$}", serveStatusPage)
	ctx, cancelHistory := context.WithCancel(context.Background())
	go history.run(ctx)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("status server", "err", err)
		}
	}()
	return func() {
		cancelHistory()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, ln.Addr().String(), nil
}

// addScanMetrics registers --mode scan's own metrics beside the sync's.
func addScanMetrics(m *syncMetrics, status func() rsync.ScanSyncStatus) {
	sm := statusMetrics[rsync.ScanSyncStatus]{m.reg, "redkit_sync_scan", status}
	sm.gauge("keys_scanned", "Keys the current or last full pass read.", func(st rsync.ScanSyncStatus) float64 { return float64(st.KeysScanned) })
	sm.gauge("keys_expected", "Keys of the source when that pass began.", func(st rsync.ScanSyncStatus) float64 { return float64(st.KeysExpected) })
	sm.gauge("queue_length", "Notified keys waiting to be read again.", func(st rsync.ScanSyncStatus) float64 { return float64(st.QueueLength) })
	sm.counter("notifications_received_total", "Keyspace notifications received (of keys the filter keeps).", func(st rsync.ScanSyncStatus) float64 { return float64(st.NotificationsReceived) })
	sm.counter("notifications_applied_total", "Notified keys read again and written or deleted (a burst on one key counts once).", func(st rsync.ScanSyncStatus) float64 { return float64(st.NotificationsApplied) })
	sm.counter("rescans_total", "Full passes after the first (a lost subscription, a dropped queue).", func(st rsync.ScanSyncStatus) float64 { return float64(st.Rescans) })
	sm.counter("keys_deleted_total", "DELs sent for keys gone from the source.", func(st rsync.ScanSyncStatus) float64 { return float64(st.KeysDeleted) })
}
