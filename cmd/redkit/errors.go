package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	rsync "github.com/redkit/redkit/sync"
)

// Exit codes, documented in exitCodesHelp.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitProblems    = 3
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
func report(ctx context.Context, stderr io.Writer, err error) int {
	code := exitCode(ctx, err)
	var ce *codedError
	switch {
	case code == exitOK:
	case code == exitInterrupted:
		fmt.Fprintln(stderr, "redkit: interrupted")
	case errors.As(err, &ce) && ce.reported:
	default:
		// The last guard: no URL's password, whatever built the message.
		fmt.Fprintf(stderr, "redkit: %s\n", rsync.Redact(withAdvice(err).Error()))
		if code == exitUsage {
			fmt.Fprintln(stderr, "Run 'redkit --help' or 'redkit <command> --help' for usage.")
		}
	}
	return code
}
