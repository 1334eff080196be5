package journal

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestOpenCreatesStateDir(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data", "upgrade")
	j := openTest(t, dir)

	for path, want := range map[string]os.FileMode{dir: 0o700, j.Path(): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
	for _, c := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "delete"},
		{"synchronous", "3"}, // EXTRA
		{"busy_timeout", fmt.Sprint(BusyTimeout.Milliseconds())},
		{"foreign_keys", "1"},
		{"user_version", fmt.Sprint(schemaVersion)},
		{"application_id", fmt.Sprint(applicationID)},
	} {
		var got string
		if err := j.db.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("PRAGMA %s = %s, want %s", c.pragma, got, c.want)
		}
	}

	// Reopening keeps the data.
	id := begin(t, j, "1.0.0", "1.1.0")
	j.Close()
	j2 := openTest(t, dir)
	if _, _, err := j2.Get(ctx, id); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	tests := []struct {
		name  string
		setup string
		want  string
	}{
		{"other application", "PRAGMA application_id = 42", "not a ten-upgrade journal"},
		{"tables without version", "CREATE TABLE t (x)", "not a ten-upgrade journal"},
		{"newer schema", fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = %d", applicationID, schemaVersion+1), "newer than this ten-upgrade"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
			must(t, err)
			_, err = db.Exec(tt.setup)
			db.Close()
			must(t, err)
			j, err := Open(context.Background(), dir)
			if err == nil {
				j.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// Processes that open a new journal at the same time all succeed: the
// schema is created once.
func TestOpenConcurrent(t *testing.T) {
	for round := range 20 {
		dir := filepath.Join(t.TempDir(), fmt.Sprint(round))
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				j, err := Open(context.Background(), dir)
				if err == nil {
					_, err = j.History(context.Background(), 1)
					j.Close()
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}
