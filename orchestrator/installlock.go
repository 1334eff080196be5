package orchestrator

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tenement/ten/orchestrator/lockfile"
)

// An installation is its data directory and its installed binary. The
// journal's lock guards only the state directory, which --state-dir can
// move; these locks guard the installation itself, so two ten-upgrades can
// never change one at the same time, whatever their state directories.
// Two installations that share a binary share its lock.

// dataDirLockPath is the lock of a data directory: in {data_dir}/upgrade,
// the name ten keeps for ten-upgrade (no service may use it).
func dataDirLockPath(dataDir string) string {
	return filepath.Join(realPath(dataDir), "upgrade", "install.lock")
}

// binaryLockPath is the lock of an installed binary: a hidden file beside
// it (where its staged copy and backups go too), named after the file the
// path resolves to, so that two paths to one binary share it.
func binaryLockPath(bin string) string {
	real := realPath(bin)
	return filepath.Join(filepath.Dir(real), "."+filepath.Base(real)+".lock")
}

// realPath resolves symbolic links; a path that does not resolve is used
// as given, made absolute.
func realPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		return real
	}
	return p
}

// installLocks are the installation locks one command holds. Locking a
// path it already holds does nothing.
type installLocks struct {
	held   map[string]bool
	unlock []func() error
}

// dataDir locks the data directory dataDir.
func (l *installLocks) dataDir(dataDir string) error {
	path := dataDirLockPath(dataDir)
	// The journal's directory defaults to the same place and is made the
	// same way.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("lock the data directory %s: %w", dataDir, err)
	}
	return l.take(path, "the data directory "+dataDir)
}

// binary locks the installed binary bin.
func (l *installLocks) binary(bin string) error {
	return l.take(binaryLockPath(bin), "the binary "+bin)
}

func (l *installLocks) take(path, guards string) error {
	if l.held[path] {
		return nil
	}
	unlock, err := lockfile.Acquire(path, guards)
	if err != nil {
		return err
	}
	if l.held == nil {
		l.held = map[string]bool{}
	}
	l.held[path] = true
	l.unlock = append(l.unlock, unlock)
	return nil
}

// release lets every lock go, the last taken first.
func (l *installLocks) release() {
	for i := len(l.unlock) - 1; i >= 0; i-- {
		l.unlock[i]() //nolint:errcheck // the kernel releases them at exit anyway
	}
}

// lockInstallation locks the data directory and the binary a journaled
// upgrade changed, before it is resumed or rolled back.
func (u *upgrade) lockInstallation(l *installLocks) error {
	if err := l.dataDir(u.p.DataDir); err != nil {
		return err
	}
	return l.binary(u.p.Installed)
}
