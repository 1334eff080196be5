//go:build unix

package proxy

import (
	"os"
	"syscall"
)

// copyOwner gives f the owner of the file fi describes (best effort: only
// root may, and a failure keeps the caller's owner).
func copyOwner(f *os.File, fi os.FileInfo) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return
	}
	_ = f.Chown(int(st.Uid), int(st.Gid))
}

// signalReload sends SIGHUP (nginx: reload the configuration) to pid.
func signalReload(pid int) error { return syscall.Kill(pid, syscall.SIGHUP) }

// alive reports whether a process with this pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
