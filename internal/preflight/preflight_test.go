package preflight

import (
	"context"
	"slices"
	"strings"
	"testing"

	rsync "github.com/redkit/redkit/sync"
)

func TestProbeFor(t *testing.T) {
	for _, tc := range []struct {
		cmd, want []string
	}{
		{[]string{"PSYNC", "?", "-1"}, nil},
		{[]string{"RESTORE", "k", "0", "x", "REPLACE"}, []string{"RESTORE", ProbeKey, "0", "not-a-payload", "REPLACE"}},
		{[]string{"FUNCTION", "RESTORE", "x", "REPLACE"}, []string{"FUNCTION", "RESTORE", "not-a-payload"}},
		{[]string{"SET", "k", "v"}, []string{"SET", ProbeKey, "1"}},
		{[]string{"GET", "k"}, []string{"GET", ProbeKey}},
		{[]string{"DEL", "k"}, []string{"DEL", ProbeKey}},
		{[]string{"EVAL", "return 1", "1", "k"}, []string{"EVAL", "return 1", "1", ProbeKey}},
		{[]string{"FLUSHALL"}, []string{"FLUSHALL", "not-an-option"}},
		{[]string{"PUBLISH", "c", "m"}, []string{"PUBLISH", ProbeKey, "redkit --check"}},
		{[]string{"EXEC"}, []string{"EXEC"}},
		{[]string{"INFO"}, []string{"INFO"}},
		{[]string{"SELECT", "0"}, []string{"SELECT", "0"}},
	} {
		t.Run(tc.cmd[0], func(t *testing.T) {
			if got := probeFor(tc.cmd); !slices.Equal(got, tc.want) {
				t.Errorf("probeFor(%q) = %q, want %q", tc.cmd, got, tc.want)
			}
		})
	}
	if !strings.HasPrefix(ProbeKey, rsync.CheckpointKeyPrefix) {
		t.Errorf("ProbeKey %q is not under %q", ProbeKey, rsync.CheckpointKeyPrefix)
	}
}

func TestDBList(t *testing.T) {
	for _, tc := range []struct {
		dbs  map[int]int64
		want string
	}{
		{nil, "none"},
		{map[int]int64{0: 5}, "db 0: 5"},
		{map[int]int64{3: 1, 0: 2, 12: 7}, "db 0: 2, db 3: 1, db 12: 7"},
	} {
		if got := dbList(tc.dbs); got != tc.want {
			t.Errorf("dbList(%v) = %q, want %q", tc.dbs, got, tc.want)
		}
	}
}

func TestCmdNames(t *testing.T) {
	got := cmdNames([][]string{{"PSYNC", "?", "-1"}, {"PING"}, {"CLUSTER", "SLOTS"}})
	if want := "PSYNC PING CLUSTER"; got != want {
		t.Errorf("cmdNames = %q, want %q", got, want)
	}
}

func TestResultFailed(t *testing.T) {
	r := &Result{}
	r.add("a", OK, NoAdvice, "fine")
	r.add("b", Fail, UseMaster, "%s is a %s", "x", "slave")
	r.add("c", Warn, NoAdvice, "hm")
	r.add("d", Fail, NoAdvice, "no")
	if got := r.Failed(); got != 2 {
		t.Errorf("Failed() = %d, want 2", got)
	}
	if got := r.Checks[1]; got.Detail != "x is a slave" || got.Advice != UseMaster || got.Status != Fail {
		t.Errorf("check %+v", got)
	}
}

// TestResultRedacts: no URL's password reaches a detail.
func TestResultRedacts(t *testing.T) {
	r := &Result{}
	r.add("x", Warn, NoAdvice, "dial %s: refused", "redis://user:s3cret@127.0.0.1:1")
	if strings.Contains(r.Checks[0].Detail, "s3cret") {
		t.Errorf("detail %q holds the password", r.Checks[0].Detail)
	}
}

// TestInvalidSide: a side without its server info is an argument error,
// before any probe.
func TestInvalidSide(t *testing.T) {
	ctx := context.Background()
	ok := &Side{Name: "x", Addr: "127.0.0.1:1", Info: &rsync.ServerInfo{}, Conn: &rsync.Options{}}
	for _, tc := range []struct {
		name string
		run  func() (*Result, error)
	}{
		{"sync source", func() (*Result, error) { return Sync(ctx, &Side{Addr: "x"}, ok, SyncOptions{}) }},
		{"sync target", func() (*Result, error) { return Sync(ctx, ok, nil, SyncOptions{}) }},
		{"restore target", func() (*Result, error) { return Restore(ctx, &Side{Info: &rsync.ServerInfo{}}, "x", RestoreOptions{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res, err := tc.run(); err == nil || res != nil {
				t.Errorf("got %v, %v; want an error", res, err)
			}
		})
	}
}
