// Package store opens ten's state database, {data_dir}/tenement.db, and
// makes consistent copies of it while it is in use (with
// internal/sqlitefile, which ten-upgrade shares).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tenement/ten/internal/sqlitefile"
	"github.com/tenement/ten/migrations"
)

// FileName is the name of the state database inside the data directory. It
// is tenement's name, so that ten can take over a tenement data directory.
const FileName = "tenement.db"

// DefaultBusyTimeout is how long a statement waits for another connection's
// lock before failing with SQLITE_BUSY.
const DefaultBusyTimeout = 5 * time.Second

// DB is an open state database.
type DB struct {
	*sql.DB
	Path string // as passed to Open
}

// Options controls Open.
type Options struct {
	// ReadOnly opens the file with SQLite's mode=ro: nothing is written, the
	// file is not created, and migrations are not run.
	ReadOnly bool
	// NoMigrate skips migrations.Apply.
	NoMigrate bool
	// BusyTimeout is how long to wait for a lock; 0 means DefaultBusyTimeout.
	BusyTimeout time.Duration
}

// Open opens the database at path, creating it (0600, and so its -wal and
// -shm files) and its directory (0700) if needed, and migrates it to this binary's newest schema unless
// opt.NoMigrate or opt.ReadOnly is set.
//
// Every connection runs with journal_mode=WAL, so readers (the API, a
// backup) never block the supervisor's writes; synchronous=NORMAL, which in
// WAL mode can lose the last transactions on power failure but never
// corrupts the file; foreign_keys=ON; and busy_timeout. Transactions begun
// with BeginTx are BEGIN IMMEDIATE, so a read-then-write transaction waits
// for the write lock up front instead of failing with SQLITE_BUSY when it
// first writes.
func Open(ctx context.Context, path string, opt Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if !opt.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(abs), dirMode); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		if err := createPrivate(abs); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	}
	timeout := opt.BusyTimeout
	if timeout <= 0 {
		timeout = DefaultBusyTimeout
	}

	db, err := sql.Open("sqlite", dsn(abs, opt.ReadOnly, timeout))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := ping(ctx, db, timeout); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if !opt.ReadOnly && !opt.NoMigrate {
		if _, err := migrations.Apply(ctx, db, migrations.All(), false); err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate %s: %w", path, err)
		}
	}
	return &DB{DB: db, Path: path}, nil
}

// dsn builds the modernc.org/sqlite data source name for path, given as a
// file: URI (sqlitefile.URI) so that SQLite's own parameters (mode=ro)
// apply.
func dsn(path string, readOnly bool, busy time.Duration) string {
	// busy_timeout comes first: the pragmas after it may need to wait.
	params := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busy.Milliseconds()),
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(NORMAL)",
	}
	if readOnly {
		// journal_mode is a write; a read-only connection uses whatever
		// mode the file is in.
		params = append(params, "mode=ro")
	} else {
		params = append(params, "_pragma=journal_mode(WAL)", "_txlock=immediate")
	}
	return sqlitefile.URI(path) + "?" + strings.Join(params, "&")
}

// ping opens the first connection. The first connection to a new file
// switches it to WAL, which takes an exclusive lock that SQLite does not
// wait for: a second process opening the same new file at that moment gets
// SQLITE_BUSY at once. That is retried until the busy timeout, so that two
// servers started together on an empty data directory both come up.
func ping(ctx context.Context, db *sql.DB, timeout time.Duration) error {
	deadline, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wait := time.Millisecond
	for {
		err := db.PingContext(deadline)
		if err == nil || !isBusy(err) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-deadline.Done():
			t.Stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err // still busy after the busy timeout
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// Backup writes a consistent copy of the live database to dest while other
// connections keep reading and writing it (sqlitefile.Backup: one snapshot,
// a self-contained rollback-journal file, mode 0600, integrity-checked
// before it replaces dest).
func (db *DB) Backup(ctx context.Context, dest string) error {
	return sqlitefile.Backup(ctx, db.DB, db.Path, dest)
}
