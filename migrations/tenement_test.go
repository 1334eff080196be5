package migrations

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"slices"
	"testing"
)

// tenementV02 is the schema tenement v0.2.x (Rust, russellromney/tenement)
// creates in tenement.db, in the order it issues the statements. It is kept
// here, separate from 0001, so that an accidental edit of 0001 cannot also
// change what the stamping tests check it against.
var tenementV02 = []fixtureStmt{
	{"logs", "logs", `CREATE TABLE IF NOT EXISTS logs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            timestamp TEXT NOT NULL,
            level TEXT NOT NULL,
            process TEXT NOT NULL,
            instance_id TEXT NOT NULL,
            message TEXT NOT NULL
        )`},
	{"idx_logs_process", "logs", `CREATE INDEX IF NOT EXISTS idx_logs_process ON logs(process)`},
	{"idx_logs_instance", "logs", `CREATE INDEX IF NOT EXISTS idx_logs_instance ON logs(instance_id)`},
	{"idx_logs_timestamp", "logs", `CREATE INDEX IF NOT EXISTS idx_logs_timestamp ON logs(timestamp DESC)`},
	{"logs_fts", "logs", `CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(
            message,
            content='logs',
            content_rowid='id'
        )`},
	{"logs_ai", "logs", `CREATE TRIGGER IF NOT EXISTS logs_ai AFTER INSERT ON logs BEGIN
            INSERT INTO logs_fts(rowid, message) VALUES (new.id, new.message);
        END`},
	{"logs_ad", "logs", `CREATE TRIGGER IF NOT EXISTS logs_ad AFTER DELETE ON logs BEGIN
            INSERT INTO logs_fts(logs_fts, rowid, message) VALUES('delete', old.id, old.message);
        END`},
	{"config", "config", `CREATE TABLE IF NOT EXISTS config (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )`},
	{"instance_state", "instance_state", `CREATE TABLE IF NOT EXISTS instance_state (
            process TEXT NOT NULL,
            instance_id TEXT NOT NULL,
            port INTEGER,
            pid INTEGER,
            weight INTEGER NOT NULL DEFAULT 100,
            status TEXT NOT NULL DEFAULT 'running',
            restarts INTEGER NOT NULL DEFAULT 0,
            started_at TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (process, instance_id)
        )`},
	{"idx_instance_state_status", "instance_state", `CREATE INDEX IF NOT EXISTS idx_instance_state_status ON instance_state(status)`},
	{"tenant_tokens", "tenant_tokens", `CREATE TABLE IF NOT EXISTS tenant_tokens (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            token_hash TEXT NOT NULL UNIQUE,
            tenant TEXT,
            scope TEXT NOT NULL DEFAULT 'tenant',
            created_at TEXT NOT NULL
        )`},
	{"idx_tenant_tokens_tenant", "tenant_tokens", `CREATE INDEX IF NOT EXISTS idx_tenant_tokens_tenant ON tenant_tokens(tenant)`},
	{"deploy_log", "deploy_log", `CREATE TABLE IF NOT EXISTS deploy_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            process TEXT NOT NULL,
            instance_id TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT,
            timestamp TEXT NOT NULL
        )`},
	{"idx_deploy_log_instance", "deploy_log", `CREATE INDEX IF NOT EXISTS idx_deploy_log_instance ON deploy_log(process, instance_id)`},
}

// fixtureStmt is one statement of the tenement fixture: the object it
// creates (or, for rows, the table it fills) and the table it belongs to.
type fixtureStmt struct{ name, table, sql string }

// buildTenement runs the fixture on db, leaving out every statement whose
// object or table is named in omit.
func buildTenement(t testing.TB, db *sql.DB, omit ...string) {
	t.Helper()
	for _, stmts := range [][]fixtureStmt{tenementV02, tenementRows} {
		for _, s := range stmts {
			if !slices.Contains(omit, s.name) && !slices.Contains(omit, s.table) {
				exec(t, db, s.sql)
			}
		}
	}
}

// tenementRows is one row or more in every table, as tenement writes them.
var tenementRows = []fixtureStmt{
	{"logs", "logs", `INSERT INTO logs (timestamp, level, process, instance_id, message) VALUES
            ('2025-01-01T00:00:00+00:00', 'stdout', 'api', 'prod', 'server listening on port 8080'),
            ('2025-01-01T00:00:01+00:00', 'stderr', 'api', 'prod', 'connection refused by upstream'),
            ('2025-01-01T00:00:02+00:00', 'stdout', 'web', 'alice', 'rendered dashboard for alice')`},
	{"config", "config", `INSERT INTO config (key, value) VALUES ('domain', 'example.com'), ('admin_seen', 'true')`},
	{"instance_state", "instance_state", `INSERT INTO instance_state (process, instance_id, port, pid, weight, status, restarts, started_at, updated_at) VALUES
            ('api', 'prod', 30001, 4242, 100, 'running', 2, '2025-01-01T00:00:00Z', '2025-01-01T00:05:00Z'),
            ('web', 'alice', 30002, 4343, 50, 'stopped', 0, NULL, '2025-01-01T00:06:00Z')`},
	{"tenant_tokens", "tenant_tokens", `INSERT INTO tenant_tokens (token_hash, tenant, scope, created_at) VALUES
            ('hash-admin', NULL, 'admin', '2025-01-01T00:00:00Z'),
            ('hash-alice', 'alice', 'tenant', '2025-01-01T00:00:00Z')`},
	{"deploy_log", "deploy_log", `INSERT INTO deploy_log (process, instance_id, action, detail, timestamp) VALUES
            ('api', 'prod', 'spawn', 'v1', '2025-01-01T00:00:00Z'),
            ('api', 'prod', 'restart', NULL, '2025-01-01T00:01:00Z')`},
}

var tenementCounts = map[string]int{"logs": 3, "config": 2, "instance_state": 2, "tenant_tokens": 2, "deploy_log": 2}

// TestStampTenementDatabase builds a database the way tenement v0.2.x does,
// fills every table, and checks that Apply adopts it: stamped, at the
// newest version, every row kept, full-text search still working.
func TestStampTenementDatabase(t *testing.T) {
	ctx := context.Background()
	db, _ := tempDB(t)
	buildTenement(t, db)
	before := schemaDump(t, db)

	st, err := Inspect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if (st != State{Tenement: true}) {
		t.Fatalf("Inspect before = %+v, want an unstamped tenement database", st)
	}

	// Stamping alone creates nothing and changes nothing on a complete
	// tenement database: every object keeps its exact SQL.
	set := All()
	res, err := Apply(ctx, db, set[:1], false)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Stamped || res.From != 0 || res.To != 1 || len(res.Applied) != 0 {
		t.Fatalf("Apply baseline = %+v, want stamped 0 -> 1", res)
	}
	after := schemaDump(t, db)
	delete(after, "table ten_schema_migrations")
	if !maps.Equal(before, after) {
		t.Errorf("stamping changed the schema:\nbefore %v\nafter  %v", before, after)
	}

	res, err = Apply(ctx, db, set, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stamped || res.From != 1 || res.To != Latest() || !slices.Equal(files(res.Applied), files(set[1:])) {
		t.Fatalf("Apply = %+v, want 1 -> %d applying %v", res, Latest(), files(set[1:]))
	}
	for table, want := range tenementCounts {
		if got := queryInt(t, db, "SELECT count(*) FROM "+table); got != want {
			t.Errorf("%s has %d rows, want %d", table, got, want)
		}
	}
	if got := queryInt(t, db, "SELECT restarts FROM instance_state WHERE process = 'api' AND instance_id = 'prod'"); got != 2 {
		t.Errorf("instance_state.restarts = %d, want 2", got)
	}
	if got := queryInt(t, db, "SELECT count(*) FROM tenant_tokens WHERE tenant IS NULL AND scope = 'admin'"); got != 1 {
		t.Errorf("admin tokens = %d, want 1", got)
	}

	// Search finds the old rows, and the triggers index new ones.
	if got := queryInt(t, db, "SELECT l.id FROM logs l JOIN logs_fts f ON l.id = f.rowid WHERE logs_fts MATCH ?", `"upstream"`); got != 2 {
		t.Errorf("FTS match for upstream = row %d, want 2", got)
	}
	exec(t, db, `INSERT INTO logs (timestamp, level, process, instance_id, message) VALUES ('2025-01-02T00:00:00+00:00', 'stdout', 'api', 'prod', 'fresh line after stamping')`)
	if got := queryInt(t, db, "SELECT count(*) FROM logs_fts WHERE logs_fts MATCH ?", `"stamping"`); got != 1 {
		t.Errorf("FTS match for a row inserted after stamping = %d, want 1", got)
	}
	exec(t, db, `DELETE FROM logs WHERE id = 1`)
	if got := queryInt(t, db, "SELECT count(*) FROM logs_fts WHERE logs_fts MATCH ?", `"listening"`); got != 0 {
		t.Errorf("FTS still matches a deleted row")
	}
	exec(t, db, `INSERT INTO logs_fts(logs_fts) VALUES('integrity-check')`)

	st, err = Inspect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != Latest() || st.ApplicationID != ApplicationID || st.Floor != Floor(set, Latest()) || st.Tenement || st.Fresh {
		t.Errorf("Inspect after = %+v", st)
	}
	if got := queryInt(t, db, "SELECT count(*) FROM ten_schema_migrations WHERE version = 1 AND name = 'tenement_v0_2' AND checksum = ?", set[0].Checksum); got != 1 {
		t.Errorf("no bookkeeping row for the stamped baseline")
	}
	if err := Verify(ctx, db, set); err != nil {
		t.Error(err)
	}
}

// TestStampPartialTenementDatabase covers databases made by earlier
// tenement releases (logs, search and config only) or by a tenement killed
// halfway through its first start: what is missing is created, in the same
// transaction as the stamp, and a missing search index is rebuilt.
func TestStampPartialTenementDatabase(t *testing.T) {
	tests := []struct {
		name  string
		omit  []string // object names left out of tenementV02
		check string   // FTS phrase that must match an old row afterwards
	}{
		{"only logs and config", []string{"instance_state", "tenant_tokens", "deploy_log"}, "upstream"},
		{"no search index", []string{"logs_fts", "logs_ai", "logs_ad"}, "upstream"},
		{"no insert trigger", []string{"logs_ai"}, "dashboard"},
		{"logs table alone", []string{"logs_fts", "logs_ai", "logs_ad", "idx_logs_process", "idx_logs_instance", "idx_logs_timestamp", "config", "instance_state", "tenant_tokens", "deploy_log"}, "listening"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, _ := tempDB(t)
			buildTenement(t, db, tc.omit...)
			res, err := Apply(ctx, db, All(), false)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Stamped || res.To != Latest() {
				t.Fatalf("Apply = %+v", res)
			}
			for _, obj := range []struct{ typ, name string }{
				{"table", "logs_fts"}, {"trigger", "logs_ai"}, {"trigger", "logs_ad"},
				{"table", "config"}, {"table", "instance_state"}, {"table", "tenant_tokens"}, {"table", "deploy_log"},
				{"index", "idx_logs_timestamp"}, {"index", "idx_deploy_log_instance"},
			} {
				if !hasObject(t, db, obj.typ, obj.name) {
					t.Errorf("%s %s missing after stamping", obj.typ, obj.name)
				}
			}
			if got := queryInt(t, db, "SELECT count(*) FROM logs"); got != 3 {
				t.Errorf("logs has %d rows, want 3", got)
			}
			if got := queryInt(t, db, "SELECT count(*) FROM logs_fts WHERE logs_fts MATCH ?", `"`+tc.check+`"`); got != 1 {
				t.Errorf("FTS match for %q = %d, want 1", tc.check, got)
			}
			exec(t, db, `INSERT INTO logs_fts(logs_fts) VALUES('integrity-check')`)
		})
	}
}

// TestStampRefusesLookalike checks that a database with a logs table that
// tenement did not make is refused rather than adopted.
func TestStampRefusesLookalike(t *testing.T) {
	ctx := context.Background()
	db, path := tempDB(t)
	exec(t, db, `CREATE TABLE logs (id INTEGER PRIMARY KEY, line TEXT)`, `INSERT INTO logs (line) VALUES ('x')`)
	_, err := Apply(ctx, db, All(), false)
	if !errors.Is(err, ErrForeign) {
		t.Fatalf("Apply = %v, want ErrForeign", err)
	}
	db = openDB(t, path, "")
	if v := userVersion(t, db); v != 0 || hasObject(t, db, "table", "config") || hasObject(t, db, "table", "ten_schema_migrations") {
		t.Errorf("refused database was modified (user_version %d)", v)
	}
}

// TestBaselineMatchesTenement checks 0001 creates exactly the schema the
// tenement fixture does.
func TestBaselineMatchesTenement(t *testing.T) {
	ctx := context.Background()
	want, _ := tempDB(t)
	for _, s := range tenementV02 {
		exec(t, want, s.sql)
	}

	got, _ := tempDB(t)
	if _, err := got.ExecContext(ctx, releaseSet(t)[0].SQL); err != nil {
		t.Fatal(err)
	}
	w, g := schemaDump(t, want), schemaDump(t, got)
	for obj := range w {
		if _, ok := g[obj]; !ok {
			t.Errorf("0001 does not create %s", obj)
		}
	}
	for obj := range g {
		if _, ok := w[obj]; !ok {
			t.Errorf("0001 creates %s, which tenement does not", obj)
		}
	}
	for _, tc := range tenementColumns {
		for _, c := range tc.columns {
			if !hasColumn(t, got, tc.table, c) {
				t.Errorf("0001: %s.%s missing", tc.table, c)
			}
		}
	}
}
