//go:build !unix

package sync

import "time"

// processCPU is not measured here.
func processCPU() time.Duration { return -1 }
