package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestBackupIsSelfContained checks the copy is a single rollback-journal
// file: it can be read without any -wal file and copied as is.
func TestBackupIsSelfContained(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTest(t, filepath.Join(dir, FileName), Options{})
	// 100 log lines, enough for several pages.
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100)
		INSERT INTO logs (timestamp, level, process, instance_id, message)
		SELECT '2025-01-01T00:00:00Z', 'stdout', 'api', 'prod', 'line ' || i FROM n`); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "out", "copy.db")
	if err := os.Mkdir(filepath.Dir(dest), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := db.Backup(ctx, dest); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	if raw[18] != 1 || raw[19] != 1 {
		t.Errorf("backup header read/write versions = %d/%d, want 1/1 (rollback journal)", raw[18], raw[19])
	}
	if entries, err := os.ReadDir(filepath.Dir(dest)); err != nil || len(entries) != 1 || entries[0].Name() != "copy.db" {
		t.Errorf("backup directory holds %v (%v), want just copy.db", entries, err)
	}
	// Restoring is copying the file into place; Open switches it to WAL.
	restored := openTest(t, dest, Options{})
	if got := queryString(t, restored, "PRAGMA journal_mode"); got != "wal" {
		t.Errorf("restored journal_mode = %q", got)
	}
	if got := queryInt(t, restored, "SELECT count(*) FROM logs"); got != 100 {
		t.Errorf("restored %d rows, want 100", got)
	}
}
