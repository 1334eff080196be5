package sqlitefile

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenement/ten/internal/fault"
	"github.com/tenement/ten/internal/testfs"
	"github.com/tenement/ten/migrations"
)

// fileName is runtime/store's name for the database, which these tests
// cannot import: it imports this package.
const fileName = "tenement.db"

// options and testDB stand in for runtime/store's Options and DB, opening
// a database as the runtime does (WAL, migrated unless told otherwise).
type options struct{ ReadOnly, NoMigrate bool }

type testDB struct {
	*sql.DB
	Path string
}

func (db *testDB) Backup(ctx context.Context, dest string) error {
	return Backup(ctx, db.DB, db.Path, dest)
}

func openTest(t testing.TB, path string, opt options) *testDB {
	t.Helper()
	params := "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	if opt.ReadOnly {
		params = "?_pragma=busy_timeout(5000)&mode=ro"
	}
	db, err := sql.Open("sqlite", URI(path)+params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	if !opt.ReadOnly && !opt.NoMigrate {
		if _, err := migrations.Apply(context.Background(), db, migrations.All(), false); err != nil {
			t.Fatal(err)
		}
	}
	return &testDB{DB: db, Path: path}
}

// checkBackup fails unless the backup at dest passes the integrity check
// and only its owner may read it.
func checkBackup(t *testing.T, dest string) {
	t.Helper()
	if err := IntegrityCheck(context.Background(), dest); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("backup mode = %v, want 0600", perm)
	}
}

func queryInt(t testing.TB, db *testDB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// setHook installs a test hook for the duration of the test.
func setHook[T any](t *testing.T, hook *T, f T) {
	t.Helper()
	old := *hook
	*hook = f
	t.Cleanup(func() { *hook = old })
}

func insertLogs(t testing.TB, db *testDB, n int) {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for i := range n {
		_, err := tx.Exec("INSERT INTO logs (timestamp, level, process, instance_id, message) VALUES (?, 'stdout', 'api', 'prod', ?)",
			time.Unix(int64(i), 0).UTC().Format(time.RFC3339), fmt.Sprintf("line %d of the seed with some padding to fill pages", i))
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestBackupUnderConcurrentWrites copies a database while a writer commits
// rows in a loop, with the copy interleaved with commits page by page, and
// checks the copy is one consistent snapshot holding everything committed
// before the backup started.
func TestBackupUnderConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTest(t, filepath.Join(dir, fileName), options{})
	insertLogs(t, db, 600)

	// Each transaction adds one log line and records its id in config, so a
	// consistent copy has count(logs) == max(id) == config 'last'.
	var committed atomic.Int64
	committed.Store(600)
	commits := make(chan int64) // unbuffered: delivered only to a waiting reader
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		writerDone <- func() error {
			for {
				select {
				case <-stop:
					return nil
				default:
				}
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				res, err := tx.Exec("INSERT INTO logs (timestamp, level, process, instance_id, message) VALUES ('2025-01-01T00:00:00Z', 'stdout', 'api', 'prod', 'concurrent write')")
				if err != nil {
					tx.Rollback()
					return err
				}
				id, _ := res.LastInsertId()
				if _, err := tx.Exec("INSERT OR REPLACE INTO config (key, value) VALUES ('last', ?)", id); err != nil {
					tx.Rollback()
					return err
				}
				if err := tx.Commit(); err != nil {
					return err
				}
				committed.Store(id)
				select {
				case commits <- id:
				default:
				}
			}
		}()
	}()

	// Copy one page per step and make every step wait for a commit, so the
	// writer provably commits while the backup is in progress.
	setHook(t, &stepPages, 1)
	var steps, interleaved int
	t.Cleanup(fault.Set("store.backup.step", func(string) {
		steps++
		select {
		case <-commits:
			interleaved++
		case err := <-writerDone:
			t.Errorf("writer stopped: %v", err)
		case <-time.After(10 * time.Second):
			t.Error("writer made no progress for 10s")
		}
	}))

	before := committed.Load()
	dest := filepath.Join(dir, "backup.db")
	if err := db.Backup(ctx, dest); err != nil {
		t.Fatal(err)
	}
	close(stop)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	if steps < 10 || interleaved != steps {
		t.Fatalf("backup took %d steps with %d commits between them; want many, interleaved", steps, interleaved)
	}
	after := committed.Load()

	checkBackup(t, dest)

	cp := openTest(t, dest, options{NoMigrate: true})
	n := int64(queryInt(t, cp, "SELECT count(*) FROM logs"))
	maxID := int64(queryInt(t, cp, "SELECT max(id) FROM logs"))
	last := int64(queryInt(t, cp, "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM config WHERE key = 'last'), 600)"))
	if n < before {
		t.Errorf("backup has %d rows, but %d were committed before it started", n, before)
	}
	if n >= after {
		t.Errorf("backup has %d rows, but only %d were committed when it returned: the copy is not a snapshot", n, after)
	}
	if n != maxID || n != last {
		t.Errorf("backup is inconsistent: count %d, max(id) %d, config last %d", n, maxID, last)
	}
	if v := queryInt(t, cp, "PRAGMA user_version"); v != migrations.Latest() {
		t.Errorf("backup user_version = %d", v)
	}
	// The search index is part of the same snapshot.
	if _, err := cp.ExecContext(ctx, "INSERT INTO logs_fts(logs_fts) VALUES('integrity-check')"); err != nil {
		t.Errorf("backup FTS index: %v", err)
	}
	t.Logf("backup: %d steps, %d rows committed before, %d in copy, %d when done", steps, before, n, after)
}

// TestBackupFailureLeavesNothing checks that a backup that fails, at any
// stage, leaves nothing new behind: no file at dest, no temporary file.
func TestBackupFailureLeavesNothing(t *testing.T) {
	tests := []struct {
		name string
		// dest returns the destination; it may prepare the directory.
		dest    func(t *testing.T, dir, src string) string
		hook    func(t *testing.T, cancel context.CancelFunc)
		wantErr string
	}{
		{
			name:    "missing directory",
			dest:    func(t *testing.T, dir, _ string) string { return filepath.Join(dir, "missing", "b.db") },
			wantErr: "no such file or directory",
		},
		{
			name: "parent is a file",
			dest: func(t *testing.T, dir, _ string) string {
				p := filepath.Join(dir, "file")
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(p, "b.db")
			},
			wantErr: "not a directory",
		},
		{
			name: "destination is a directory",
			dest: func(t *testing.T, dir, _ string) string {
				p := filepath.Join(dir, "b.db")
				if err := os.MkdirAll(filepath.Join(p, "inside"), 0o700); err != nil {
					t.Fatal(err)
				}
				return p
			},
			wantErr: "b.db",
		},
		{
			name: "read-only directory",
			dest: func(t *testing.T, dir, _ string) string {
				if os.Geteuid() == 0 {
					t.Skip("root ignores directory permissions")
				}
				p := filepath.Join(dir, "ro")
				if err := os.Mkdir(p, 0o500); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Chmod(p, 0o700) })
				return filepath.Join(p, "b.db")
			},
			wantErr: "permission denied",
		},
		{
			name:    "destination is the database",
			dest:    func(t *testing.T, _, src string) string { return src },
			wantErr: "is the database itself",
		},
		{
			name: "cancelled mid-copy",
			dest: func(t *testing.T, dir, _ string) string { return filepath.Join(dir, "b.db") },
			hook: func(t *testing.T, cancel context.CancelFunc) {
				setHook(t, &stepPages, 1)
				t.Cleanup(fault.Set("store.backup.step", func(string) { cancel() }))
			},
			wantErr: context.Canceled.Error(),
		},
		{
			name: "copy fails its integrity check",
			dest: func(t *testing.T, dir, _ string) string { return filepath.Join(dir, "b.db") },
			hook: func(t *testing.T, _ context.CancelFunc) {
				t.Cleanup(fault.Set("store.backup.copied", func(tmp string) { corrupt(t, tmp) }))
			},
			wantErr: "integrity check",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dir := t.TempDir()
			src := filepath.Join(dir, fileName)
			db := openTest(t, src, options{})
			insertLogs(t, db, 200)
			dest := tc.dest(t, dir, src)
			if tc.hook != nil {
				tc.hook(t, cancel)
			}
			destDir := filepath.Dir(dest)
			before := testfs.Names(t, destDir)
			var destBefore []byte
			if fi, err := os.Stat(dest); err == nil && !fi.IsDir() {
				destBefore = testfs.Read(t, dest)
			}

			err := db.Backup(ctx, dest)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Backup = %v, want an error containing %q", err, tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "backup "+src) {
				t.Errorf("error %q does not name the source", err)
			}
			if after := testfs.Names(t, destDir); !slices.Equal(before, after) {
				t.Errorf("destination directory changed: before %v, after %v", before, after)
			}
			if destBefore != nil && !bytes.Equal(destBefore, testfs.Read(t, dest)) {
				t.Error("destination file changed")
			}
			// The source is untouched and still usable.
			if got := queryInt(t, db, "SELECT count(*) FROM logs"); got != 200 {
				t.Errorf("source has %d rows, want 200", got)
			}
			if err := IntegrityCheck(context.Background(), src); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestBackupFile checks that snapshotting by path neither migrates nor
// otherwise writes the source.
func TestBackupFile(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		migrate bool
		version int
	}{
		{"current database", true, migrations.Latest()},
		{"unmigrated database", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, fileName)
			db := openTest(t, src, options{NoMigrate: !tc.migrate})
			if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL)"); err != nil {
				t.Fatal(err)
			}
			for i := range 200 {
				if _, err := db.ExecContext(ctx, "INSERT INTO config (key, value) VALUES (?, 'v')", fmt.Sprint(i)); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()
			raw := testfs.Read(t, src)
			fi, err := os.Stat(src)
			if err != nil {
				t.Fatal(err)
			}

			dest := filepath.Join(dir, "snapshot.db")
			if err := BackupFile(ctx, src, dest); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, testfs.Read(t, src)) {
				t.Error("BackupFile changed the source file")
			}
			if fi2, err := os.Stat(src); err != nil || !fi2.ModTime().Equal(fi.ModTime()) {
				t.Errorf("BackupFile touched the source: %v", err)
			}
			cp := openTest(t, dest, options{ReadOnly: true})
			if v := queryInt(t, cp, "PRAGMA user_version"); v != tc.version {
				t.Errorf("snapshot user_version = %d, want %d", v, tc.version)
			}
			if n := queryInt(t, cp, "SELECT count(*) FROM config"); n != 200 {
				t.Errorf("snapshot has %d rows, want 200", n)
			}
		})
	}

	t.Run("missing source", func(t *testing.T) {
		dir := t.TempDir()
		dest := filepath.Join(dir, "snapshot.db")
		if err := BackupFile(ctx, filepath.Join(dir, "nope.db"), dest); err == nil {
			t.Fatal("BackupFile succeeded")
		}
		if names := testfs.Names(t, dir); len(names) != 0 {
			t.Errorf("BackupFile left %v", names)
		}
	})
}

func TestIntegrityCheck(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		make    func(t *testing.T, path string)
		wantErr string // "" for ok
	}{
		{"healthy", func(t *testing.T, path string) {
			db := openTest(t, path, options{})
			insertLogs(t, db, 100)
			db.Close()
		}, ""},
		{"corrupt", func(t *testing.T, path string) {
			db := openTest(t, path, options{})
			insertLogs(t, db, 600)
			db.Close()
			corrupt(t, path)
		}, "failed"},
		{"not a database", func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("not sqlite "), 1000), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a database"},
		{"missing", func(t *testing.T, path string) {}, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			tc.make(t, path)
			err := IntegrityCheck(ctx, path)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("IntegrityCheck = %v, want an error naming %s containing %q", err, path, tc.wantErr)
			}
		})
	}
}

// corrupt damages the b-tree pages of the logs table in a closed database
// file while leaving the header intact, so SQLite opens it and
// integrity_check finds the damage.
func corrupt(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	if fi.Size() < 8*page {
		t.Fatalf("%s is too small (%d bytes) to corrupt meaningfully", path, fi.Size())
	}
	// Overwrite the middle of several interior pages with garbage that
	// still leaves the page headers plausible enough to be walked.
	garbage := bytes.Repeat([]byte{0xA5}, page/2)
	for off := fi.Size() / 2; off < fi.Size()-page; off += 3 * page {
		if _, err := f.WriteAt(garbage, off+page/4); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestBackupOverwrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTest(t, filepath.Join(dir, fileName), options{})
	dest := filepath.Join(dir, "backup.db")
	if err := os.WriteFile(dest, []byte("old backup"), 0o644); err != nil {
		t.Fatal(err)
	}
	insertLogs(t, db, 10)
	if err := db.Backup(ctx, dest); err != nil {
		t.Fatal(err)
	}
	checkBackup(t, dest)
}

// BenchmarkBackup measures a backup of a database with 10k log rows.
func BenchmarkBackup(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	db := openTest(b, filepath.Join(dir, fileName), options{})
	insertLogs(b, db, 10_000)
	b.SetBytes(int64(queryInt(b, db, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")))
	dest := filepath.Join(dir, "backup.db")
	b.ResetTimer()
	for b.Loop() {
		if err := db.Backup(ctx, dest); err != nil {
			b.Fatal(err)
		}
	}
}
