package redistest

import (
	"os/exec"
	"syscall"
)

// DieWithTest makes a server get SIGKILL when the test process dies
// without its cleanups (a test binary killed by -timeout, a panic): no
// server outlives its test. Go's threads do not exit while the process
// runs (no test here locks one), so the parent-death signal comes only
// with the process.
func DieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
