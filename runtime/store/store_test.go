package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenement/ten/migrations"
)

func openTest(t testing.TB, path string, opt Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func queryInt(t testing.TB, db *DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func queryString(t testing.TB, db *DB, q string) string {
	t.Helper()
	var s string
	if err := db.QueryRowContext(context.Background(), q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

func TestOpenFresh(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "dir")
	path := filepath.Join(dir, FileName)
	db := openTest(t, path, Options{})

	if db.Path != path {
		t.Errorf("Path = %q, want %q", db.Path, path)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("data directory mode = %v, want 0700", perm)
	}

	// The pragmas hold on every connection of the pool, not just the
	// first: take several at once.
	ctx := context.Background()
	for i := range 3 {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, p := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"foreign_keys", "1"},
			{"busy_timeout", "5000"},
			{"synchronous", "1"}, // NORMAL
		} {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != p.want {
				t.Errorf("conn %d: PRAGMA %s = %q, want %q", i, p.pragma, got, p.want)
			}
		}
	}

	if v := queryInt(t, db, "PRAGMA user_version"); v != migrations.Latest() {
		t.Errorf("user_version = %d, want %d", v, migrations.Latest())
	}
	if id := queryInt(t, db, "PRAGMA application_id"); id != migrations.ApplicationID {
		t.Errorf("application_id = %#x, want %#x", id, migrations.ApplicationID)
	}
	st, err := migrations.Inspect(ctx, db.DB)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != migrations.Latest() || st.Foreign() {
		t.Errorf("Inspect = %+v", st)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO logs (timestamp, level, process, instance_id, message) VALUES ('t', 'stdout', 'p', 'i', 'hello')"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenOptions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, path string) // prepares the file, may be nil
		opt   Options
		check func(t *testing.T, db *DB, path string)
	}{
		{
			name: "busy timeout",
			opt:  Options{BusyTimeout: 250 * time.Millisecond},
			check: func(t *testing.T, db *DB, _ string) {
				if got := queryInt(t, db, "PRAGMA busy_timeout"); got != 250 {
					t.Errorf("busy_timeout = %d, want 250", got)
				}
			},
		},
		{
			name: "no migrate",
			opt:  Options{NoMigrate: true},
			check: func(t *testing.T, db *DB, _ string) {
				if v := queryInt(t, db, "PRAGMA user_version"); v != 0 {
					t.Errorf("user_version = %d, want 0", v)
				}
				if got := queryString(t, db, "PRAGMA journal_mode"); got != "wal" {
					t.Errorf("journal_mode = %q, want wal", got)
				}
			},
		},
		{
			name: "read only",
			setup: func(t *testing.T, path string) {
				openTest(t, path, Options{}).Close()
			},
			opt: Options{ReadOnly: true},
			check: func(t *testing.T, db *DB, _ string) {
				if v := queryInt(t, db, "PRAGMA user_version"); v != migrations.Latest() {
					t.Errorf("user_version = %d", v)
				}
				_, err := db.ExecContext(ctx, "INSERT INTO config (key, value) VALUES ('k', 'v')")
				if err == nil || !strings.Contains(err.Error(), "readonly") {
					t.Errorf("write on a read-only handle = %v, want a readonly error", err)
				}
			},
		},
		{
			name: "read only does not migrate",
			setup: func(t *testing.T, path string) {
				openTest(t, path, Options{NoMigrate: true}).Close()
			},
			opt: Options{ReadOnly: true},
			check: func(t *testing.T, db *DB, _ string) {
				if v := queryInt(t, db, "PRAGMA user_version"); v != 0 {
					t.Errorf("user_version = %d, want 0", v)
				}
			},
		},
		{
			name: "awkward path",
			opt:  Options{},
			check: func(t *testing.T, db *DB, path string) {
				if _, err := os.Stat(path); err != nil {
					t.Errorf("database not at %q: %v", path, err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.name == "awkward path" {
				dir = filepath.Join(dir, "a dir?with#odd%chars&x=1")
			}
			path := filepath.Join(dir, FileName)
			if tc.setup != nil {
				tc.setup(t, path)
			}
			db := openTest(t, path, tc.opt)
			tc.check(t, db, path)
		})
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("read only, missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), FileName)
		if _, err := Open(ctx, path, Options{ReadOnly: true}); err == nil {
			t.Fatal("Open succeeded")
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("read-only Open created the file (%v)", err)
		}
	})
	t.Run("foreign database", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), FileName)
		db := openTest(t, path, Options{NoMigrate: true})
		if _, err := db.ExecContext(ctx, "PRAGMA application_id = 1234"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err := Open(ctx, path, Options{})
		if !errors.Is(err, migrations.ErrForeign) || !strings.Contains(err.Error(), path) || !strings.HasPrefix(err.Error(), "migrate ") {
			t.Fatalf("Open = %v, want a migrate error naming %s and wrapping ErrForeign", err, path)
		}
	})
	t.Run("too new", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), FileName)
		db := openTest(t, path, Options{NoMigrate: true})
		newer := append(migrations.All(), migrations.Migration{
			Version: migrations.Latest() + 1, Name: "future", Kind: migrations.KindContract,
			SQL: "CREATE TABLE future (x);", Checksum: "0",
		})
		if _, err := migrations.Apply(ctx, db.DB, newer, false); err != nil {
			t.Fatal(err)
		}
		db.Close()
		var tooNew *migrations.TooNewError
		if _, err := Open(ctx, path, Options{}); !errors.As(err, &tooNew) || !strings.Contains(err.Error(), path) {
			t.Fatalf("Open = %v, want *TooNewError naming the path", err)
		}
	})
	t.Run("empty path", func(t *testing.T) {
		if _, err := Open(ctx, "", Options{}); err == nil {
			t.Fatal("Open succeeded")
		}
	})
	t.Run("directory is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, filepath.Join(file, FileName), Options{}); err == nil {
			t.Fatal("Open succeeded")
		}
	})
}

// TestOpenConcurrentFresh starts several servers on one empty data
// directory at once; all must come up on the same, migrated database.
func TestOpenConcurrentFresh(t *testing.T) {
	for range 5 {
		path := filepath.Join(t.TempDir(), FileName)
		const n = 4
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := Open(context.Background(), path, Options{})
				if err == nil {
					err = db.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Open %d: %v", i, err)
			}
		}
		db := openTest(t, path, Options{ReadOnly: true})
		if got := queryInt(t, db, "SELECT count(*) FROM ten_schema_migrations"); got != migrations.Latest() {
			t.Errorf("bookkeeping has %d rows, want %d", got, migrations.Latest())
		}
	}
}
