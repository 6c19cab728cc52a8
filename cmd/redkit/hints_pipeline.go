package main

import (
	"errors"

	"github.com/redkit/redkit/pipeline"
)

// Hints naming flags for package pipeline's errors, which say only what
// happened.

// flagAdviceError is an error printed with advice that names a flag
// appended: its text is the error's, then the advice.
type flagAdviceError struct {
	err    error
	advice string
}

func (e *flagAdviceError) Error() string { return e.err.Error() + e.advice }
func (e *flagAdviceError) Unwrap() error { return e.err }

// withFlagAdvice adds to a pipeline error the flag that avoids it, as
// the end of its message (where the pipeline's error ends the chain's
// text): an AOF's commands after its RDB part (--replay), AOF commands
// under a key filter (--db).
func withFlagAdvice(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pipeline.ErrNeedsReplay):
		return &flagAdviceError{err, ": run again with --replay to replay them into the keys"}
	case errors.As(err, new(*pipeline.CommandFilterError)):
		return &flagAdviceError{err, " (only --db applies to them)"}
	}
	return err
}
