package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
)

const dumpScanLib = "#!lua name=dumplib\nredis.register_function('df', function(keys, args) return 1 end)"

// TestDumpScanFallback: a source that refuses PSYNC and SYNC (renamed
// away, as managed services do) is read key by key in auto mode, says
// so, and the file passes check and equals the source; replication mode
// refuses with advice.
func TestDumpScanFallback(t *testing.T) {
	src := redistest.Start(t, redistest.Options{Config: []string{`rename-command PSYNC ""`, `rename-command SYNC ""`}})
	ctx := context.Background()
	if err := redistest.FillMixed(ctx, src.Client(), 3); err != nil {
		t.Fatal(err)
	}
	if err := src.Client().Do(ctx, "FUNCTION", "LOAD", dumpScanLib).Err(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "dump.rdb")
	r := redkit(t, nil, "dump", "--from", src.URL(), "-o", out).want(t, 0)
	if !strings.Contains(r.stderr, "refuses replication (") || !strings.Contains(r.stderr, "unknown command") ||
		!strings.Contains(r.stderr, "reading its keys instead") || !strings.Contains(r.stderr, "read key by key, RDB 10") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	redkit(t, nil, "check", out).want(t, 0)
	redkit(t, nil, "compare", out, src.URL()).want(t, 0)
	if r := redkit(t, nil, "check", out, "--format", "json").want(t, 0); !strings.Contains(r.stdout, `"functions":["dumplib"]`) {
		t.Errorf("check --format json: %s", r.stdout)
	}

	out2 := filepath.Join(t.TempDir(), "json.rdb")
	r = redkit(t, nil, "dump", "--from", src.URL(), "-o", out2, "--format", "json", "-q").want(t, 0)
	var sum dumpSummary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if sum.SourceMode != "scan" || sum.Keys < 1000 || sum.RDBVersion != 10 || len(sum.Databases) != 3 {
		t.Errorf("summary %+v", sum)
	}

	r = redkit(t, nil, "dump", "--from", src.URL(), "-o", filepath.Join(t.TempDir(), "x.rdb"), "--source-mode", "replication").want(t, 1)
	if !strings.Contains(r.stderr, "refuses replication") || !strings.Contains(r.stderr, "PSYNC") || !strings.Contains(r.stderr, "--source-mode scan") {
		t.Errorf("replication mode, stderr:\n%s", r.stderr)
	}
	redkit(t, nil, "dump", "--from", src.URL(), "-o", out, "--source-mode", "bogus").want(t, 2)
}

// TestDumpScanACL: an ACL user without +psync +sync (NOPERM) is read key
// by key in auto mode.
func TestDumpScanACL(t *testing.T) {
	src := mixedSource(t)
	ctx := context.Background()
	if err := src.Client().Do(ctx, "ACL", "SETUSER", "reader", "on", ">pw", "~*", "&*", "+@all", "-psync", "-sync").Err(); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("redis://reader:pw@%s", src.Addr())
	out := filepath.Join(t.TempDir(), "dump.rdb")
	r := redkit(t, nil, "dump", "--from", url, "-o", out).want(t, 0)
	if !strings.Contains(r.stderr, "refuses replication (") || !strings.Contains(r.stderr, "NOPERM") || strings.Contains(r.stderr, "pw@") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	redkit(t, nil, "check", out).want(t, 0)
	redkit(t, nil, "compare", out, src.URL()).want(t, 0)
	// With --log-format json every line on stderr is JSON, the fallback's too.
	r = redkit(t, nil, "dump", "--from", url, "-o", out, "--log-format", "json").want(t, 0)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	var first map[string]any
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stderr line %q: %v", line, err)
		}
		if i == 0 {
			first = m
		}
	}
	if len(lines) != 2 || !strings.Contains(fmt.Sprint(first["reason"]), "NOPERM") || !strings.Contains(lines[1], `"source_mode":"scan"`) {
		t.Errorf("json stderr:\n%s", r.stderr)
	}
}

// TestDumpScanMode: on an ordinary server --source-mode scan reads the
// same keys as the replication dump; the summaries say which way.
func TestDumpScanMode(t *testing.T) {
	src := mixedSource(t)
	dir := t.TempDir()
	repl, scan := filepath.Join(dir, "repl.rdb"), filepath.Join(dir, "scan.rdb")
	r := redkit(t, nil, "dump", "--from", src.URL(), "-o", repl, "--format", "json").want(t, 0)
	if !strings.Contains(r.stdout, `"source_mode": "replication"`) || strings.Contains(r.stderr, "refuses") {
		t.Errorf("replication dump: %s\n%s", r.stdout, r.stderr)
	}
	t.Setenv("REDKIT_SOURCE_MODE", "scan")
	r = redkit(t, nil, "dump", "--from", src.URL(), "-o", scan).want(t, 0)
	if !strings.Contains(r.stderr, "read key by key") || strings.Contains(r.stderr, "refuses") {
		t.Errorf("scan dump: %s", r.stderr)
	}
	redkit(t, nil, "check", scan).want(t, 0)
	redkit(t, nil, "compare", repl, scan).want(t, 0)
	if fi, err := os.Stat(scan); err != nil || fi.Size() == 0 {
		t.Fatal(err)
	}
}

// TestDumpScanBigKeys: with --max-dump (or REDKIT_MAX_DUMP) below a
// hash's size, the hash is read in chunks; the summaries say so, and the
// file passes check and equals the source.
func TestDumpScanBigKeys(t *testing.T) {
	src := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	p := src.Client().Pipeline()
	for i := range 20000 {
		p.HSet(ctx, "big", fmt.Sprint(i), "a value of some bytes")
		if i < 100 {
			p.Set(ctx, fmt.Sprint("small:", i), i, 0)
		}
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "dump.rdb")
	r := redkit(t, nil, "dump", "--from", src.URL(), "-o", out, "--source-mode", "scan", "--max-dump", "64kb").want(t, 0)
	if !strings.Contains(r.stderr, "read key by key (1 big in chunks), RDB 10") || !strings.Contains(r.stderr, "101 keys") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	redkit(t, nil, "check", out).want(t, 0)
	redkit(t, nil, "compare", out, src.URL()).want(t, 0)

	t.Setenv("REDKIT_MAX_DUMP", "64kb")
	r = redkit(t, nil, "dump", "--from", src.URL(), "-o", out, "--source-mode", "scan", "--format", "json", "-q").want(t, 0)
	var sum dumpSummary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if sum.Chunked == nil || *sum.Chunked != 1 || sum.Keys != 101 {
		t.Errorf("summary %s", r.stdout)
	}
	// The default reads the hash by one DUMP; a replication dump says nothing of chunks.
	t.Setenv("REDKIT_MAX_DUMP", "")
	r = redkit(t, nil, "dump", "--from", src.URL(), "-o", out, "--format", "json").want(t, 0)
	if strings.Contains(r.stdout, "chunked_keys") {
		t.Errorf("replication summary: %s", r.stdout)
	}
	r = redkit(t, nil, "dump", "--from", src.URL(), "-o", out, "--source-mode", "scan", "--format", "json").want(t, 0)
	if !strings.Contains(r.stdout, `"chunked_keys": 0`) {
		t.Errorf("scan summary with the default --max-dump: %s", r.stdout)
	}
	r = redkit(t, nil, "dump", "--from", src.URL(), "-o", out, "--max-dump", "lots").want(t, 2)
	if !strings.Contains(r.stderr, "--max-dump") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestScanProgressText(t *testing.T) {
	for _, tc := range []struct {
		done, total, bytes int64
		rate               float64
		want               string
	}{
		{7, -1, 100, -1, "dump: 7 keys read, 100 B"},
		{7, 32, 2048, -1, "dump: 7 of 32 keys read, 2.0 KiB"},
		{10, 30, 1 << 20, 10, "dump: 10 of 30 keys read, 1.0 MiB, 10 keys/s, 2s left"},
	} {
		if got := scanProgressText(tc.done, tc.total, tc.bytes, tc.rate); got != tc.want {
			t.Errorf("scanProgressText(%d, %d, %d, %v) = %q, want %q", tc.done, tc.total, tc.bytes, tc.rate, got, tc.want)
		}
	}
	// The bar: 7 of 32 keys, then past a total too small.
	var buf lockedBuffer
	var keys, bytes, expected atomic.Int64
	expected.Store(32)
	stop := drawScanProgress(&buf, &keys, &bytes, &expected, 5*time.Millisecond)
	keys.Store(7)
	bytes.Store(3 << 10)
	waitFor(t, &buf, regexp.MustCompile(`7 of 32 keys read, 3.0 KiB`))
	keys.Store(40)
	waitFor(t, &buf, regexp.MustCompile(`\b40 keys read`))
	stop()
	if strings.Contains(buf.String(), "40 of 32") {
		t.Errorf("a count past its total drawn: %q", buf.String())
	}
}
