package main

import (
	"io"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"
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

// logFormatFlag is the one --log-format flag of every command that logs.
// With json, everything on stderr is a JSON line: logs, warnings, the
// final error and its hint (report prints those as JSON too).
func logFormatFlag() cli.Flag {
	return &cli.StringFlag{Name: "log-format", Value: "text", EnvVars: []string{"REDKIT_LOG_FORMAT"}, Usage: "log `FORMAT` on stderr: text or json (JSON lines only, errors included)"}
}

// logFormatOf finds the log format a run asked for before its flags are
// parsed, so that even a usage error is reported in it: the last
// --log-format in args (flags may follow arguments; "--" ends them),
// else REDKIT_LOG_FORMAT.
func logFormatOf(args []string, getenv func(string) string) string {
	format := getenv("REDKIT_LOG_FORMAT")
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		switch {
		case a == "--log-format" || a == "-log-format":
			if i+1 < len(args) {
				format = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--log-format="):
			format = strings.TrimPrefix(a, "--log-format=")
		case strings.HasPrefix(a, "-log-format="):
			format = strings.TrimPrefix(a, "-log-format=")
		}
	}
	if format != "json" {
		return "text"
	}
	return format
}
