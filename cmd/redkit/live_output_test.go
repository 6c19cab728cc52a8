package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
)

// parseJSONLines is in backup_contract_test.go.

// find returns the first record whose message contains s.
func find(recs []map[string]any, s string) map[string]any {
	for _, r := range recs {
		if m, _ := r["msg"].(string); strings.Contains(m, s) {
			return r
		}
	}
	return nil
}

// TestLiveJSONLogFailures: with --log-format json a failing sync, sync
// --check and dump write JSON lines only on stderr, the failure with
// its hint and exit code; the exit codes stay.
func TestLiveJSONLogFailures(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	src.Client().Set(ctx, "a", "1", 0)
	locked := redistest.Start(t, redistest.Options{Password: "right"})
	nobody := "redis://" + freeAddr(t)
	dir := t.TempDir()
	whole, err := os.ReadFile(corpus(t, "librdb/module_aux.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.rdb")
	if err := os.WriteFile(truncated, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		msg      string // in the error's message
		hint     bool   // the error has a hint
		password string // never printed
	}{
		{"sync, unreachable target", []string{"sync", "--from", src.URL(), "--to", nobody}, 1, "sync: target", true, ""},
		{"sync, wrong password", []string{"sync", "--from", src.URL(), "--to", "redis://:wrong@" + locked.Addr()}, 1, "WRONGPASS", false, "wrong"},
		{"sync, no password", []string{"sync", "--from", src.URL(), "--to", "redis://" + locked.Addr()}, 1, "NOAUTH", true, ""},
		{"sync, usage", []string{"sync", "--from", src.URL(), "--to", nobody, "--format", "xml"}, 2, "--format", true, ""},
		{"dump, unreachable", []string{"dump", "--from", nobody, "-o", filepath.Join(dir, "x.rdb")}, 1, "dump:", true, ""},
		{"dump, wrong password", []string{"dump", "--from", "redis://:wrong@" + locked.Addr(), "-o", filepath.Join(dir, "x.rdb")}, 1, "WRONGPASS", false, "wrong"},
		{"dump, --format json to stdout", []string{"dump", "--from", src.URL(), "-o", "-", "--format", "json"}, 2, "-o FILE", true, ""},
		{"convert, not a dump", []string{"convert", "--to", "resp", "-o", filepath.Join(dir, "x.resp"), "live_output_test.go"}, 1, "convert live_output_test.go", false, ""},
		{"convert, truncated", []string{"convert", "--to", "resp", "-o", filepath.Join(dir, "x.resp"), truncated}, 1, "convert " + truncated, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := redkit(t, nil, append(tc.args, "--log-format", "json")...).want(t, tc.code)
			recs := parseJSONLines(t, r.stderr)
			var errRec map[string]any
			for _, rec := range recs {
				if rec["level"] == "ERROR" {
					errRec = rec
				}
			}
			if errRec == nil {
				t.Fatalf("no ERROR record:\n%s", r.stderr)
			}
			if m, _ := errRec["msg"].(string); !strings.Contains(m, tc.msg) {
				t.Errorf("error message %q lacks %q", m, tc.msg)
			}
			if _, ok := errRec["hint"]; ok != tc.hint {
				t.Errorf("hint in the error record: %v, want %v: %v", ok, tc.hint, errRec)
			}
			if code, _ := errRec["exit_code"].(float64); int(code) != tc.code {
				t.Errorf("exit_code %v, want %d", errRec["exit_code"], tc.code)
			}
			if tc.password != "" && strings.Contains(r.stderr, ":"+tc.password+"@") {
				t.Errorf("password printed:\n%s", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
		})
	}

	t.Run("sync --check, failing", func(t *testing.T) {
		big := redistest.Start(t, redistest.Options{})
		for i := range 8 {
			big.Client().Set(ctx, "big:"+strconv.Itoa(i), strings.Repeat("x", 512<<10), 0)
		}
		tight := redistest.Start(t, redistest.Options{Config: []string{"maxmemory 2mb"}})
		r := redkit(t, nil, "sync", "--check", "--log-format", "json", "--from", big.URL(), "--to", tight.URL()).want(t, 1)
		rec := find(parseJSONLines(t, r.stderr), "checks failed")
		if rec == nil || rec["level"] != "ERROR" || rec["exit_code"] != 1.0 {
			t.Errorf("no ERROR record of the failed checks:\n%s", r.stderr)
		}
		if !strings.Contains(r.stdout, "target memory") {
			t.Errorf("report:\n%s", r.stdout)
		}
		r = redkit(t, nil, "sync", "--check", "--log-format", "json", "--from", src.URL(), "--to", big.URL()).want(t, 0)
		if rec := find(parseJSONLines(t, r.stderr), "can run"); rec == nil || rec["level"] != "INFO" {
			t.Errorf("no INFO record of the verdict:\n%s", r.stderr)
		}
	})
}

// TestConvertJSONLogWarning: convert's warning (module data left out)
// and summary are JSON lines with --log-format json.
func TestConvertJSONLogWarning(t *testing.T) {
	dump := corpus(t, "librdb/module_aux.rdb")
	r := redkit(t, nil, "convert", "--to", "resp", "--log-format", "json", dump).want(t, 0)
	recs := parseJSONLines(t, r.stderr)
	w := find(recs, "module auxiliary data")
	if w == nil || w["level"] != "WARN" {
		t.Fatalf("no WARN record of the module data left out:\n%s", r.stderr)
	}
	if mods, _ := w["modules"].([]any); len(mods) != 1 || mods[0] != "test__rdb" {
		t.Errorf("modules %v, want [test__rdb]", w["modules"])
	}
	sum := find(recs, "function libraries")
	if sum == nil || sum["level"] != "INFO" || sum["to"] != "resp" || sum["output"] != "-" {
		t.Errorf("summary record %v\nstderr:\n%s", sum, r.stderr)
	}
	if len(r.stdout) == 0 {
		t.Error("no RESP on stdout")
	}
	r = redkit(t, nil, "convert", "--to", "resp", "--log-format", "json", "-q", dump).want(t, 0)
	if recs := parseJSONLines(t, r.stderr); len(recs) != 1 || recs[0]["level"] != "WARN" {
		t.Errorf("-q: want the warning alone:\n%s", r.stderr)
	}
}

// TestConvertFormatJSON: --format json writes the summary as one JSON
// object on stdout when the data goes to a file, and is refused when the
// data goes to stdout.
func TestConvertFormatJSON(t *testing.T) {
	_, dump := convertSourceDump(t)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	r := redkit(t, nil, "convert", "--to", "jsonl", "--format", "json", "-o", out, dump).want(t, 0)
	var sum convertSummary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("stdout is not the summary (%v):\n%s", err, r.stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Keys == 0 || sum.Functions != 1 || sum.Bytes != int64(len(b)) || sum.Output != out || sum.To != "jsonl" || sum.Input != dump {
		t.Errorf("summary %+v; the file has %d bytes", sum, len(b))
	}
	if r.stderr != "" {
		t.Errorf("stderr: %q", r.stderr)
	}
	for _, args := range [][]string{
		{"convert", "--to", "resp", "--format", "json", dump},
		{"convert", "--to", "resp", "--format", "json", "-o", "-", dump},
		{"convert", "--to", "resp", "--format", "yaml", "-o", out, dump},
	} {
		redkit(t, nil, args...).want(t, 2)
	}
}

// TestDumpFormatJSON: dump's summary as a JSON object on stdout
// (--format json), as a JSON line on stderr (--log-format json), and as
// a text line otherwise.
func TestDumpFormatJSON(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	c := src.Client()
	for i := range 100 {
		c.Set(ctx, "k"+strconv.Itoa(i), i, 0)
	}
	c2 := src.Client().Conn()
	defer c2.Close()
	c2.Select(ctx, 2)
	c2.Set(ctx, "two", "2", 0)
	out := filepath.Join(t.TempDir(), "d.rdb")

	r := redkit(t, nil, "dump", "--from", src.URL(), "-o", out, "--format", "json").want(t, 0)
	var sum dumpSummary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("stdout is not the summary (%v):\n%s", err, r.stdout)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []dbKeyCount{{0, 100}, {2, 1}}
	if sum.Keys != 101 || sum.Bytes != fi.Size() || sum.RDBVersion != 10 || sum.Output != out || len(sum.Databases) != 2 ||
		sum.Databases[0] != want[0] || sum.Databases[1] != want[1] {
		t.Errorf("summary %+v; file of %d bytes", sum, fi.Size())
	}
	if r.stderr != "" {
		t.Errorf("stderr: %q", r.stderr)
	}

	r = redkit(t, nil, "dump", "--from", src.URL(), "-o", out, "--log-format", "json").want(t, 0)
	rec := find(parseJSONLines(t, r.stderr), "dump:")
	if rec == nil || rec["keys"] != 101.0 || rec["bytes"] != float64(fi.Size()) || rec["level"] != "INFO" {
		t.Errorf("summary record %v:\n%s", rec, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout: %q", r.stdout)
	}

	r = redkit(t, nil, "dump", "--from", src.URL(), "-o", out).want(t, 0)
	if !regexp.MustCompile(`RDB 10, [0-9.]+ (B|KiB), 101 keys \(db0=100 db2=1\)`).MatchString(r.stderr) {
		t.Errorf("summary: %q", r.stderr)
	}
}

// TestSyncFormatJSON: sync's final report, a JSON object on stdout with
// --format json, its keys and commands; with --log-format json the log
// is JSON lines and ends with the report's record.
func TestSyncFormatJSON(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	for i := range 50 {
		src.Client().Set(ctx, "k"+strconv.Itoa(i), i, 0)
	}
	dst := redistest.Start(t, redistest.Options{})
	r := redkit(t, nil, "sync", "--from", src.URL(), "--to", dst.URL(), "--until-caught-up", "--format", "json", "--log-format", "json").want(t, 0)
	var rep syncReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not the report (%v):\n%s", err, r.stdout)
	}
	if rep.Result != "caught up" || rep.FullKeys != 50 || rep.FullBytes == 0 || rep.FullSyncs != 1 || rep.From != src.URL() || rep.Mode != "auto" {
		t.Errorf("report %+v", rep)
	}
	var raw map[string]any
	json.Unmarshal([]byte(r.stdout), &raw)
	for _, k := range []string{"full_sync_keys", "full_sync_bytes", "commands", "lag_bytes", "lag_seconds", "seconds", "result"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("report lacks %q:\n%s", k, r.stdout)
		}
	}
	recs := parseJSONLines(t, r.stderr)
	if rec := find(recs, "sync caught up"); rec == nil || rec["keys"] != 50.0 {
		t.Errorf("no final record with the keys:\n%s", r.stderr)
	}
	// Text: no report on stdout, the final log line has the counts.
	r = redkit(t, nil, "sync", "--from", src.URL(), "--to", dst.URL(), "--until-caught-up", "--target-checkpoint=false").want(t, 0)
	if r.stdout != "" || !strings.Contains(r.stderr, "sync caught up") || !strings.Contains(r.stderr, "keys=50") {
		t.Errorf("stdout %q\nstderr:\n%s", r.stdout, r.stderr)
	}
}

// TestSnapshotWaitLogged: a source that holds a diskless snapshot back
// (repl-diskless-sync-delay 2) gets a log line saying so, for dump and
// sync, with the delay when CONFIG GET is allowed and without it when not.
func TestSnapshotWaitLogged(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-diskless-sync-delay 2"}})
	src.Client().Set(ctx, "a", "1", 0)
	src.Client().Do(ctx, "ACL", "SETUSER", "repl", "on", ">pw", "+psync", "+replconf", "+ping", "+info")
	out := filepath.Join(t.TempDir(), "d.rdb")

	r := redkit(t, nil, "dump", "--from", src.URL(), "-o", out).want(t, 0)
	if !strings.Contains(r.stderr, "redkit: dump: the source is waiting before it sends the snapshot (repl-diskless-sync-delay, 2 s here") {
		t.Errorf("dump: no line on the wait:\n%s", r.stderr)
	}
	r = redkit(t, nil, "dump", "--from", "redis://repl:pw@"+src.Addr(), "-o", out, "--log-format", "json").want(t, 0)
	if rec := find(parseJSONLines(t, r.stderr), "it may be its repl-diskless-sync-delay"); rec == nil || rec["source"] != src.Addr() {
		t.Errorf("dump without CONFIG: no record on the wait:\n%s", r.stderr)
	}
	r = redkit(t, nil, "dump", "--from", src.URL(), "-o", out, "-q").want(t, 0)
	if r.stderr != "" {
		t.Errorf("dump -q: %q", r.stderr)
	}

	dst := redistest.Start(t, redistest.Options{})
	r = redkit(t, nil, "sync", "--from", src.URL(), "--to", dst.URL(), "--until-caught-up", "--log-format", "json").want(t, 0)
	rec := find(parseJSONLines(t, r.stderr), "the source is waiting before it sends the snapshot")
	if rec == nil || rec["repl_diskless_sync_delay"] != 2.0 || rec["level"] != "INFO" {
		t.Errorf("sync: no record on the wait:\n%s", r.stderr)
	}
}
