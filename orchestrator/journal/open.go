package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Journal is an open journal. Its methods are safe for concurrent use, but
// an upgrade's steps are meant to be written by one goroutine at a time.
type Journal struct {
	db  *sql.DB
	dir string
	now func() time.Time
}

// Open opens the journal in stateDir, creating the directory (mode 0700)
// and journal.db (mode 0600) if needed, and brings its schema up to date.
// It does not take the lock: `ten-upgrade status` and `history` read the
// journal while a run holds it.
func Open(ctx context.Context, stateDir string) (*Journal, error) {
	if stateDir == "" {
		return nil, errors.New("open journal: empty state directory")
	}
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, fmt.Errorf("open journal in %s: %w", stateDir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// Create the file ourselves so that it, and the rollback journals
	// SQLite creates beside it with the same mode, are 0600.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	f.Close()

	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	// One connection: statements of this process never wait for each
	// other's SQLite locks, only for other processes'.
	db.SetMaxOpenConns(1)
	j := &Journal{db: db, dir: dir, now: time.Now}
	if err := j.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	return j, nil
}

func dsn(path string) string {
	params := []string{
		// busy_timeout first: the pragmas after it may wait for a lock.
		fmt.Sprintf("_pragma=busy_timeout(%d)", BusyTimeout.Milliseconds()),
		"_pragma=journal_mode(DELETE)",
		"_pragma=synchronous(EXTRA)",
		"_pragma=foreign_keys(1)",
		// Write transactions take the write lock up front, so they wait
		// through busy_timeout instead of failing when they first write.
		"_txlock=immediate",
	}
	return "file:" + (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath() + "?" + strings.Join(params, "&")
}

// Dir is the state directory, as an absolute path.
func (j *Journal) Dir() string { return j.dir }

// Path is the journal's database file.
func (j *Journal) Path() string { return filepath.Join(j.dir, FileName) }

// Close closes the database. It does not release a lock taken with Lock.
func (j *Journal) Close() error { return j.db.Close() }
