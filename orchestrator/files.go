package orchestrator

import (
	"io/fs"
	"os"

	"github.com/tenement/ten/orchestrator/fsutil"
	"github.com/tenement/ten/orchestrator/release"
)

// copyFileAtomic copies src to dst (fsutil.CopyFile: temporary file,
// fsync, rename, directory fsync): dst is never missing or half written.
func copyFileAtomic(src, dst string, mode fs.FileMode) error {
	_, err := fsutil.CopyFile(src, dst, mode)
	return err
}

// syncDir fsyncs a directory, so that renames in it survive a crash.
func syncDir(dir string) error { return fsutil.SyncDir(dir) }

// backupBinary copies installed to installed.bak; an existing .bak that
// holds something else becomes .bak.1 first (fsutil.BackupBinary).
func backupBinary(installed string) (bak string, rotated bool, err error) {
	rotated = fileExists(installed+".bak") && !sameFile(installed, installed+".bak")
	bak, err = fsutil.BackupBinary(installed)
	return bak, rotated && err == nil, err
}

// promote renames staged over installed and fsyncs the directory: at every
// instant a complete binary is at installed.
func promote(staged, installed string) error { return fsutil.Promote(staged, installed) }

func sameFile(a, b string) bool {
	sa, err := release.FileSHA256(a)
	return err == nil && fileIs(b, sa)
}

// fileIs reports whether path exists with the given SHA-256.
func fileIs(path, sum string) bool {
	got, err := release.FileSHA256(path)
	return err == nil && got == sum
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
