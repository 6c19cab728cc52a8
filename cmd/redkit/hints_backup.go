package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
)

// backupAdvice is the advice, naming flags, for the errors of the backup
// engine and the storage codec, which state facts only (adviceFor).
func backupAdvice(err error) []advice {
	var out []advice
	if ee := (*storage.EncryptedError)(nil); errors.As(err, &ee) {
		out = append(out, advice{ee.Error(), ee.Error() + ": give the identity file with --identity-file"})
	}
	if errors.Is(err, backup.ErrNoGenerations) {
		said := backup.ErrNoGenerations.Error()
		out = append(out, advice{said, said + " (backup --continuous writes them)"})
	}
	if ae := (*backup.AfterRecoveryPointError)(nil); errors.As(err, &ae) {
		said := ae.Error()
		out = append(out, advice{said, strings.TrimSuffix(said, ")") + "; --at latest restores everything stored)"})
	}
	return out
}

// refusedHint is the advice for a source that refuses replication where
// its keys may not be read instead (--source-mode replication, or a
// continuous backup); "" for other errors.
func refusedHint(err error) string {
	re := (*backup.RefusedError)(nil)
	if !errors.As(err, &re) {
		return ""
	}
	if re.Continuous {
		return "take scheduled backups without --continuous instead (they read the keys where replication is refused: per-key consistency), " +
			"or keep a copy with 'redkit sync --mode scan' into a server of yours and back that one up continuously"
	}
	return "--source-mode scan (or auto) reads its keys instead, each as of when it is read (per-key consistency); " +
		"for a snapshot of one moment, let the user replicate (ACL SETUSER ... +psync +sync) or back up a replica"
}

// backupLogAdvice adds advice naming flags to the backup engine's log
// lines that call for it.
type backupLogAdvice struct{ slog.Handler }

func (h backupLogAdvice) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == backup.LogReadingKeys {
		r.Message += "; for a snapshot of one moment, let the user replicate (+psync +sync) or back up a replica (--source-mode replication makes this an error)"
	}
	return h.Handler.Handle(ctx, r)
}

func (h backupLogAdvice) WithAttrs(attrs []slog.Attr) slog.Handler {
	return backupLogAdvice{h.Handler.WithAttrs(attrs)}
}

func (h backupLogAdvice) WithGroup(name string) slog.Handler {
	return backupLogAdvice{h.Handler.WithGroup(name)}
}

var _ slog.Handler = backupLogAdvice{}
