package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestReportJSON: with --log-format json (or REDKIT_LOG_FORMAT=json) the
// final error and its usage hint are a JSON line too, even when the
// flags could not be parsed.
func TestReportJSON(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		code int
	}{
		{[]string{"redkit", "sync", "--log-format", "json", "--no-such-flag"}, "", exitUsage},
		{[]string{"redkit", "sync", "--no-such-flag", "--log-format=json"}, "", exitUsage},
		{[]string{"redkit", "backup", "--from", "redis://127.0.0.1:1"}, "json", exitUsage},
	} {
		t.Setenv("REDKIT_LOG_FORMAT", tc.env)
		var out, errb bytes.Buffer
		code := run(t.Context(), tc.args, &out, &errb)
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d; stderr %s", tc.args, code, tc.code, errb.String())
		}
		for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Errorf("%q: stderr line not JSON: %q", tc.args, line)
				continue
			}
			if m["level"] != "ERROR" || m["exit_code"] != float64(tc.code) || m["hint"] == nil {
				t.Errorf("%q: %v", tc.args, m)
			}
		}
	}
	if got := logFormatOf([]string{"redkit", "check", "--", "--log-format", "json"}, func(string) string { return "" }); got != "text" {
		t.Errorf("after --: %q", got)
	}
}
