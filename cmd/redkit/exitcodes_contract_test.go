package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
)

// unreachable is a server URL nothing listens on.
const unreachable = "redis://127.0.0.1:1"

// truncatedCopy writes the first half of the file at path to a new file.
func truncatedCopy(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "truncated.rdb")
	if err := os.WriteFile(out, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// cutAOF writes a plain AOF whose last command is cut short.
func cutAOF(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "appendonly.aof")
	data := resp("SET", "a", "1") + resp("SET", "b", "2") + "*3\r\n$3\r\nSET\r\n$1\r\nc"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// redkitCtx runs the app in-process under ctx.
func redkitCtx(ctx context.Context, args ...string) result {
	var out, errOut bytes.Buffer
	code := runIO(ctx, append([]string{"redkit"}, args...), strings.NewReader(""), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// TestExitCodeTable drives every exit code of main.go's exitCodesHelp
// that check, analyze, compare and restore can give, with real inputs
// and a real redis-server.
func TestExitCodeTable(t *testing.T) {
	good := corpus(t, "hdt3213-rdb/memory.rdb")
	other := corpus(t, "hdt3213-rdb/tree.rdb")
	corrupt := corpus(t, "librdb/invalid_chksum_v8.rdb")
	empty := corpus(t, "redis/corrupt_empty_keys.rdb")
	rdb11 := corpus(t, "librdb/100_lists.rdb")
	truncated := truncatedCopy(t, good)

	srv := redistest.Start(t, redistest.Options{})
	if err := redistest.FillMixed(context.Background(), srv.Client(), 1); err != nil {
		t.Fatal(err)
	}
	saved := srv.Save(t)
	changed := redistest.Start(t, redistest.Options{})
	redkit(t, nil, "restore", "--to", changed.URL(), "-q", saved).want(t, 0)
	changed.Client().Set(context.Background(), "one:more", "x", 0)
	target := func() string { return redistest.Start(t, redistest.Options{}).URL() }

	cases := []struct {
		name string
		args func() []string
		want int
	}{
		// check
		{"check/ok", func() []string { return []string{"check", good} }, exitOK},
		{"check/corrupt", func() []string { return []string{"check", corrupt} }, exitError},
		{"check/truncated", func() []string { return []string{"check", truncated} }, exitError},
		{"check/absent", func() []string { return []string{"check", "/nonexistent/dump.rdb"} }, exitError},
		{"check/aof-cut-short", func() []string { return []string{"check", cutAOF(t)} }, exitError},
		{"check/usage-no-file", func() []string { return []string{"check"} }, exitUsage},
		{"check/usage-format", func() []string { return []string{"check", "--format", "xml", good} }, exitUsage},
		{"check/usage-log-format", func() []string { return []string{"check", "--log-format", "xml", good} }, exitUsage},
		{"check/empty-collections", func() []string { return []string{"check", empty} }, exitProblems},
		{"check/aof-tail-repaired", func() []string { return []string{"check", "--fix", cutAOF(t)} }, exitProblems},
		// analyze
		{"analyze/ok", func() []string { return []string{"analyze", good} }, exitOK},
		{"analyze/corrupt", func() []string { return []string{"analyze", corrupt} }, exitError},
		{"analyze/truncated", func() []string { return []string{"analyze", truncated} }, exitError},
		{"analyze/one-corrupt-of-two", func() []string { return []string{"analyze", good, corrupt} }, exitError},
		{"analyze/absent", func() []string { return []string{"analyze", "/nonexistent/dump.rdb"} }, exitError},
		{"analyze/usage-report", func() []string { return []string{"analyze", "--report", "nope", good} }, exitUsage},
		{"analyze/usage-n-is-not-top", func() []string { return []string{"analyze", "-n", "2", good} }, exitUsage},
		// compare: as diff(1) and cmp(1)
		{"compare/identical-files", func() []string { return []string{"compare", good, good} }, 0},
		{"compare/identical-live", func() []string { return []string{"compare", saved, srv.URL()} }, 0},
		{"compare/different-files", func() []string { return []string{"compare", good, other} }, 1},
		{"compare/different-live", func() []string { return []string{"compare", saved, changed.URL()} }, 1},
		{"compare/trouble-corrupt", func() []string { return []string{"compare", corrupt, good} }, 2},
		{"compare/trouble-truncated", func() []string { return []string{"compare", good, truncated} }, 2},
		{"compare/trouble-absent", func() []string { return []string{"compare", "/nonexistent/dump.rdb", good} }, 2},
		{"compare/trouble-unreachable", func() []string { return []string{"compare", good, unreachable} }, 2},
		{"compare/trouble-usage", func() []string { return []string{"compare", good} }, 2},
		// restore
		{"restore/ok", func() []string { return []string{"restore", "-q", "--to", target(), good} }, exitOK},
		{"restore/check-ok", func() []string { return []string{"restore", "--check", "--to", target(), good} }, exitOK},
		{"restore/corrupt", func() []string { return []string{"restore", "-q", "--to", target(), truncated} }, exitError},
		{"restore/absent", func() []string { return []string{"restore", "--to", target(), "/nonexistent/dump.rdb"} }, exitError},
		{"restore/unreachable", func() []string { return []string{"restore", "--timeout", "2s", "--to", unreachable, good} }, exitError},
		{"restore/conflict", func() []string { return []string{"restore", "-q", "--to", srv.URL(), saved} }, exitError},
		{"restore/usage-no-target", func() []string { return []string{"restore", good} }, exitUsage},
		{"restore/usage-min-size", func() []string { return []string{"restore", "--to", unreachable, "--min-size", "1kb", good} }, exitUsage},
		{"restore/keys-failed", func() []string { return []string{"restore", "--mode", "restore", "--to", target(), rdb11} }, exitProblems},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			redkit(t, nil, tc.args()...).want(t, tc.want)
		})
	}

	// 130: interrupted, whatever the command.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, args := range [][]string{
		{"check", good}, {"analyze", good}, {"compare", good, srv.URL()}, {"restore", "--to", srv.URL(), good},
	} {
		if r := redkitCtx(ctx, args...); r.code != exitInterrupted {
			t.Errorf("%v interrupted: exit %d, want %d\n%s", args, r.code, exitInterrupted, r.stderr)
		}
	}
}

// TestAnalyzeCorruptReport: a corrupt input exits 1 as in check, and the
// report of what could be read is still written and says so.
func TestAnalyzeCorruptReport(t *testing.T) {
	truncated := truncatedCopy(t, corpus(t, "hdt3213-rdb/memory.rdb"))
	r := redkit(t, nil, "analyze", truncated).want(t, 1)
	if !strings.Contains(r.stdout, "INCOMPLETE") || !strings.Contains(r.stdout, "keys") {
		t.Errorf("no partial report:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "is truncated") || !strings.Contains(r.stderr, "could not be read to the end") {
		t.Errorf("stderr does not say the file is truncated:\n%s", r.stderr)
	}
	r = redkit(t, nil, "analyze", "--format", "json", truncated).want(t, 1)
	var s summaryJSON
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || len(s.Files) != 1 || s.Files[0].Error == "" {
		t.Errorf("json report: %v\n%s", err, r.stdout)
	}
}

// jsonLinesOnly fails unless every line of stderr is a JSON object.
func jsonLinesOnly(t *testing.T, what, stderr string) {
	t.Helper()
	if strings.TrimSpace(stderr) == "" {
		t.Errorf("%s: nothing on stderr", what)
		return
	}
	for _, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("%s: a stderr line is not JSON (%v): %q\nall of stderr:\n%s", what, err, line, stderr)
			return
		}
		if m["msg"] == nil || m["level"] == nil {
			t.Errorf("%s: a JSON line without msg or level: %q", what, line)
		}
	}
}

// TestLogFormatJSON: with --log-format json, everything check, analyze,
// compare and restore write on stderr is JSON lines, failures included.
func TestLogFormatJSON(t *testing.T) {
	good := corpus(t, "hdt3213-rdb/memory.rdb")
	corrupt := corpus(t, "librdb/invalid_chksum_v8.rdb")
	empty := corpus(t, "redis/corrupt_empty_keys.rdb")
	rdb11 := corpus(t, "librdb/100_lists.rdb")
	truncated := truncatedCopy(t, good)
	srv := redistest.Start(t, redistest.Options{})

	cases := []struct {
		name string
		args []string
		want int
	}{
		{"check/corrupt", []string{"check", corrupt, truncated, "/nonexistent/dump.rdb"}, 1},
		{"check/empty-collections", []string{"check", empty}, 3},
		{"check/aof-cut-short", []string{"check", cutAOF(t)}, 1},
		{"check/aof-fix", []string{"check", "--fix", cutAOF(t)}, 3},
		{"check/usage", []string{"check", "--format", "xml", good}, 2},
		{"analyze/corrupt", []string{"analyze", good, corrupt}, 1},
		{"analyze/absent", []string{"analyze", "/nonexistent/dump.rdb"}, 1},
		{"compare/corrupt", []string{"compare", corrupt, good}, 2},
		{"compare/unreachable", []string{"compare", good, unreachable}, 2},
		{"restore/unreachable", []string{"restore", "--timeout", "2s", "--to", unreachable, good}, 1},
		{"restore/corrupt", []string{"restore", "--to", srv.URL(), truncated}, 1},
		{"restore/keys-failed", []string{"restore", "--mode", "restore", "--to", srv.URL(), rdb11}, 3},
		{"restore/summary", []string{"restore", "--flush", "--to", srv.URL(), good}, 0},
		{"restore/conflict", []string{"restore", "--to", srv.URL(), good}, 1},
		{"restore/check", []string{"restore", "--check", "--to", srv.URL(), good}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := redkit(t, nil, append(tc.args, "--log-format", "json")...).want(t, tc.want)
			jsonLinesOnly(t, strings.Join(tc.args, " "), r.stderr)
		})
	}
	// A restore from a backup: its lines (restore_backup.go) are JSON too.
	store := "file://" + t.TempDir()
	redkit(t, nil, "backup", "--from", good, "--to", store, "-q").want(t, 0)
	r := redkit(t, nil, "restore", "--flush", "--to", srv.URL(), store+"@latest", "--log-format", "json").want(t, 0)
	jsonLinesOnly(t, "restore from a backup", r.stderr)
	r = redkit(t, nil, "restore", "--to", unreachable, "--timeout", "1s", store+"@latest", "--log-format", "json").want(t, 1)
	jsonLinesOnly(t, "restore from a backup to an unreachable server", r.stderr)

	// The environment variable does the same.
	t.Setenv("REDKIT_LOG_FORMAT", "json")
	r = redkit(t, nil, "analyze", corrupt).want(t, 1)
	jsonLinesOnly(t, "REDKIT_LOG_FORMAT=json analyze", r.stderr)
}

// TestJSONLines: text lines become JSON lines, JSON lines pass, a line
// written in pieces is one line.
func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	j := newJSONLines(&buf)
	j.Write([]byte("redkit: restore: backup x does not verify\nnothing was"))
	j.Write([]byte(" written\n{\"level\":\"INFO\",\"msg\":\"as is\"}\n\nlast"))
	j.flush()
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	var msgs []string
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		msgs = append(msgs, m["msg"].(string))
	}
	want := []string{"restore: backup x does not verify", "nothing was written", "as is", "last"}
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Errorf("messages %q, want %q", msgs, want)
	}
}
