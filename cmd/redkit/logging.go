package main

import (
	"context"
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

// say tells the user something on stderr besides the logs: in text the
// line "redkit: <text>" as it always was (attrs are already in text);
// with --log-format json (gopts.logFormat) a log record of level with
// text as its message and attrs as its fields.
func say(gopts globalOptions, log *slog.Logger, level slog.Level, text string, attrs ...any) {
	l := &cmdLog{w: gopts.stderr}
	if gopts.logFormat == "json" {
		l.json = log // the command's, with its level
	}
	l.log(level, text, "", attrs...)
}

// failed reports a failure the command explains itself, with a hint
// ("" for none), and returns the error that sets the exit code without
// printing it again. In text: "redkit: <msg>" and "hint: <hint>"; with
// --log-format json one line, as report writes the final error:
// {"level":"ERROR","msg":...,"hint":...,"exit_code":N}. msg must hold
// no password (rsync.Redact).
func failed(gopts globalOptions, code int, err error, msg, hint string) error {
	newCmdLog(gopts).log(slog.LevelError, msg, hint, "exit_code", code)
	return reportedError(code, err)
}

// logLines logs the text another part of redkit printed for a person
// ("redkit: <message>" lines, each optionally followed by a "hint: ..."
// line) as records of level: for --log-format json, where stderr holds
// JSON lines only. A hint becomes the "hint" field of the record before
// it; extra attrs go on every record.
func logLines(log *slog.Logger, level slog.Level, text string, attrs ...any) {
	var msg string
	var have bool
	emit := func(hint string) {
		if !have {
			return
		}
		a := attrs
		if hint != "" {
			a = append([]any{"hint", hint}, attrs...)
		}
		log.Log(context.Background(), level, msg, a...)
		have = false
	}
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimRight(line, "\r"); line == "" {
			continue
		}
		if hint, ok := strings.CutPrefix(line, "hint: "); ok && have {
			emit(hint)
			continue
		}
		emit("")
		msg, have = strings.TrimPrefix(line, "redkit: "), true
	}
	emit("")
}
