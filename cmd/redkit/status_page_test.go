package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/internal/chromium"
	"github.com/redkit/redkit/internal/redistest"
	rsync "github.com/redkit/redkit/sync"
)

// TestStatusPageSync runs a real sync with --status-addr, lets a writer
// work on the source for a few seconds, then loads the page at / in
// headless Chromium, offline: it requests nothing but its own origin,
// and its DOM shows the phase and the values /status has then (the
// full sync's keys and bytes, the stream's commands, the lag).
func TestStatusPageSync(t *testing.T) {
	browser := chromium.Find(t)
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync no"}})
	if err := redistest.FillMixed(ctx, src.Client(), 1); err != nil {
		t.Fatal(err)
	}
	if err := src.Client().Do(ctx, "DEBUG", "POPULATE", 20000, "pop", 64).Err(); err != nil {
		t.Fatal(err)
	}
	dst := redistest.Start(t, redistest.Options{})
	status := freeAddr(t)
	cmd, _ := redkitProcess(t, "sync", "--from", src.URL(), "--to", dst.URL(), "--status-addr", status)
	waitStatus(t, status, cmd, func(st rsync.SyncStatus) bool { return st.Phase == rsync.PhaseStreaming })
	w := redistest.StartWriter(t, src, 1)
	time.Sleep(3 * time.Second)
	w.Halt(t)
	waitSettled(t, status, cmd, func(m map[string]any) bool { return m["lag_bytes"] == 0.0 }, "commands")

	checkStatusPage(t, browser, status, "sync", map[string]string{"phase": "streaming"}, nil,
		[]string{"phase", "source", "commands", "commands_skipped", "received_offset", "applied_offset", "lag_seconds", "lag_bytes",
			"full_syncs", "full_sync_keys", "full_sync_keys_total", "full_sync_bytes", "full_sync_bytes_total", "errors", "reconnects"})
}

// TestStatusPageContinuous does the same for backup --continuous to a
// file:// storage: the page shows the recovery point, its lag and the
// segments stored.
func TestStatusPageContinuous(t *testing.T) {
	browser := chromium.Find(t)
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-backlog-size 64mb"}})
	if err := redistest.FillMixed(ctx, src.Client(), 1); err != nil {
		t.Fatal(err)
	}
	store := "file://" + filepath.Join(t.TempDir(), "store")
	status := freeAddr(t)
	cmd, _ := redkitProcess(t, "backup", "--continuous", "--from", src.URL(), "--to", store, "--segment-interval", "300ms", "--status-addr", status)
	waitContinuous(t, status, cmd, "streaming", func(st backup.ContinuousStatus) bool { return st.Phase == rsync.PhaseStreaming })
	w := redistest.StartWriter(t, src, 1)
	time.Sleep(3 * time.Second)
	w.Halt(t)
	// An empty segment is stored every --segment-interval, moving the
	// recovery point: the commands settle, not the segments.
	waitSettled(t, status, cmd, func(m map[string]any) bool { return true }, "commands")

	checkStatusPage(t, browser, status, "backup --continuous", map[string]string{"phase": "streaming"}, []string{"pending_segments", "recovery_lag_seconds"},
		[]string{"phase", "source", "recovery_point", "recovery_lag_seconds", "segments", "segment_bytes", "pending_segments",
			"commands", "durable_offset", "generation", "generations", "errors", "reconnects"})
}

// statusMap is GET /status as JSON values.
func statusMap(t *testing.T, addr string) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// waitSettled waits until ok holds and the fields named have not moved
// for a second.
func waitSettled(t *testing.T, addr string, cmd *exec.Cmd, ok func(map[string]any) bool, fields ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last, since := "", time.Now()
	for {
		m := statusMap(t, addr)
		var key strings.Builder
		for _, f := range fields {
			fmt.Fprintf(&key, "%v ", m[f])
		}
		if key.String() != last || !ok(m) {
			last, since = key.String(), time.Now()
		} else if time.Since(since) > time.Second {
			return
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("status never settled: %v", m)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	// An element showing a field of /status, as the page fills it in.
	fieldElement = regexp.MustCompile(`<[a-z]+ [^>]*data-field="([a-z_]+)"[^>]*data-value="([^"]*)"[^>]*>([^<]*)<`)
	absoluteURL  = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://`)
)

// checkStatusPage loads the page at addr in Chromium and checks it:
// served self-contained, loaded offline with no request but to addr,
// the command's kind in the title, the texts wantText for those fields,
// and each of the fields want shown with the value /status had while
// the page loaded (between the values before and after, for those that
// grow); those in volatile go up and down (a lag): between 0 and 2 more
// than the most /status said. It takes a screenshot too, copied to
// $REDKIT_STATUS_PAGE_PNG_DIR when set, to look at.
func checkStatusPage(t *testing.T, browser *chromium.Browser, addr, kind string, wantText map[string]string, volatile, want []string) {
	t.Helper()
	ctx := context.Background()
	page := "http://" + addr + "/"
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("GET /: Content-Type %q", ct)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("GET /: Content-Security-Policy %q", csp)
	}
	if u := absoluteURL.FindAll(html, -1); len(u) > 0 {
		t.Errorf("the page names absolute URLs %q: it must load nothing from elsewhere", u)
	}
	for _, attr := range regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*"([^"]*)"`).FindAllSubmatch(html, -1) {
		if string(attr[1]) != "data:," {
			t.Errorf("the page refers to %q", attr[1])
		}
	}

	before := statusMap(t, addr)
	res, err := browser.DumpDOM(ctx, page, chromium.Options{VirtualTime: 3 * time.Second})
	after := statusMap(t, addr)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Stderr)
	}
	for _, u := range res.Requests {
		if !strings.HasPrefix(u, page) {
			t.Errorf("the page requested %s, outside its origin", u)
		}
	}
	for _, u := range []string{page + "status", page + "status/history"} {
		if !strings.Contains(strings.Join(res.Requests, " "), u) {
			t.Errorf("the page never requested %s: requests %q", u, res.Requests)
		}
	}
	if !strings.Contains(res.DOM, `<span id="kind">`+kind+`</span>`) {
		t.Errorf("the page does not say it shows %q:\n%s", kind, res.DOM)
	}
	shown := map[string]bool{}
	for _, m := range fieldElement.FindAllStringSubmatch(res.DOM, -1) {
		field, value, text := m[1], m[2], m[3]
		shown[field] = true
		if slices.Contains(volatile, field) {
			b, _ := before[field].(float64)
			a, _ := after[field].(float64)
			if got, err := strconv.ParseFloat(value, 64); err != nil || got < 0 || got > max(a, b)+2 {
				t.Errorf("%s: the page shows %q; /status had %v, then %v", field, value, b, a)
			}
			continue
		}
		if err := statusValueBetween(before[field], after[field], value); err != nil {
			t.Errorf("%s: the page shows %q: %v", field, value, err)
		}
		if w, ok := wantText[field]; ok && text != w {
			t.Errorf("%s: the page shows the text %q, want %q", field, text, w)
		}
		if b, ok := before[field].(float64); ok && before[field] == after[field] && b >= 0 {
			switch {
			case strings.Contains(field, "bytes"):
				if want := bytesize.Format(int64(b)); text != want {
					t.Errorf("%s = %v: the page shows %q, want %q", field, b, text, want)
				}
			case !strings.Contains(field, "seconds") && text != commas(int64(b)):
				t.Errorf("%s = %v: the page shows %q, want %q", field, b, text, commas(int64(b)))
			}
		}
	}
	for _, f := range want {
		if !shown[f] {
			t.Errorf("the page does not show %s (status %v)", f, after[f])
		}
	}
	if t.Failed() {
		t.Logf("status before %v\nafter %v\nDOM:\n%s", before, after, res.DOM)
	}

	var hist statusHistoryJSON
	resp, err = http.Get(page + "status/history")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&hist)
	resp.Body.Close()
	busy := false
	for _, s := range hist.Samples {
		busy = busy || s.CmdsPerSecond > 0 && s.BytesPerSecond > 0
	}
	if err != nil || len(hist.Samples) < 3 || !busy || !strings.HasPrefix(kind, hist.Kind) {
		t.Errorf("/status/history: %v, kind %q, %d samples, one with traffic: %v", err, hist.Kind, len(hist.Samples), busy)
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	if res, err := browser.Screenshot(ctx, page, shot, chromium.Options{Width: 1200, Height: 800}); err != nil {
		t.Fatalf("%v\n%s", err, res.Stderr)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 800 {
		t.Errorf("screenshot %v, want 1200x800", b)
	}
	if dir := os.Getenv("REDKIT_STATUS_PAGE_PNG_DIR"); dir != "" {
		data, _ := os.ReadFile(shot)
		os.WriteFile(filepath.Join(dir, t.Name()+".png"), data, 0o644)
	}
}

// statusValueBetween checks that the page's data-value v is a value the
// field had between the two reads of /status: a number between them, a
// time between them, or either's text.
func statusValueBetween(before, after any, v string) error {
	switch b := before.(type) {
	case float64:
		a, _ := after.(float64)
		got, err := strconv.ParseFloat(v, 64)
		if err != nil || got < min(a, b) || got > max(a, b) {
			return fmt.Errorf("/status had %v, then %v", b, a)
		}
	case string:
		a, _ := after.(string)
		if v == b || v == a {
			return nil
		}
		tb, err1 := time.Parse(time.RFC3339Nano, b)
		ta, err2 := time.Parse(time.RFC3339Nano, a)
		got, err3 := time.Parse(time.RFC3339Nano, v)
		if err1 != nil || err2 != nil || err3 != nil || got.Before(tb) || got.After(ta) {
			return fmt.Errorf("/status had %q, then %q", b, a)
		}
	default:
		return fmt.Errorf("/status has %v", before)
	}
	return nil
}

// commas is n as the page shows counts: 1,234,567.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + commas(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// TestSampleBetween: bytes read are the full sync's plus the stream's
// while streaming on one replication ID; the jump to a full sync's
// starting offset and counters starting again are not traffic.
func TestSampleBetween(t *testing.T) {
	t0 := time.Unix(1000, 0)
	pt := func(sec float64, phase, replID string, received, full, cmds int64) statusPoint {
		return statusPoint{t: t0.Add(time.Duration(sec * float64(time.Second))), phase: phase, replID: replID,
			received: received, fullBytes: full, commands: cmds}
	}
	for _, tc := range []struct {
		name            string
		prev, cur       statusPoint
		wantBytes, wCmd float64
	}{
		{"full sync", pt(0, "full-sync", "a", 5000, 100, 0), pt(2, "full-sync", "a", 5000, 300, 0), 100, 0},
		{"full sync starts", pt(0, "connecting", "", 0, 0, 0), pt(1, "full-sync", "a", 5000, 300, 0), 300, 0},
		{"streaming", pt(0, "streaming", "a", 5000, 300, 10), pt(0.5, "streaming", "a", 5600, 300, 30), 1200, 40},
		{"into streaming", pt(0, "full-sync", "a", 5000, 300, 0), pt(1, "streaming", "a", 5600, 300, 3), 0, 3},
		{"new replication ID", pt(0, "streaming", "a", 5000, 300, 10), pt(1, "streaming", "b", 90000, 300, 12), 0, 2},
		{"a second full sync", pt(0, "streaming", "a", 5000, 300, 10), pt(1, "full-sync", "a", 9000, 40, 10), 40, 0},
		{"counters restart", pt(0, "streaming", "a", 5000, 300, 10), pt(1, "streaming", "a", 4000, 300, 4), 0, 4},
		{"no time", pt(1, "streaming", "a", 5000, 300, 10), pt(1, "streaming", "a", 6000, 300, 20), 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sampleBetween(tc.prev, tc.cur)
			if got.BytesPerSecond != tc.wantBytes || got.CmdsPerSecond != tc.wCmd || got.T != tc.cur.t.UnixMilli() || got.Phase != tc.cur.phase {
				t.Errorf("got %+v, want %v bytes/s, %v commands/s", got, tc.wantBytes, tc.wCmd)
			}
		})
	}
}

// TestStatusHistoryRing keeps the last historyLen samples, oldest first.
func TestStatusHistoryRing(t *testing.T) {
	h := newStatusHistory(func() any { return rsync.SyncStatus{Phase: rsync.PhaseStreaming} })
	if h.kind != "sync" {
		t.Fatalf("kind %q", h.kind)
	}
	for i := range historyLen + 5 {
		h.add(statusSample{T: int64(i)})
	}
	if len(h.samples) != historyLen || h.samples[0].T != 5 || h.samples[historyLen-1].T != historyLen+4 {
		t.Errorf("%d samples, %d to %d", len(h.samples), h.samples[0].T, h.samples[len(h.samples)-1].T)
	}
}

// TestGrafanaDashboard reads docs/grafana-dashboard.json: every redkit_*
// metric it names (in a panel's expr, a variable's query, a text) is one
// that sync's or backup --continuous's /metrics exports (a histogram's
// _bucket, _sum and _count series included), and every metric exported
// has a panel, so the dashboard cannot go stale.
func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		SchemaVersion int `json:"schemaVersion"`
		Inputs        []struct {
			Name, Type, PluginID string
		} `json:"__inputs"`
		Panels []struct {
			Type, Title string
			Datasource  struct{ UID string }
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	if dash.SchemaVersion < 36 || len(dash.Inputs) != 1 || dash.Inputs[0].Name != "DS_PROMETHEUS" || dash.Inputs[0].Type != "datasource" {
		t.Errorf("schemaVersion %d, __inputs %+v: want a recent schema and one DS_PROMETHEUS datasource input", dash.SchemaVersion, dash.Inputs)
	}

	// The series each registry exports.
	exported := map[string]string{} // series -> metric family
	sync := newSyncMetrics(func() rsync.SyncStatus { return rsync.SyncStatus{} })
	sync.observe(time.Millisecond)
	cont := continuousMetrics(func() backup.ContinuousStatus { return backup.ContinuousStatus{} })
	for _, g := range []*prometheus.Registry{sync.reg, cont} {
		families, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			name := f.GetName()
			exported[name] = name
			if f.GetType().String() == "HISTOGRAM" {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					exported[name+s] = name
				}
			}
		}
	}
	if len(exported) < 20 {
		t.Fatalf("only %d series exported: %v", len(exported), exported)
	}

	metricName := regexp.MustCompile(`redkit_[a-z0-9_]+\*?`)
	used := map[string]bool{}
	for _, m := range metricName.FindAllString(string(data), -1) {
		if prefix, ok := strings.CutSuffix(m, "*"); ok { // a family of names, in a text
			if !slices.ContainsFunc(slices.Collect(maps.Keys(exported)), func(s string) bool { return strings.HasPrefix(s, prefix) }) {
				t.Errorf("the dashboard names %s, and redkit exports no such metric", m)
			}
			continue
		}
		f, ok := exported[m]
		if !ok {
			t.Errorf("the dashboard names %s, which redkit does not export", m)
		}
		used[f] = true
	}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${DS_PROMETHEUS}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %q, %d targets", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, tg := range p.Targets {
			if !metricName.MatchString(tg.Expr) {
				t.Errorf("panel %q: expr %q names no redkit metric", p.Title, tg.Expr)
			}
		}
	}
	for s, f := range exported {
		if s == f && !used[f] {
			t.Errorf("no panel shows %s", f)
		}
	}
}
