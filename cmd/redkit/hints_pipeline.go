package main

import (
	"errors"

	"github.com/redkit/redkit/pipeline"
)

// pipelineAdvice is the advice, naming flags, for package pipeline's
// errors, which say only what happened (adviceFor, withAdvice): an AOF's
// commands after its RDB part (--replay), AOF commands under a key
// filter (--db).
func pipelineAdvice(err error) []advice {
	var out []advice
	if errors.Is(err, pipeline.ErrNeedsReplay) {
		said := pipeline.ErrNeedsReplay.Error()
		out = append(out, advice{said, said + ": run again with --replay to replay them into the keys"})
	}
	if fe := (*pipeline.CommandFilterError)(nil); errors.As(err, &fe) {
		out = append(out, advice{fe.Error(), fe.Error() + " (only --db applies to them)"})
	}
	return out
}
