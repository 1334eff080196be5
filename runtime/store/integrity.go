package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
)

// maxProblems bounds how many integrity_check findings are reported: a
// badly damaged file can produce thousands, and the first few say enough.
const maxProblems = 10

// IntegrityCheck runs PRAGMA integrity_check on the database file at path,
// opened read-only, and returns nil only if SQLite reports "ok". Otherwise
// the error lists the first problems found.
func IntegrityCheck(ctx context.Context, path string) error {
	// Opening a missing file read-only fails too, but with SQLite's vague
	// "unable to open database file"; stat first for a clear error.
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(path, true, DefaultBusyTimeout))
	if err != nil {
		return fmt.Errorf("integrity check %s: %w", path, err)
	}
	defer db.Close()

	rows, err := db.QueryContext(ctx, fmt.Sprintf("PRAGMA integrity_check(%d)", maxProblems))
	if err != nil {
		return fmt.Errorf("integrity check %s: %w", path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("integrity check %s: %w", path, err)
		}
		problems = append(problems, line)
	}
	if err := rows.Err(); err != nil {
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
