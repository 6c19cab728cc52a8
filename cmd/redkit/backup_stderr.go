package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	rsync "github.com/redkit/redkit/sync"
)

// restoreStderr writes the lines a restore from a backup says on stderr:
// "redkit: restore: ..." as text, or, with --log-format json
// (globalOptions.logFormat), each message as one JSON line (the lines
// after a message's first go in "detail"), so that stderr is JSON lines
// only.
type restoreStderr struct {
	w     io.Writer
	json  *slog.Logger // nil: text
	quiet bool         // no info lines
}

func newRestoreStderr(gopts globalOptions, quiet bool) restoreStderr {
	s := restoreStderr{w: gopts.stderr, quiet: quiet}
	if gopts.logFormat == "json" {
		s.json = slog.New(slog.NewJSONHandler(gopts.stderr, nil))
	}
	return s
}

func (s restoreStderr) print(level slog.Level, msg string, attrs ...any) {
	if s.json == nil {
		fmt.Fprintf(s.w, "redkit: restore: %s\n", msg)
		return
	}
	first, rest, _ := strings.Cut(rsync.Redact(msg), "\n")
	if rest != "" {
		attrs = append(attrs, "detail", rest)
	}
	s.json.Log(context.Background(), level, "restore: "+first, attrs...)
}

// infof says how the restore goes, unless quiet.
func (s restoreStderr) infof(format string, a ...any) {
	if !s.quiet {
		s.print(slog.LevelInfo, fmt.Sprintf(format, a...))
	}
}

// warnf says what the error that follows means, or a problem that does
// not stop the restore.
func (s restoreStderr) warnf(format string, a ...any) {
	s.print(slog.LevelWarn, fmt.Sprintf(format, a...))
}

// failf says why the restore failed, and returns err with exit code
// code, reported.
func (s restoreStderr) failf(code int, err error, format string, a ...any) error {
	s.print(slog.LevelError, fmt.Sprintf(format, a...), "exit_code", code)
	return reportedError(code, err)
}
