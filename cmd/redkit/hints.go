package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
	rsync "github.com/redkit/redkit/sync"
)

// Advice that names redkit's flags. The engine packages' errors and
// warnings say what happened (a key exists on the target, a target is too
// old for a mode, a cluster has only database 0) and name no flag; here
// they get back the advice in the words of the command line.

// advice is what a library error says (said) and how redkit says it,
// with the flags that help (advised).
type advice struct{ said, advised string }

// adviceFor lists the advice for the library errors err wraps.
func adviceFor(err error) []advice {
	var out []advice
	add := func(said, advised string) { out = append(out, advice{said, advised}) }
	addTo := func(sentinel error, advised string) {
		if errors.Is(err, sentinel) {
			add(sentinel.Error(), advised)
		}
	}
	addTo(rsync.ErrTLSKeyPair, "TLS: --tls-cert and --tls-key go together")
	addTo(rsync.ErrConflict, rsync.ErrConflict.Error()+" (use --conflict replace or skip)")
	addTo(rsync.ErrMixedKeys, rsync.ErrMixedKeys.Error()+" (widen the filter, or sync without one)")
	addTo(rsync.ErrRestoreMode, "--mode restore needs Redis 7.0 or later here; use --mode commands")
	addTo(rsync.ErrCrossSlotTx, rsync.ErrCrossSlotTx.Error()+" (--strict)")
	addTo(rsync.ErrNativeCluster, "--mode native needs a standalone target (use --mode restore)")
	addTo(rsync.ErrNativeReplica, "point --to at a master (or at the replica of an earlier native sync)")
	addTo(rsync.ErrNativeVersion, "use --mode restore, which falls back to commands")
	if pe := (*rsync.PayloadVersionError)(nil); errors.As(err, &pe) {
		add(pe.Error(), pe.Error()+" (use --mode auto)")
	}
	if ce := (*rsync.ClusterDBError)(nil); errors.As(err, &ce) {
		if ce.Command != "" {
			add(ce.Error(), ce.Error()+" (choose databases with --db and --db-map)")
		} else {
			add(ce.Error(), fmt.Sprintf("key %q is in db %d and a cluster has only db 0: choose what goes there with --db %d or --db-map %d=0", ce.Key, ce.DB, ce.DB, ce.DB))
		}
	}
	if le := (*storage.LockedError)(nil); errors.As(err, &le) {
		if h := lockHint(err); h != "" {
			add(le.Error(), le.Error()+h)
		}
	}
	out = append(out, pipelineAdvice(err)...)
	out = append(out, backupAdvice(err)...)
	return out
}

// withAdvice returns err with the advice that names flags put into its
// text, in place of what each library error of ours it wraps says;
// errors.Is and errors.As still see err. An error without advice (or
// that has it already) is returned as it is. Everything that prints an
// engine's error, or flattens it into another, goes through here.
func withAdvice(err error) error {
	if err == nil || errors.As(err, new(*advisedError)) {
		return err
	}
	msg, changed := err.Error(), false
	for _, a := range adviceFor(err) {
		// The innermost error's text comes last: wrappers add before it.
		if i := strings.LastIndex(msg, a.said); i >= 0 {
			msg, changed = msg[:i]+a.advised+msg[i+len(a.said):], true
		}
	}
	if !changed {
		return err
	}
	return &advisedError{err: err, msg: msg}
}

// advisedError is an error with its text as redkit prints it.
type advisedError struct {
	err error
	msg string
}

func (e *advisedError) Error() string { return e.msg }
func (e *advisedError) Unwrap() error { return e.err }

// adviceHandler adds the advice that names flags to the engine's
// warnings.
type adviceHandler struct{ slog.Handler }

func (h adviceHandler) Handle(ctx context.Context, r slog.Record) error {
	switch r.Message {
	case rsync.LogTxSplit:
		r.Message += " (--strict refuses it)"
	case rsync.LogDenied:
		r.Message = "command not applied (--deny-command)"
	case backup.LogLockNotReleased:
		r.Message = "could not release the storage lock: the next run on this machine takes it over (on Linux), others after --lock-timeout"
	}
	return h.Handler.Handle(ctx, r)
}

func (h adviceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return adviceHandler{h.Handler.WithAttrs(attrs)}
}

func (h adviceHandler) WithGroup(name string) slog.Handler {
	return adviceHandler{h.Handler.WithGroup(name)}
}

var _ slog.Handler = adviceHandler{}
