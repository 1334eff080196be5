//go:build unix

package fsutil

import (
	"io/fs"
	"os"
	"syscall"
)

// copyOwner gives f the owner of the file fi describes (best effort: only
// root may, and a failure keeps the caller's owner).
func copyOwner(f *os.File, fi fs.FileInfo) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return
	}
	_ = f.Chown(int(st.Uid), int(st.Gid))
}
