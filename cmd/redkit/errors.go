package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

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
