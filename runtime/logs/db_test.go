package logs_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/tenement/ten/runtime/store"
)

// openDB returns the state database in dir, at the newest schema.
func openDB(t testing.TB, dir string) *sql.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(dir, "tenement.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.DB
}
