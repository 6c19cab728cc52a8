package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	gosync "sync"

	"github.com/urfave/cli/v2"

	rsync "github.com/redkit/redkit/sync"
)

// Exit codes, documented in exitCodesHelp.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitProblems    = 3
	exitLocked      = 11 // the storage is locked by another run, as restic's 11
	exitInterrupted = 130
)

// exitError carries an exit code. A reported error has already been
// printed by the command and only sets the code.
type codedError struct {
	code     int
	err      error
	reported bool
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &codedError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// reportedError sets the exit code for problems the command printed.
func reportedError(code int, err error) error {
	return &codedError{code: code, err: err, reported: true}
}

func onUsageError(c *cli.Context, err error, isSubcommand bool) error {
	return &codedError{code: exitUsage, err: err}
}

// exitCode maps an error to the process exit code.
func exitCode(ctx context.Context, err error) int {
	var ce *codedError
	var ec cli.ExitCoder
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ce):
		return ce.code
	case errors.As(err, &ec):
		// urfave/cli's own errors (such as "No help topic") are usage errors.
		return exitUsage
	default:
		return exitError
	}
}

// report prints err (unless already printed) and returns its exit code.
// With --log-format json (logFormat) the line is a JSON object, as the
// command's logs are: {"level":"ERROR","msg":...,"exit_code":N}, with
// the usage hint as "hint".
func report(ctx context.Context, stderr io.Writer, err error, logFormat string) int {
	code := exitCode(ctx, err)
	var ce *codedError
	var msg, hint string
	switch {
	case code == exitOK:
		return code
	case code == exitInterrupted:
		msg = "interrupted"
	case errors.As(err, &ce) && ce.reported:
		return code
	default:
		// The last guard: no URL's password, whatever built the message.
		msg = rsync.Redact(withAdvice(err).Error())
		if code == exitUsage {
			hint = "Run 'redkit --help' or 'redkit <command> --help' for usage."
		}
	}
	if logFormat == "json" {
		attrs := []any{"exit_code", code}
		if hint != "" {
			attrs = append(attrs, "hint", hint)
		}
		slog.New(slog.NewJSONHandler(stderr, nil)).Error(msg, attrs...)
		return code
	}
	fmt.Fprintf(stderr, "redkit: %s\n", msg)
	if hint != "" {
		fmt.Fprintln(stderr, hint)
	}
	return code
}

// cmdLog writes a command's messages on stderr, besides its data and
// its progress bar: in text, "redkit: MSG" and "hint: HINT" lines as
// they always were; with --log-format json, one JSON line per message
// (slog, as the command's logs), the hint and attrs as attributes, and
// the lines of a message after its first as "detail". It is the one
// printer of such messages: say, failed and restoreStderr use it.
type cmdLog struct {
	w    io.Writer
	json *slog.Logger // nil in text
}

// newCmdLog is the cmdLog of a run: JSON when gopts.logFormat is json.
func newCmdLog(gopts globalOptions) *cmdLog {
	return newCmdLogTo(gopts.stderr, gopts.logFormat)
}

func newCmdLogTo(w io.Writer, format string) *cmdLog {
	l := &cmdLog{w: w}
	if format == "json" {
		l.json = newLogger(w, "json", false)
	}
	return l
}

// isJSON tells whether messages are JSON lines (and no bar may be drawn).
func (l *cmdLog) isJSON() bool { return l.json != nil }

func (l *cmdLog) log(level slog.Level, msg, hint string, attrs ...any) {
	msg = rsync.Redact(msg)
	if l.json == nil {
		fmt.Fprintf(l.w, "redkit: %s\n", msg)
		if hint != "" {
			fmt.Fprintf(l.w, "hint: %s\n", hint)
		}
		return
	}
	if hint != "" {
		attrs = append(attrs, "hint", hint)
	}
	if first, rest, ok := strings.Cut(msg, "\n"); ok {
		msg, attrs = first, append(attrs, "detail", rest)
	}
	l.json.Log(context.Background(), level, msg, attrs...)
}

// error, warn and info print one message; hint may be "".
func (l *cmdLog) error(msg, hint string, attrs ...any) { l.log(slog.LevelError, msg, hint, attrs...) }
func (l *cmdLog) warn(msg, hint string, attrs ...any)  { l.log(slog.LevelWarn, msg, hint, attrs...) }
func (l *cmdLog) info(msg string, attrs ...any)        { l.log(slog.LevelInfo, msg, "", attrs...) }

// jsonLines is a writer for code that prints text lines on stderr where
// --log-format json asks for JSON lines only: each line written that is
// not already a JSON object becomes one, {"level":"INFO","msg":LINE}
// (without its "redkit: " prefix; a "hint: " line is level INFO too).
// Call flush at the end for a last line without a newline.
type jsonLines struct {
	mu  gosync.Mutex
	log *slog.Logger
	w   io.Writer
	buf []byte
}

func newJSONLines(w io.Writer) *jsonLines {
	return &jsonLines{log: slog.New(slog.NewJSONHandler(w, nil)), w: w}
}

func (j *jsonLines) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = append(j.buf, p...)
	for {
		i := bytes.IndexByte(j.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		j.line(string(j.buf[:i]))
		j.buf = j.buf[i+1:]
	}
}

func (j *jsonLines) line(s string) {
	s = strings.TrimRight(s, "\r")
	switch {
	case strings.TrimSpace(s) == "":
	case strings.HasPrefix(s, "{") && json.Valid([]byte(s)):
		fmt.Fprintln(j.w, s)
	default:
		j.log.Info(strings.TrimPrefix(s, "redkit: "))
	}
}

func (j *jsonLines) flush() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.buf) > 0 {
		j.line(string(j.buf))
		j.buf = nil
	}
}

// checkLogFormat refuses a --log-format other than text or json.
func checkLogFormat(c *cli.Context, cmd string) error {
	if v := c.String("log-format"); v != "text" && v != "json" {
		return usageErrorf("%s: --log-format %q: want text or json", cmd, v)
	}
	return nil
}
