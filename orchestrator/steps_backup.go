package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tenement/ten/internal/fsutil"
	"github.com/tenement/ten/internal/sqlitefile"
	"github.com/tenement/ten/migrations"
	"github.com/tenement/ten/orchestrator/release"
	"github.com/tenement/ten/runtime/handoff"
	"github.com/tenement/ten/runtime/store"
)

// The backup steps: the binary and the database are copied before
// anything changes, and the database restored when ten From cannot run on it.

type backupBinaryOut struct {
	Backup  string `json:"backup"`
	SHA256  string `json:"sha256"`
	Rotated bool   `json:"rotated"`
}

func (u *upgrade) doBackupBinary(context.Context) (any, error) {
	if !fileIs(u.p.Installed, u.p.InstalledSHA256) {
		return nil, fmt.Errorf("%s changed since it was checked (sha256 no longer %s): run ten-upgrade run again so the installed binary is checked anew", u.p.Installed, short(u.p.InstalledSHA256))
	}
	bak, rotated, err := fsutil.BackupBinary(u.p.Installed)
	if err != nil {
		return nil, fmt.Errorf("back up %s: %w", u.p.Installed, err)
	}
	return backupBinaryOut{Backup: bak, SHA256: u.p.InstalledSHA256, Rotated: rotated}, nil
}

type backupDBOut struct {
	Path   string `json:"path"` // "" when there was no database yet
	Size   int64  `json:"size"`
	Schema int    `json:"schema"`
	// SHA256 is the backup's, checked before it is restored ("" in
	// journals of older versions).
	SHA256 string `json:"sha256,omitempty"`
}

func (u *upgrade) backupsDir() string { return filepath.Join(u.p.StateDir, "backups") }

func (u *upgrade) doBackupDB(ctx context.Context) (any, error) {
	if !fileExists(u.p.DB) {
		u.note("no database at %s yet: nothing to back up", u.p.DB)
		return backupDBOut{}, nil
	}
	if err := os.MkdirAll(u.backupsDir(), 0o700); err != nil {
		return nil, err
	}
	dest := filepath.Join(u.backupsDir(), fmt.Sprintf("tenement-%s-u%d.db", time.Now().UTC().Format("20060102T150405Z"), u.id))
	if err := sqlitefile.BackupFile(ctx, u.p.DB, dest); err != nil {
		return nil, fmt.Errorf("back up the database: %w", err)
	}
	fi, err := os.Stat(dest)
	if err != nil {
		return nil, err
	}
	sum, err := release.FileSHA256(dest)
	if err != nil {
		return nil, err
	}
	st, _ := inspectDB(ctx, dest)
	return backupDBOut{Path: dest, Size: fi.Size(), Schema: st.Version, SHA256: sum}, nil
}

// undoBackupDB puts the database backup back only when the live database
// moved past what ten From can run on; otherwise the newer data is kept.
func (u *upgrade) undoBackupDB(ctx context.Context, _ json.RawMessage) error {
	_, err := u.restoreDBIfNeeded(ctx)
	return err
}

// inspectDB reads a database's schema state without writing it.
func inspectDB(ctx context.Context, path string) (migrations.State, error) {
	db, err := store.Open(ctx, path, store.Options{ReadOnly: true, NoMigrate: true})
	if err != nil {
		return migrations.State{}, err
	}
	defer db.Close()
	return migrations.Inspect(ctx, db.DB)
}

// needsDBRestore reports whether ten From cannot run on the live database:
// its compat floor is above the newest schema ten From knows.
func (u *upgrade) needsDBRestore(ctx context.Context) (bool, migrations.State, error) {
	if !fileExists(u.p.DB) {
		return false, migrations.State{}, nil
	}
	st, err := inspectDB(ctx, u.p.DB)
	if err != nil {
		return false, st, err
	}
	return st.Floor > u.p.FromSchema, st, nil
}

// restoreDBIfNeeded restores the pre-upgrade backup when the live database
// is past ten From's reach. No server may run on the data directory then.
func (u *upgrade) restoreDBIfNeeded(ctx context.Context) (bool, error) {
	need, st, err := u.needsDBRestore(ctx)
	if err != nil {
		return false, fmt.Errorf("inspect the live database: %w", err)
	}
	if !need {
		if st.Version > u.p.FromSchema {
			u.note("database kept: schema %d (floor %d) is still usable by ten %s; nothing written since the upgrade is lost", st.Version, st.Floor, u.p.From)
		}
		return false, nil
	}
	var b backupDBOut
	if !u.output(StepBackupDB, &b) || b.Path == "" {
		return false, fmt.Errorf("the database is at schema %d (floor %d), which ten %s cannot run on, and there is no backup to restore", st.Version, st.Floor, u.p.From)
	}
	if _, err := handoff.NewControlClient(u.p.DataDir).Status(ctx); err == nil {
		return false, errors.New("a server still runs on the data directory: stop it before the database can be restored")
	}
	if b.SHA256 != "" {
		if err := changedError("the database backup", b.Path, b.SHA256); err != nil {
			return false, fmt.Errorf("%w: refusing to restore it; put back the backup this upgrade took, or restore one you trust by hand", err)
		}
	}
	if err := restoreDatabase(ctx, b.Path, u.p.DB); err != nil {
		return false, err
	}
	if err := u.j.MarkPointOfNoReturn(context.WithoutCancel(ctx), u.id); err != nil {
		u.log.Warn("could not mark the point of no return", "err", err)
	}
	u.note("database restored from %s: it was at schema %d (floor %d), past ten %s's %d; changes written since the backup are lost", b.Path, st.Version, st.Floor, u.p.From, u.p.FromSchema)
	return true, nil
}

// restoreDatabase replaces the live database file with a backup: the copy
// is written beside it and checked, the old WAL and shared-memory files are
// removed (they belong to the replaced file), then the copy is renamed into
// place and the directory fsynced.
func restoreDatabase(ctx context.Context, backup, db string) error {
	if err := sqlitefile.IntegrityCheck(ctx, backup); err != nil {
		return fmt.Errorf("backup %s: %w", backup, err)
	}
	tmp := db + ".restoring"
	if _, err := fsutil.CopyFile(backup, tmp, 0o600); err != nil {
		return err
	}
	for _, s := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(db + s); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(tmp, db); err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(db))
}
