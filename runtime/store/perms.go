package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
)

// The state database holds token hashes and every tenant's log lines, so
// it and its directory are private to the user ten runs as.
const (
	fileMode = 0o600
	dirMode  = 0o700
)

// stateSuffixes are the files SQLite keeps for a database in WAL mode.
var stateSuffixes = []string{"", "-wal", "-shm"}

// createPrivate creates an empty database file at path with mode 0600 if
// none exists. SQLite gives the -wal and -shm files it creates later the
// database file's mode, so creating the file first is what keeps all
// three private whoever opens the database first (serve, token-gen,
// migrate) and whatever the umask.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	// The umask may have narrowed the mode further, never widened it;
	// set it exactly so the -wal and -shm files copy 0600.
	if err := f.Chmod(fileMode); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LooseFile is a state file that group or others may access.
type LooseFile struct {
	Path string
	Mode fs.FileMode
}

// LoosePermissions returns the database files (the database, -wal, -shm)
// that exist and grant any permission to group or others.
func LoosePermissions(dbPath string) ([]LooseFile, error) {
	var loose []LooseFile
	for _, suffix := range stateSuffixes {
		p := dbPath + suffix
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("check permissions of %s: %w", p, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			loose = append(loose, LooseFile{Path: p, Mode: fi.Mode().Perm()})
		}
	}
	return loose, nil
}

// WarnLoosePermissions logs a warning for each database file group or
// others may read or write, with the command that fixes it. ten does not
// change the mode itself: the operator may have widened it on purpose
// (a backup agent in the group), and should decide.
func WarnLoosePermissions(dbPath string, log *slog.Logger) {
	loose, err := LoosePermissions(dbPath)
	if err != nil {
		log.Warn("cannot check the state database's permissions", "err", err)
		return
	}
	for _, f := range loose {
		log.Warn("state database file is accessible to other users; it holds token hashes and tenant logs",
			"path", f.Path, "mode", fmt.Sprintf("%04o", f.Mode), "fix", fmt.Sprintf("chmod 600 %s", f.Path))
	}
}
