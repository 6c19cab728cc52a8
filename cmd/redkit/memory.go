package main

import (
	"math"
	"os"
	"runtime/debug"
)

// The memory-limit policy, in one place. Streaming keeps the live heap
// small, so redkit runs the garbage collector against a soft limit
// (softMemoryLimit) instead of letting the heap double on top of a long
// value. Where a command holds memory live by design (upload buffers,
// payloads lent to a writer, a data set replayed whole), it says how much
// and the limit sits above it, or the collector would run without end.
// GOMEMLIMIT, when set, wins over all of it.

// softMemoryLimit is the heap size at which the garbage collector starts
// working harder, unless GOMEMLIMIT says otherwise. Streaming keeps the
// live heap small; a long string (a 32 MiB value) briefly makes it grow,
// and by default Go would let the heap double on top of it.
const softMemoryLimit = 40 << 20

// memoryLimitOwned tells whether redkit sets the limit (GOMEMLIMIT unset).
func memoryLimitOwned() bool { return os.Getenv("GOMEMLIMIT") == "" }

// setDefaultMemoryLimit sets the soft limit for a run.
func setDefaultMemoryLimit() {
	if memoryLimitOwned() {
		debug.SetMemoryLimit(softMemoryLimit)
	}
}

// reserveMemory raises the limit to the soft limit plus live bytes held
// by design for the whole run (an S3 upload's part buffers, segments
// waiting for their PUT).
func reserveMemory(live int64) {
	if memoryLimitOwned() {
		debug.SetMemoryLimit(softMemoryLimit + live)
	}
}

// memoryHint returns a func for a writer's MemoryHint: the limit follows
// the largest live total reported, with a quarter on top (payloads lent
// to a Writer stay live until their replies). Nil when GOMEMLIMIT is set.
func memoryHint() func(live int64) {
	if !memoryLimitOwned() {
		return nil
	}
	var top int64
	return func(live int64) {
		if live > top {
			top = live
			debug.SetMemoryLimit(softMemoryLimit + top + top/4)
		}
	}
}

// liftMemoryLimit removes the limit for a run whose live heap grows with
// the data set (a replay held whole, compare's pending keys): under a
// soft limit the collector would only run without end (compare of a
// 3.6 M-key dump against its server: 333 s with it, 81 s without, for 0.9
// against 1.6 GB of RSS).
func liftMemoryLimit() {
	if memoryLimitOwned() {
		debug.SetMemoryLimit(math.MaxInt64)
	}
}
