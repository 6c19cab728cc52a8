package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/redkit/redkit/pipeline"
)

// TestPipelineAdvice: package pipeline's errors, which name no flag, are
// printed with the advice convert and restore gave before the engine
// moved out of the command layer, word for word.
func TestPipelineAdvice(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"needs replay", pipeline.ErrNeedsReplay,
			"AOF commands follow the RDB part (an AOF with an RDB preamble): run again with --replay to replay them into the keys"},
		{"command filter", fmt.Errorf("restore: %w", &pipeline.CommandFilterError{File: "appendonly.aof.1.incr.aof", Offset: 23}),
			"restore: appendonly.aof.1.incr.aof offset 23: AOF commands cannot be filtered by key, type or expiry (only --db applies to them)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := withAdvice(tt.err)
			if got.Error() != tt.want {
				t.Errorf("got  %q\nwant %q", got.Error(), tt.want)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("errors.Is(withAdvice(err), err) = false")
			}
			if again := withAdvice(got); again.Error() != tt.want {
				t.Errorf("advised twice: %q", again.Error())
			}
		})
	}
}
