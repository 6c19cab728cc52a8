package storage

import (
	"errors"
	"os"
	"strings"
	"syscall"
)

// machineID is the kernel's boot id and the PID namespace of this
// process: two processes with the same one see the same PIDs. Containers
// sharing a host name have namespaces of their own; a reboot reuses PIDs.
func machineID() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(boot)) + "/" + ns
}

// processExists tells whether a process has the PID (another user's
// too). In doubt, it exists.
func processExists(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
