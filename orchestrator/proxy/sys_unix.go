//go:build unix

package proxy

import "syscall"

// signalReload sends SIGHUP (nginx: reload the configuration) to pid.
func signalReload(pid int) error { return syscall.Kill(pid, syscall.SIGHUP) }

// alive reports whether a process with this pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
