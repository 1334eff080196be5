package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"

	_ "modernc.org/sqlite"
)

// releaseSet returns the migrations a release build embeds, whatever tags
// this test binary was built with, so that tests can stack their own
// versions on top of it.
func releaseSet(t testing.TB) []Migration {
	t.Helper()
	set, err := Load(releaseFS)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// extend returns set followed by one migration per SQL body, each with its
// marker, numbered after set.
func extend(t testing.TB, set []Migration, kinds []Kind, bodies ...string) []Migration {
	t.Helper()
	out := append([]Migration(nil), set...)
	for i, body := range bodies {
		v := len(out) + 1
		m, err := Parse(fmt.Sprintf("%04d_test_%d.sql", v, v), []byte("-- ten:migration kind="+string(kinds[i])+"\n"+body))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func files(set []Migration) []string {
	var s []string
	for _, m := range set {
		s = append(s, m.File())
	}
	return s
}

func mapFS(files map[string]string) fs.FS {
	m := fstest.MapFS{}
	for name, body := range files {
		m[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return m
}

// openDB opens path the way the store does, minus migrations. journal is
// the journal mode, "" for SQLite's default (rollback journal).
func openDB(t testing.TB, path, journal string) *sql.DB {
	t.Helper()
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)"
	if journal != "" {
		dsn += "&_pragma=journal_mode(" + journal + ")"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openReadOnly opens path with mode=ro, as `ten migrate --dry-run` does.
func openReadOnly(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func tempDB(t testing.TB) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tenement.db")
	return openDB(t, path, "WAL"), path
}

func exec(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func queryInt(t testing.TB, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func userVersion(t testing.TB, db *sql.DB) int { return queryInt(t, db, "PRAGMA user_version") }

func hasObject(t testing.TB, db *sql.DB, typ, name string) bool {
	t.Helper()
	return queryInt(t, db, "SELECT count(*) FROM sqlite_schema WHERE type = ? AND name = ?", typ, name) > 0
}

func hasColumn(t testing.TB, db *sql.DB, table, column string) bool {
	t.Helper()
	return queryInt(t, db, "SELECT count(*) FROM pragma_table_info(?) WHERE name = ?", table, column) > 0
}

// schemaDump returns every schema object's SQL, for comparing two
// databases' schemas.
func schemaDump(t testing.TB, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT type || ' ' || name, coalesce(sql, '') FROM sqlite_schema")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
