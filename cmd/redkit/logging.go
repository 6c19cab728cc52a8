package main

import (
	"io"
	"log/slog"
)

// newLogger logs to w in text or JSON; quiet keeps warnings and errors.
func newLogger(w io.Writer, format string, quiet bool) *slog.Logger {
	level := slog.LevelInfo
	if quiet {
		level = slog.LevelWarn
	}
	ho := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(adviceHandler{slog.NewJSONHandler(w, ho)})
	}
	return slog.New(adviceHandler{slog.NewTextHandler(w, ho)})
}
