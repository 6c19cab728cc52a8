//go:build !linux

package redistest

import "os/exec"

// dieWithTest does nothing where there is no parent-death signal.
func dieWithTest(*exec.Cmd) {}
