// Package sqlitefile copies and checks SQLite database files: a
// consistent online backup of a database in use, and PRAGMA
// integrity_check; and it holds QueryAll, the read loop over a query's
// rows that every package keeping state in SQLite needs.
//
// Both programs need these. runtime/store backs up the live tenement.db;
// compat (in ten-upgrade) snapshots a production database before a
// candidate binary migrates the copy, and checks the result. The code
// lives here, below both, rather than in runtime/store, so that
// ten-upgrade's checks do not link the runtime's store; and not in
// migrations, which owns the schema inside the file, not the file.
package sqlitefile

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// busyTimeout is how long a read-only connection waits for another
// connection's lock; runtime/store uses the same default.
const busyTimeout = 5 * time.Second

// maxProblems bounds how many integrity_check findings are reported: a
// badly damaged file can produce thousands, and the first few say enough.
const maxProblems = 10

// URI returns path, made absolute, as a file: URI, so that SQLite's own
// parameters (mode=ro) apply. Its reserved characters are percent-escaped,
// since a data directory may legally contain '?', '#' or '%'.
func URI(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return "file:" + (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath()
}

// openReadOnly opens path with SQLite's mode=ro: nothing is written, not
// even by a checkpoint, and the file is not created.
func openReadOnly(path string) (*sql.DB, error) {
	return sql.Open("sqlite", fmt.Sprintf("%s?_pragma=busy_timeout(%d)&mode=ro", URI(path), busyTimeout.Milliseconds()))
}

// IntegrityCheck runs PRAGMA integrity_check on the database file at path,
// opened read-only, and returns nil only if SQLite reports "ok". Otherwise
// the error lists the first problems found.
func IntegrityCheck(ctx context.Context, path string) error {
	// Opening a missing file read-only fails too, but with SQLite's vague
	// "unable to open database file"; stat first for a clear error.
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	db, err := openReadOnly(path)
	if err != nil {
		return fmt.Errorf("integrity check %s: %w", path, err)
	}
	defer db.Close()

	problems, err := QueryAll(ctx, db, scanString, fmt.Sprintf("PRAGMA integrity_check(%d)", maxProblems))
	if err != nil {
		return fmt.Errorf("integrity check %s: %w", path, err)
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	if len(problems) == 0 {
		return fmt.Errorf("integrity check %s: no result", path)
	}
	return fmt.Errorf("integrity check %s failed: %s", path, strings.Join(problems, "; "))
}
