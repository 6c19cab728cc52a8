//go:build !linux

package redistest

import "os/exec"

// DieWithTest does nothing where there is no parent-death signal.
func DieWithTest(*exec.Cmd) {}
