package migrations

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tenement/ten/internal/testfs"
)

func TestApplyFresh(t *testing.T) {
	ctx := context.Background()
	db, _ := tempDB(t)
	set := All()

	st, err := Inspect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if (st != State{Fresh: true}) {
		t.Fatalf("Inspect fresh = %+v", st)
	}

	res, err := Apply(ctx, db, set, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.From != 0 || res.To != Latest() || res.Stamped || res.DryRun || !slices.Equal(files(res.Applied), files(set)) {
		t.Fatalf("Apply = %+v", res)
	}
	if v := userVersion(t, db); v != Latest() {
		t.Errorf("user_version = %d, want %d", v, Latest())
	}
	if id := queryInt(t, db, "PRAGMA application_id"); id != ApplicationID {
		t.Errorf("application_id = %#x, want %#x", id, ApplicationID)
	}
	for _, m := range set {
		n := queryInt(t, db, "SELECT count(*) FROM ten_schema_migrations WHERE version = ? AND name = ? AND kind = ? AND checksum = ? AND applied_at LIKE '____-__-__T__:__:__.___Z'",
			m.Version, m.Name, string(m.Kind), m.Checksum)
		if n != 1 {
			t.Errorf("bookkeeping row for %s missing or wrong", m.File())
		}
	}
	for _, c := range []string{"proc_start_time", "owner", "log_path"} {
		if !hasColumn(t, db, "instance_state", c) {
			t.Errorf("instance_state.%s missing", c)
		}
	}
	for _, tbl := range []string{"supervisor_lease", "servers"} {
		if !hasObject(t, db, "table", tbl) {
			t.Errorf("table %s missing", tbl)
		}
	}
	// The lease table holds one row at most.
	exec(t, db, "INSERT INTO supervisor_lease (id, holder, pid, proc_start_time, heartbeat_at, acquired_at) VALUES (1, 'a', 1, 1, 1, 1)")
	if _, err := db.ExecContext(ctx, "INSERT INTO supervisor_lease (id, holder, pid, proc_start_time, heartbeat_at, acquired_at) VALUES (2, 'b', 2, 2, 2, 2)"); err == nil {
		t.Error("supervisor_lease accepted a second row")
	}
}

func TestApplyIdempotent(t *testing.T) {
	ctx := context.Background()
	db, _ := tempDB(t)
	if _, err := Apply(ctx, db, All(), false); err != nil {
		t.Fatal(err)
	}
	exec(t, db, "INSERT INTO config (key, value) VALUES ('k', 'v')")
	before := schemaDump(t, db)
	for range 2 {
		res, err := Apply(ctx, db, All(), false)
		if err != nil {
			t.Fatal(err)
		}
		if res.From != Latest() || res.To != Latest() || len(res.Applied) != 0 || res.Stamped {
			t.Fatalf("re-apply = %+v, want no-op", res)
		}
	}
	if got := queryInt(t, db, "SELECT count(*) FROM ten_schema_migrations"); got != Latest() {
		t.Errorf("bookkeeping has %d rows, want %d", got, Latest())
	}
	if got := queryInt(t, db, "SELECT count(*) FROM config"); got != 1 {
		t.Errorf("config has %d rows, want 1", got)
	}
	if after := schemaDump(t, db); !maps.Equal(before, after) {
		t.Error("schema changed on re-apply")
	}
}

// TestApplyStepwise checks a database at every intermediate version is
// brought forward by applying only what it lacks.
func TestApplyStepwise(t *testing.T) {
	ctx := context.Background()
	set := All()
	for from := 1; from < len(set); from++ {
		db, _ := tempDB(t)
		if _, err := Apply(ctx, db, set[:from], false); err != nil {
			t.Fatal(err)
		}
		res, err := Apply(ctx, db, set, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.From != from || res.To != Latest() || !slices.Equal(files(res.Applied), files(set[from:])) {
			t.Errorf("from %d: Apply = %+v", from, res)
		}
	}
}

// TestApplyHalfAppliedMigration injects a failure in the middle of a
// migration file and checks nothing from that file survives: not its
// tables, not its columns, not its rows, not user_version, not bookkeeping.
func TestApplyHalfAppliedMigration(t *testing.T) {
	tests := []struct {
		name     string
		preload  int // versions applied before the faulty set
		faultyAt int // index into the set of the broken migration; -1 = appended
	}{
		{"fresh database, failure in a later migration", 0, -1},
		{"current database, failure in the next migration", -1, -1},
	}
	const broken = `CREATE TABLE half (x);
INSERT INTO config (key, value) VALUES ('half', 'applied');
ALTER TABLE logs ADD COLUMN half TEXT;
CREATE INDEX idx_half ON half(x);
INSERT INTO half VALUES (1);
INSERT INTO no_such_table VALUES (1);
CREATE TABLE after_the_fault (x);`
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, _ := tempDB(t)
			release := releaseSet(t)
			if tc.preload < 0 {
				if _, err := Apply(ctx, db, release, false); err != nil {
					t.Fatal(err)
				}
				exec(t, db, "INSERT INTO config (key, value) VALUES ('kept', 'yes')")
			}
			set := extend(t, release, []Kind{KindExpand}, broken)
			bad := set[len(set)-1]

			res, err := Apply(ctx, db, set, false)
			if err == nil || !strings.Contains(err.Error(), bad.File()) || !strings.Contains(err.Error(), "no_such_table") {
				t.Fatalf("Apply error = %v, want one naming %s and the failing statement", err, bad.File())
			}
			if res.To != len(release) {
				t.Errorf("Result.To = %d, want %d (last complete version)", res.To, len(release))
			}
			if v := userVersion(t, db); v != len(release) {
				t.Errorf("user_version = %d, want %d", v, len(release))
			}
			for _, obj := range []struct{ typ, name string }{{"table", "half"}, {"index", "idx_half"}, {"table", "after_the_fault"}} {
				if hasObject(t, db, obj.typ, obj.name) {
					t.Errorf("%s %s from the failed migration is visible", obj.typ, obj.name)
				}
			}
			if hasColumn(t, db, "logs", "half") {
				t.Error("column logs.half from the failed migration is visible")
			}
			if n := queryInt(t, db, "SELECT count(*) FROM config WHERE key = 'half'"); n != 0 {
				t.Error("row from the failed migration is visible")
			}
			if n := queryInt(t, db, "SELECT count(*) FROM ten_schema_migrations WHERE version = ?", bad.Version); n != 0 {
				t.Error("failed migration was recorded")
			}
			if tc.preload < 0 {
				if n := queryInt(t, db, "SELECT count(*) FROM config WHERE key = 'kept'"); n != 1 {
					t.Error("data from before the failed migration was lost")
				}
			}
			// The connection went back to the pool clean: the database is
			// writable and a fixed set applies.
			exec(t, db, "INSERT INTO config (key, value) VALUES ('after', 'ok')")
			fixed := extend(t, release, []Kind{KindExpand}, "CREATE TABLE half (x);")
			if _, err := Apply(ctx, db, fixed, false); err != nil {
				t.Fatalf("Apply fixed set: %v", err)
			}
			if v := userVersion(t, db); v != len(fixed) {
				t.Errorf("user_version after fix = %d, want %d", v, len(fixed))
			}
		})
	}
}

// TestApplyFirstMigrationFails checks a fresh database stays fresh when the
// very first migration fails.
func TestApplyFirstMigrationFails(t *testing.T) {
	ctx := context.Background()
	db, _ := tempDB(t)
	m, err := Parse("0001_bad.sql", []byte("-- ten:migration kind=expand\nCREATE TABLE a (x);\nSELECT * FROM nowhere;"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(ctx, db, []Migration{m}, false); err == nil {
		t.Fatal("Apply succeeded")
	}
	st, err := Inspect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if (st != State{Fresh: true}) {
		t.Errorf("state after failed first migration = %+v, want fresh", st)
	}
}

func TestApplyCancelled(t *testing.T) {
	db, _ := tempDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Apply(ctx, db, All(), false); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with cancelled context = %v, want context.Canceled", err)
	}
	st, err := Inspect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Fresh {
		t.Errorf("state = %+v, want untouched", st)
	}
}

// TestApplyNewerDatabase plays an old binary (one that knows only the
// release migrations) against a database a newer binary migrated further.
func TestApplyNewerDatabase(t *testing.T) {
	e, c := KindExpand, KindContract
	release := releaseSet(t)
	n := len(release)
	tests := []struct {
		name      string
		kinds     []Kind // of the newer binary's extra migrations
		bodies    []string
		wantFloor int // 0: accepted
	}{
		{"newer expand", []Kind{e}, []string{"CREATE TABLE test_expand (id INTEGER PRIMARY KEY, note TEXT);"}, 0},
		{"two newer expands", []Kind{e, e}, []string{"CREATE TABLE t1 (x);", "ALTER TABLE t1 ADD COLUMN y TEXT;"}, 0},
		{"newer contract", []Kind{c}, []string{"ALTER TABLE deploy_log DROP COLUMN detail;"}, n + 1},
		{"contract then expand", []Kind{c, e}, []string{"ALTER TABLE deploy_log DROP COLUMN detail;", "CREATE TABLE t2 (x);"}, n + 1},
		{"expand then contract", []Kind{e, c}, []string{"CREATE TABLE t3 (x);", "DROP TABLE t3;"}, n + 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, path := tempDB(t)
			newer := extend(t, release, tc.kinds, tc.bodies...)
			if _, err := Apply(ctx, db, newer, false); err != nil {
				t.Fatal(err)
			}
			exec(t, db, "INSERT INTO config (key, value) VALUES ('k', 'v')")
			dbVersion := len(newer)
			before := schemaDump(t, db)
			db.Close()
			rawBefore := testfs.Read(t, path)

			db = openDB(t, path, "WAL")
			for _, dryRun := range []bool{true, false} {
				res, err := Apply(ctx, db, release, dryRun)
				if tc.wantFloor == 0 {
					if err != nil {
						t.Fatalf("dryRun=%v: old binary refused a database it can use: %v", dryRun, err)
					}
					if res.From != dbVersion || res.To != dbVersion || len(res.Applied) != 0 {
						t.Errorf("dryRun=%v: Apply = %+v, want From == To == %d", dryRun, res, dbVersion)
					}
					continue
				}
				var tooNew *TooNewError
				if !errors.As(err, &tooNew) {
					t.Fatalf("dryRun=%v: Apply = %v, want *TooNewError", dryRun, err)
				}
				want := TooNewError{DBVersion: dbVersion, DBFloor: tc.wantFloor, Known: n}
				if *tooNew != want {
					t.Errorf("TooNewError = %+v, want %+v", *tooNew, want)
				}
			}
			st, err := Inspect(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if st.Version != dbVersion || st.Floor != max(1, tc.wantFloor) {
				t.Errorf("Inspect = %+v, want version %d floor %d", st, dbVersion, max(1, tc.wantFloor))
			}
			checkUnchanged(t, db, path, before, rawBefore, "old binary")
		})
	}
}

func TestTooNewErrorMessage(t *testing.T) {
	err := &TooNewError{DBVersion: 5, DBFloor: 4, Known: 3}
	const want = "database schema is version 5 (written by a newer ten; it needs a binary that knows schema >= 4); " +
		"this binary knows up to 3: upgrade ten, or restore the database backup taken before the upgrade"
	if err.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", err, want)
	}
}

func TestApplyRefusesForeign(t *testing.T) {
	tests := []struct {
		name  string
		setup []string
	}{
		{"other application_id", []string{"PRAGMA application_id = 1234", "CREATE TABLE logs (id INTEGER PRIMARY KEY, timestamp TEXT, level TEXT, process TEXT, instance_id TEXT, message TEXT)"}},
		{"other application_id, empty", []string{"PRAGMA application_id = 1234"}},
		{"user_version without application_id", []string{"CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL)", "PRAGMA user_version = 1"}},
		{"unversioned, unknown tables", []string{"CREATE TABLE users (id INTEGER PRIMARY KEY)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, path := tempDB(t)
			exec(t, db, tc.setup...)
			before := schemaDump(t, db)
			db.Close()
			raw := testfs.Read(t, path)

			db = openDB(t, path, "WAL")
			for _, dryRun := range []bool{true, false} {
				if _, err := Apply(ctx, db, All(), dryRun); !errors.Is(err, ErrForeign) {
					t.Fatalf("dryRun=%v: Apply = %v, want ErrForeign", dryRun, err)
				}
			}
			st, err := Inspect(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Foreign() {
				t.Errorf("Inspect = %+v, want Foreign()", st)
			}
			checkUnchanged(t, db, path, before, raw, "foreign database")
		})
	}
}

// TestApplyDryRun checks a dry run reports the plan and leaves the file
// byte for byte as it was.
func TestApplyDryRun(t *testing.T) {
	release := releaseSet(t)
	tests := []struct {
		name        string
		journal     string
		setup       func(t *testing.T, path string)
		wantFrom    int
		wantStamped bool
		wantApplied []Migration
	}{
		{"fresh", "", func(t *testing.T, path string) {
			exec(t, openDB(t, path, ""), "PRAGMA user_version = 0") // create an empty file
		}, 0, false, release},
		{"tenement", "", func(t *testing.T, path string) {
			buildTenement(t, openDB(t, path, ""))
		}, 0, true, release[1:]},
		{"tenement in WAL mode", "WAL", func(t *testing.T, path string) {
			buildTenement(t, openDB(t, path, "WAL"))
		}, 0, true, release[1:]},
		{"at version 1", "WAL", func(t *testing.T, path string) {
			if _, err := Apply(context.Background(), openDB(t, path, "WAL"), release[:1], false); err != nil {
				t.Fatal(err)
			}
		}, 1, false, release[1:]},
		{"current", "WAL", func(t *testing.T, path string) {
			if _, err := Apply(context.Background(), openDB(t, path, "WAL"), release, false); err != nil {
				t.Fatal(err)
			}
		}, len(release), false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := t.TempDir() + "/tenement.db"
			setupAndClose(t, path, tc.setup)
			raw := testfs.Read(t, path)

			db := openReadOnly(t, path)
			res, err := Apply(ctx, db, release, true)
			if err != nil {
				t.Fatal(err)
			}
			wantTo := len(release)
			if !res.DryRun || res.From != tc.wantFrom || res.To != wantTo || res.Stamped != tc.wantStamped || !slices.Equal(files(res.Applied), files(tc.wantApplied)) {
				t.Errorf("dry run = %+v, want from %d to %d stamped %v applying %v", res, tc.wantFrom, wantTo, tc.wantStamped, files(tc.wantApplied))
			}
			db.Close()
			if !bytes.Equal(raw, testfs.Read(t, path)) {
				t.Error("dry run changed the database file")
			}

			// Read-write handle too: a dry run must not depend on the
			// handle being read-only to stay harmless.
			db = openDB(t, path, "")
			if _, err := Apply(ctx, db, release, true); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if !bytes.Equal(raw, testfs.Read(t, path)) {
				t.Error("dry run on a writable handle changed the database file")
			}
		})
	}
}

// setupAndClose runs setup, which opens its own handles with openDB, and
// closes them before returning so the file on disk is complete.
func setupAndClose(t *testing.T, path string, setup func(t *testing.T, path string)) {
	t.Helper()
	t.Run("setup", func(t *testing.T) { setup(t, path) })
	if t.Failed() {
		t.FailNow()
	}
}

// TestApplyConcurrent starts two migrators on the same fresh file, as two
// servers over one data directory would, and checks each migration ran
// exactly once.
func TestApplyConcurrent(t *testing.T) {
	ctx := context.Background()
	db, path := tempDB(t)
	// Switching a new file to WAL needs an exclusive lock that SQLite does
	// not wait for; the store does that once, before anything else. Here the
	// file is switched up front so the test is about the migrations.
	exec(t, db, "PRAGMA user_version = 0")
	db.Close()
	const workers = 4
	var wg sync.WaitGroup
	results := make([]Result, workers)
	errs := make([]error, workers)
	for i := range workers {
		db := openDB(t, path, "WAL")
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = Apply(ctx, db, All(), false)
		}()
	}
	wg.Wait()
	applied := 0
	for i := range workers {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		if results[i].To != Latest() {
			t.Errorf("worker %d reached %d", i, results[i].To)
		}
		applied += len(results[i].Applied)
	}
	if applied != Latest() {
		t.Errorf("%d migrations applied in total, want %d (each once)", applied, Latest())
	}
	db = openDB(t, path, "WAL")
	if got := queryInt(t, db, "SELECT count(*) FROM ten_schema_migrations"); got != Latest() {
		t.Errorf("bookkeeping has %d rows, want %d", got, Latest())
	}
}

func TestVerifyDetectsDrift(t *testing.T) {
	ctx := context.Background()
	db, _ := tempDB(t)
	set := All()
	if _, err := Apply(ctx, db, set, false); err != nil {
		t.Fatal(err)
	}
	if err := Verify(ctx, db, set); err != nil {
		t.Fatal(err)
	}
	edited := All()
	edited[1].Checksum = strings.Repeat("0", 64)
	if err := Verify(ctx, db, edited); err == nil || !strings.Contains(err.Error(), edited[1].File()) {
		t.Errorf("Verify with an edited file = %v, want an error naming %s", err, edited[1].File())
	}
}

func TestApplyRejectsInvalidSet(t *testing.T) {
	db, _ := tempDB(t)
	for _, set := range [][]Migration{nil, All()[1:]} {
		if _, err := Apply(context.Background(), db, set, false); err == nil {
			t.Fatalf("Apply accepted %v", files(set))
		}
	}
	if st, err := Inspect(context.Background(), db); err != nil || !st.Fresh {
		t.Errorf("invalid set touched the database: %+v, %v", st, err)
	}
}

// checkUnchanged closes db and fails, naming what, unless
// its schema and its file's bytes are still schema and raw.
func checkUnchanged(t *testing.T, db *sql.DB, path string, schema map[string]string, raw []byte, what string) {
	t.Helper()
	if !maps.Equal(schema, schemaDump(t, db)) {
		t.Error(what + ": the schema changed")
	}
	db.Close()
	if !bytes.Equal(raw, testfs.Read(t, path)) {
		t.Error(what + ": the database file changed")
	}
}
