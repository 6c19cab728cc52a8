package main

import (
	"bytes"
	"errors"
	"testing"

	"github.com/redkit/redkit/internal/preflight"
)

// TestCheckHint: every advice of the checks has its flags.
func TestCheckHint(t *testing.T) {
	for _, tc := range []struct {
		advice preflight.Advice
		want   string
	}{
		{preflight.NoAdvice, ""},
		{preflight.UseMaster, ": point --to at a master"},
		{preflight.LeaveOutTypes, ", or leave their keys out with --type"},
		{preflight.MapDBs, " unless --db-map"},
		{preflight.ChooseDBs, ": choose with --db and --db-map"},
		{preflight.FlushTarget, " (--flush-target empties the target first)"},
		{preflight.IncludeExpired, " (--expired include sends them)"},
		{preflight.Flushing, "; --flush empties it first"},
		{preflight.ResolveConflicts, "; use --conflict replace or skip, or --flush"},
		{preflight.ConflictApplies, ": --conflict skip applies"},
		{preflight.LeaveOutKeys, " or leave them out with --match or --regex"},
	} {
		if got := checkHint(preflight.Check{Advice: tc.advice}, "skip"); got != tc.want {
			t.Errorf("advice %d: %q, want %q", tc.advice, got, tc.want)
		}
	}
}

// TestReportChecks: the report in text and JSON, its last line on
// stderr and its exit code.
func TestReportChecks(t *testing.T) {
	res := &preflight.Result{Checks: []preflight.Check{
		{Name: "target role", Status: preflight.Fail, Detail: "redis://x:1 is a slave (read-only)", Advice: preflight.UseMaster},
		{Name: "existing keys", Status: preflight.Warn, Detail: `1 of the first 5 keys exist on the target (e.g. ["a"])`, Advice: preflight.ConflictApplies},
		{Name: "modules", Status: preflight.OK, Detail: "the source uses no modules"},
	}}
	for _, tc := range []struct {
		format, stdout, stderr string
	}{
		{"text", `CHECK          STATUS  DETAIL
target role    fail    redis://x:1 is a slave (read-only): point --to at a master
existing keys  warn    1 of the first 5 keys exist on the target (e.g. ["a"]): --conflict replace applies
modules        ok      the source uses no modules
`, "redkit: restore --check: 1 of 3 checks failed: the restore would not work as it stands\n"},
		{"json", `{
  "ok": false,
  "checks": [
    {
      "check": "target role",
      "status": "fail",
      "detail": "redis://x:1 is a slave (read-only): point --to at a master"
    },
    {
      "check": "existing keys",
      "status": "warn",
      "detail": "1 of the first 5 keys exist on the target (e.g. [\"a\"]): --conflict replace applies"
    },
    {
      "check": "modules",
      "status": "ok",
      "detail": "the source uses no modules"
    }
  ]
}
`, "redkit: restore --check: 1 of 3 checks failed: the restore would not work as it stands\n"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := reportChecks(globalOptions{stdout: &stdout, stderr: &stderr}, res, "replace", tc.format, "restore")
			if got := stdout.String(); got != tc.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, tc.stdout)
			}
			if got := stderr.String(); got != tc.stderr {
				t.Errorf("stderr %q, want %q", got, tc.stderr)
			}
			var ce *codedError
			if !errors.As(err, &ce) || ce.code != exitError || !ce.reported {
				t.Errorf("err %v, want a reported exit 1", err)
			}
		})
	}
	// All passed: exit 0, and the text report says so.
	ok := &preflight.Result{Checks: res.Checks[2:]}
	var stdout, stderr bytes.Buffer
	if err := reportChecks(globalOptions{stdout: &stdout, stderr: &stderr}, ok, "", "text", "sync"); err != nil || stderr.String() != "redkit: sync --check: the sync can run\n" {
		t.Errorf("err %v, stderr %q", err, stderr.String())
	}
	stderr.Reset()
	if err := reportChecks(globalOptions{stdout: &stdout, stderr: &stderr}, ok, "", "json", "sync"); err != nil || stderr.Len() != 0 {
		t.Errorf("json: err %v, stderr %q", err, stderr.String())
	}
}
