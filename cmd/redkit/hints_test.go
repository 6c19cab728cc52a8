package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	rsync "github.com/redkit/redkit/sync"
)

// TestAdvice: the engines' errors, which name no flag, are printed with
// the advice redkit gave before they moved out of the command layer,
// word for word.
func TestAdvice(t *testing.T) {
	_, tlsErr := rsync.TLSOptions{Cert: "client.pem"}.Config()
	_, modeErr := rsync.NewRestorer(nil, &rsync.ServerInfo{Server: "redis", Version: "6.2.14", RDBVersion: 9}, rsync.RestoreOptions{Mode: rsync.ModeRestore})
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"tls", tlsErr, "TLS: --tls-cert and --tls-key go together"},
		{"conflict", fmt.Errorf("restore: %w", &rsync.KeyError{DB: 2, Key: []byte("k"), Err: rsync.ErrConflict}),
			`restore: db 2 key "k": key exists on the target (use --conflict replace or skip)`},
		{"function conflict", fmt.Errorf("function library %q: %w", "lib", rsync.ErrConflict),
			`function library "lib": key exists on the target (use --conflict replace or skip)`},
		{"restore mode", modeErr, "redis 6.2.14 loads RDB 9: --mode restore needs Redis 7.0 or later here; use --mode commands"},
		{"payload", &rsync.KeyError{Key: []byte("k"), Err: &rsync.PayloadVersionError{Payload: 12, Server: "redis", Version: "7.0.15", Loads: 10}},
			`db 0 key "k": payload of RDB 12: redis 7.0.15 loads RDB 10 and older (use --mode auto)`},
		{"cluster db key", fmt.Errorf("restore: %w", &rsync.ClusterDBError{DB: 3, Key: []byte("db 0")}),
			`restore: key "db 0" is in db 3 and a cluster has only db 0: choose what goes there with --db 3 or --db-map 3=0`},
		{"cluster db command", &rsync.ClusterDBError{DB: 3, Command: "SET", Offset: 42},
			"SET at offset 42 is for database 3: a cluster has only database 0 (choose databases with --db and --db-map)"},
		{"cross-slot", fmt.Errorf("the transaction ending at offset %d spans %d slots: %w", 7, 2, rsync.ErrCrossSlotTx),
			"the transaction ending at offset 7 spans 2 slots: a cluster cannot apply it atomically (--strict)"},
		{"mixed keys", fmt.Errorf("replication stream at offset %d: %s %w", 9, "RENAME", rsync.ErrMixedKeys),
			"replication stream at offset 9: RENAME touches keys both inside and outside the filter, and cannot be applied in part (widen the filter, or sync without one)"},
		{"native cluster", fmt.Errorf("target %s is a cluster node: %w", "10.0.0.9:7000", rsync.ErrNativeCluster),
			"target 10.0.0.9:7000 is a cluster node: --mode native needs a standalone target (use --mode restore)"},
		{"native replica", fmt.Errorf("target %s is a replica of %s:%s with its link up: %w", "10.0.0.9:6379", "10.0.0.1", "6379", rsync.ErrNativeReplica),
			"target 10.0.0.9:6379 is a replica of 10.0.0.1:6379 with its link up: point --to at a master (or at the replica of an earlier native sync)"},
		{"native version", fmt.Errorf("the target (%s %s, RDB %d) cannot load the source's snapshots (%s %s, RDB %d): %w", "redis", "6.2.14", 9, "redis", "7.2.4", 11, rsync.ErrNativeVersion),
			"the target (redis 6.2.14, RDB 9) cannot load the source's snapshots (redis 7.2.4, RDB 11): use --mode restore, which falls back to commands"},
		{"none", errors.New("key exists on the target"), "key exists on the target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("no error")
			}
			got := withAdvice(tt.err)
			if got.Error() != tt.want {
				t.Errorf("got  %q\nwant %q", got.Error(), tt.want)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("errors.Is(withAdvice(err), err) = false")
			}
			// Once is enough: advice is not added twice.
			if again := withAdvice(fmt.Errorf("outer: %w", got)).Error(); again != "outer: "+tt.want {
				t.Errorf("again: %q", again)
			}
		})
	}
	if withAdvice(nil) != nil {
		t.Error("withAdvice(nil) != nil")
	}
}

// TestAdviceReport: report prints an engine's error with its advice.
func TestAdviceReport(t *testing.T) {
	var buf bytes.Buffer
	_, err := rsync.TLSOptions{Key: "client.key"}.Config()
	report(t.Context(), &buf, fmt.Errorf("sync: %w", err), "text")
	if got, want := buf.String(), "redkit: sync: TLS: --tls-cert and --tls-key go together\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestAdviceLog: the engine's warnings are logged with the advice that
// names flags, in text and JSON.
func TestAdviceLog(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		log := newLogger(&buf, format, false).With("shard", 0)
		log.Warn(rsync.LogTxSplit, "offset", 1)
		log.Warn(rsync.LogDenied, "command", "FLUSHALL")
		log.Info("sync")
		out := buf.String()
		for _, want := range []string{
			"a transaction spanning several slots is applied per slot: no longer atomic across them (--strict refuses it)",
			"command not applied (--deny-command)", "shard", "FLUSHALL",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in\n%s", format, want, out)
			}
		}
	}
}
