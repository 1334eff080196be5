package sqlitefile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"modernc.org/sqlite"

	"github.com/tenement/ten/internal/fault"
	"github.com/tenement/ten/internal/fsutil"
)

// stepPages is how many pages each backup step copies between checks of
// the context. 1024 pages is 4 MiB at the default page size.
var stepPages int32 = 1024

// backuper is the part of modernc.org/sqlite's driver connection that
// starts an online backup (sqlite3_backup_init) to another file.
type backuper interface {
	NewBackup(dstURI string) (*sqlite.Backup, error)
}

// Backup writes a consistent copy of the database src, opened from the
// file srcPath, to dest while other connections keep reading and writing
// it.
//
// The copy is made with SQLite's online backup API from inside one read
// transaction, so it is the database exactly as of one commit, however long
// the copy takes and however many commits happen meanwhile. It is written to
// a temporary file next to dest, converted to a self-contained rollback
// journal file (no -wal needed to read it), fsynced, set to mode 0600, and
// checked with PRAGMA integrity_check before it is renamed onto dest. If
// anything fails, dest is left as it was (absent, or a previous file) and the
// temporary file is removed.
func Backup(ctx context.Context, src *sql.DB, srcPath, dest string) error {
	if err := backup(ctx, src, srcPath, dest); err != nil {
		return fmt.Errorf("backup %s: %w", srcPath, err)
	}
	return nil
}

// BackupFile copies the database at src to dest like Backup, without
// writing src: src is opened read-only (mode=ro), so its bytes are never
// written, not even by a checkpoint. Like any reader of a WAL database,
// SQLite creates the -wal and -shm files next to src if they are missing,
// and leaves them. ten-upgrade uses BackupFile to snapshot a production
// database before handing it to a new binary.
func BackupFile(ctx context.Context, src, dest string) error {
	db, err := openReadOnly(src)
	if err != nil {
		return fmt.Errorf("backup %s: %w", src, err)
	}
	defer db.Close()
	// sql.Open connects lazily; ping so that a missing or unreadable
	// source is reported as such, not as a failed copy.
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("backup %s: %w", src, err)
	}
	return Backup(ctx, db, src, dest)
}

func backup(ctx context.Context, src *sql.DB, srcPath, dest string) (err error) {
	if dest == "" {
		return errors.New("empty destination path")
	}
	if same, err := samePath(srcPath, dest); err != nil {
		return err
	} else if same {
		return fmt.Errorf("destination %s is the database itself", dest)
	}
	dir := filepath.Dir(dest)
	f, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file for %s: %w", dest, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			removeDatabase(tmp)
		}
	}()
	if err := f.Close(); err != nil {
		return fmt.Errorf("create temporary file for %s: %w", dest, err)
	}

	if err := copyDatabase(ctx, src, tmp); err != nil {
		return fmt.Errorf("copy to %s: %w", tmp, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	fault.Point("store.backup.copied", tmp)
	if err := IntegrityCheck(ctx, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return err
	}
	// Without syncing the directory the rename itself may not survive a
	// crash, and a caller would trust a backup that is not there.
	if err := fsutil.SyncDir(dir); err != nil {
		os.Remove(dest)
		return err
	}
	return nil
}

// copyDatabase copies src into the empty database file at dst.
func copyDatabase(ctx context.Context, src *sql.DB, dst string) error {
	conn, err := src.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()

	// sqlite3_backup_step opens (and closes) its own read transaction on
	// each call when the source has none, and restarts the copy whenever
	// another connection has committed in between. Under a steady stream of
	// writes that can go on forever. Holding one read transaction across all
	// steps pins a single snapshot instead, which in WAL mode does not block
	// writers.
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("begin read transaction: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") //nolint:errcheck // read-only
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return fmt.Errorf("begin read transaction: %w", err)
	}

	err = conn.Raw(func(dc any) error {
		b, ok := dc.(backuper)
		if !ok {
			return fmt.Errorf("driver connection %T does not support online backup", dc)
		}
		bk, err := b.NewBackup(URI(dst))
		if err != nil {
			return fmt.Errorf("start backup: %w", err)
		}
		for more := true; more; {
			if err := ctx.Err(); err != nil {
				bk.Finish()
				return err
			}
			if more, err = bk.Step(stepPages); err != nil {
				bk.Finish()
				return fmt.Errorf("backup step: %w", err)
			}
			fault.Point("store.backup.step", "")
		}
		if err := bk.Finish(); err != nil {
			return fmt.Errorf("finish backup: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return toRollbackJournal(ctx, dst)
}

// toRollbackJournal switches the copy out of WAL mode. The backup copies
// the source's header, which marks the file as WAL; a copy in WAL mode would
// grow -wal and -shm files the moment anyone opened it, and could not be
// opened read-only from a read-only directory. The live database is switched
// back to WAL by Open when a copy is restored.
func toRollbackJournal(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", URI(path))
	if err != nil {
		return err
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode=DELETE").Scan(&mode); err != nil {
		return fmt.Errorf("set journal_mode: %w", err)
	}
	if mode != "delete" {
		return fmt.Errorf("set journal_mode: still %q", mode)
	}
	return db.Close()
}

// syncFile fsyncs the file at path.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

// removeDatabase removes a database file and any journal files SQLite may
// have left next to it.
func removeDatabase(path string) {
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}

// samePath reports whether a and b name the same file, so that a backup can
// never be renamed over the database it was copied from.
func samePath(a, b string) (bool, error) {
	absA, err := filepath.Abs(a)
	if err != nil {
		return false, err
	}
	absB, err := filepath.Abs(b)
	if err != nil {
		return false, err
	}
	if absA == absB {
		return true, nil
	}
	fa, errA := os.Stat(absA)
	fb, errB := os.Stat(absB)
	return errA == nil && errB == nil && os.SameFile(fa, fb), nil
}
