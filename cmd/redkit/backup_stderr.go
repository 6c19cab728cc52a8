package main

import (
	"fmt"
	"log/slog"
)

// restoreStderr writes the lines a restore from a backup says on stderr:
// "redkit: restore: ..." as text, or, with --log-format json
// (globalOptions.logFormat), each message as one JSON line (the lines
// after a message's first go in "detail"), so that stderr is JSON lines
// only.
type restoreStderr struct {
	l     *cmdLog
	quiet bool // no info lines
}

func newRestoreStderr(gopts globalOptions, quiet bool) restoreStderr {
	return restoreStderr{l: newCmdLog(gopts), quiet: quiet}
}

func (s restoreStderr) print(level slog.Level, msg string, attrs ...any) {
	s.l.log(level, "restore: "+msg, "", attrs...)
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
