package migrations

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/internal/tenementdb"
)

// tenementLogs are three rows as tenement's flush_batch writes them
// (store.rs: INSERT INTO logs, timestamps from chrono's to_rfc3339).
var tenementLogs = []tenementdb.LogRow{
	{Time: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Level: "stdout", Process: "api", Instance: "prod", Message: "server listening on port 8080"},
	{Time: time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC), Level: "stderr", Process: "api", Instance: "prod", Message: "connection refused by upstream"},
	{Time: time.Date(2025, 1, 1, 0, 0, 2, 0, time.UTC), Level: "stdout", Process: "web", Instance: "alice", Message: "rendered dashboard for alice"},
}

// buildTenement makes db a complete tenement v0.2.2 database: init_db's
// schema (store.rs:40-101), the per-tenant token table, three log rows, a
// config row, an Argon2id admin token and two tenant tokens.
func buildTenement(t testing.TB, db *sql.DB) tenementdb.Tokens {
	t.Helper()
	return buildTenementWith(t, db, "tenant")
}

func buildTenementWith(t testing.TB, db *sql.DB, tenantColumn string) tenementdb.Tokens {
	t.Helper()
	toks, err := tenementdb.Build(context.Background(), db, tenementdb.Options{
		TenantColumn: tenantColumn,
		Tenants:      []string{"alice", "bob"},
		Logs:         tenementLogs,
		Config:       map[string]string{"domain": "example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

// rows returns every row of table as strings, in rowid order, to compare
// a table's contents before and after a migration.
func rows(t testing.TB, db *sql.DB, table string) [][]string {
	t.Helper()
	r, err := db.Query("SELECT * FROM " + table + " ORDER BY rowid")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols, _ := r.Columns()
	var out [][]string
	for r.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	return out
}

// TestStampTenementV022Database builds a database exactly as tenement
// v0.2.2 leaves it (store.rs:40-101 init_db, Argon2id tokens as auth.rs:24-31
// hashes them) and checks that Apply adopts it: stamped, ten's migrations
// layered on top, every row of every tenement table kept byte for byte,
// tenement's tenant tokens set aside intact, search finding old rows.
func TestStampTenementV022Database(t *testing.T) {
	for _, col := range TenantColumns {
		t.Run("tenant column "+col, func(t *testing.T) {
			ctx := context.Background()
			db, _ := tempDB(t)
			buildTenementWith(t, db, col)
			before := schemaDump(t, db)
			logs, config, tokens := rows(t, db, "logs"), rows(t, db, "config"), rows(t, db, "tenant_tokens")

			st, err := Inspect(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if (st != State{Tenement: true}) {
				t.Fatalf("Inspect before = %+v, want an unstamped tenement database", st)
			}

			set := All()
			res, err := Apply(ctx, db, set[:1], false)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Stamped || res.From != 0 || res.To != 1 || len(res.Applied) != 0 {
				t.Fatalf("Apply baseline = %+v, want stamped 0 -> 1", res)
			}
			// Stamping keeps every object tenement made with its exact SQL;
			// only the tenant token table moves aside, unchanged.
			after := schemaDump(t, db)
			for obj, sql := range before {
				got, ok := after[obj]
				if obj == "table tenant_tokens" {
					got, ok = after["table "+TenementTenantTokens]
				}
				// SQLite rewrites the table name in the moved table's
				// CREATE statement and its index.
				got = strings.ReplaceAll(got, `"`+TenementTenantTokens+`"`, "tenant_tokens")
				if !ok || got != sql {
					t.Errorf("stamping changed %s:\nbefore %s\nafter  %s", obj, sql, got)
				}
			}

			res, err = Apply(ctx, db, set, false)
			if err != nil {
				t.Fatal(err)
			}
			if res.Stamped || res.From != 1 || res.To != Latest() || !slices.Equal(files(res.Applied), files(set[1:])) {
				t.Fatalf("Apply = %+v, want 1 -> %d applying %v", res, Latest(), files(set[1:]))
			}
			if got := rows(t, db, "logs"); !slices.EqualFunc(got, logs, slices.Equal) {
				t.Errorf("logs = %v, want %v", got, logs)
			}
			if got := rows(t, db, "config"); !slices.EqualFunc(got, config, slices.Equal) {
				t.Errorf("config = %v, want %v", got, config)
			}
			if got := rows(t, db, TenementTenantTokens); !slices.EqualFunc(got, tokens, slices.Equal) {
				t.Errorf("%s = %v, want tenement's rows %v", TenementTenantTokens, got, tokens)
			}
			for _, tc := range tenColumns {
				for _, c := range tc.columns {
					if !hasColumn(t, db, tc.table, c) {
						t.Errorf("%s.%s missing after migration", tc.table, c)
					}
				}
			}

			// Search finds the old rows, and the triggers index new ones.
			if got := queryInt(t, db, "SELECT l.id FROM logs l JOIN logs_fts f ON l.id = f.rowid WHERE logs_fts MATCH ?", `"upstream"`); got != 2 {
				t.Errorf("FTS match for upstream = row %d, want 2", got)
			}
			exec(t, db, `INSERT INTO logs (timestamp, level, process, instance_id, message) VALUES ('2025-01-02T00:00:00+00:00', 'stdout', 'api', 'prod', 'fresh line after stamping')`)
			if got := queryInt(t, db, "SELECT count(*) FROM logs_fts WHERE logs_fts MATCH ?", `"stamping"`); got != 1 {
				t.Errorf("FTS match for a row inserted after stamping = %d, want 1", got)
			}
			exec(t, db, `INSERT INTO logs_fts(logs_fts) VALUES('integrity-check')`)

			st, err = Inspect(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if st.Version != Latest() || st.ApplicationID != ApplicationID || st.Floor != Floor(set, Latest()) || st.Tenement || st.Fresh {
				t.Errorf("Inspect after = %+v", st)
			}
			if err := Verify(ctx, db, set); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestStampTenementWithoutTenantTokens covers tenement releases before
// per-tenant tokens and databases a tenement killed halfway through its
// first start (init_db issues its statements one by one, store.rs:38-104):
// what is missing is created in the stamping transaction, and a missing
// search index is rebuilt from logs.
func TestStampTenementWithoutTenantTokens(t *testing.T) {
	logsTable := strings.SplitN(tenementdb.Schema[0], ";", 2)[0]
	tests := []struct {
		name   string
		schema []string // statements run before the rows are inserted
		after  []string // statements run after
		check  string   // FTS phrase that must match an old row afterwards
	}{
		{"full init_db", tenementdb.Schema, nil, "upstream"},
		{"no search index", []string{tenementdb.Schema[0], tenementdb.Schema[4]}, nil, "upstream"},
		{"no insert trigger", []string{tenementdb.Schema[0], tenementdb.Schema[1], tenementdb.Schema[3]}, nil, "dashboard"},
		{"logs table alone", []string{logsTable}, nil, "listening"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, _ := tempDB(t)
			exec(t, db, tc.schema...)
			for _, l := range tenementLogs {
				exec(t, db, `INSERT INTO logs (timestamp, level, process, instance_id, message) VALUES ('`+l.Time.Format(time.RFC3339)+`', '`+l.Level+`', '`+l.Process+`', '`+l.Instance+`', '`+l.Message+`')`)
			}
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
			if hasObject(t, db, "table", TenementTenantTokens) {
				t.Errorf("%s created for a database without tenant tokens", TenementTenantTokens)
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

// TestStampRefusesLookalike checks that databases tenement did not make
// are refused, and left unchanged, rather than adopted.
func TestStampRefusesLookalike(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stmts []string
	}{
		{"logs table of another shape", []string{`CREATE TABLE logs (id INTEGER PRIMARY KEY, line TEXT)`, `INSERT INTO logs (line) VALUES ('x')`}},
		{"tenant_tokens with a prefix but no tenant", append(slices.Clone(tenementdb.Schema),
			`CREATE TABLE tenant_tokens (id INTEGER PRIMARY KEY, owner TEXT, token_prefix TEXT, token_hash TEXT)`,
			`INSERT INTO tenant_tokens (owner, token_prefix, token_hash) VALUES ('a', 'abcdefgh', 'x')`)},
		{"tenant_tokens of neither shape", append(slices.Clone(tenementdb.Schema),
			`CREATE TABLE tenant_tokens (id INTEGER PRIMARY KEY, secret TEXT)`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, path := tempDB(t)
			exec(t, db, tc.stmts...)
			before := schemaDump(t, db)
			if _, err := Apply(ctx, db, All(), true); !errors.Is(err, ErrForeign) {
				t.Fatalf("dry run = %v, want ErrForeign, as the migration", err)
			}
			_, err := Apply(ctx, db, All(), false)
			if !errors.Is(err, ErrForeign) {
				t.Fatalf("Apply = %v, want ErrForeign", err)
			}
			db = openDB(t, path, "")
			if v := userVersion(t, db); v != 0 || !maps.Equal(before, schemaDump(t, db)) {
				t.Errorf("refused database was modified (user_version %d)", v)
			}
		})
	}
}

// TestBaselineKeepsTenementSchema checks that 0001 creates every object
// tenement's init_db creates (store.rs:40-101), under the same names, and
// adds only ten's own tables.
func TestBaselineKeepsTenementSchema(t *testing.T) {
	ctx := context.Background()
	want, _ := tempDB(t)
	exec(t, want, tenementdb.Schema...)

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
	tens := []string{"table instance_state", "index idx_instance_state_status", "table tenant_tokens",
		"index idx_tenant_tokens_tenant", "table deploy_log", "index idx_deploy_log_instance", "table sqlite_sequence"}
	for obj := range g {
		if _, ok := w[obj]; !ok && !slices.Contains(tens, obj) && !strings.HasPrefix(obj, "index sqlite_autoindex_") {
			t.Errorf("0001 creates %s, which is neither tenement's nor one of ten's tables", obj)
		}
	}
	for _, tc := range append(slices.Clone(tenementColumns), tenColumns...) {
		for _, c := range tc.columns {
			if !hasColumn(t, got, tc.table, c) {
				t.Errorf("0001: %s.%s missing", tc.table, c)
			}
		}
	}
}

// TestMigrateCurrentTenReleaseDatabase checks that databases written by
// the current ten release (0001 alone, or 0001 + 0002 as on the release
// branch) still migrate forward with every row of ten's own tables.
func TestMigrateCurrentTenReleaseDatabase(t *testing.T) {
	release := releaseSet(t)
	for n := 1; n <= len(release); n++ {
		t.Run(release[n-1].File(), func(t *testing.T) {
			ctx := context.Background()
			db, _ := tempDB(t)
			if _, err := Apply(ctx, db, release[:n], false); err != nil {
				t.Fatal(err)
			}
			exec(t, db,
				`INSERT INTO logs (timestamp, level, process, instance_id, message) VALUES ('2025-01-01T00:00:00Z', 'stdout', 'api', 'prod', 'written by ten')`,
				`INSERT INTO instance_state (process, instance_id, port, pid, updated_at) VALUES ('api', 'prod', 30001, 4242, '2025-01-01T00:00:00Z')`,
				`INSERT INTO tenant_tokens (token_hash, tenant, scope, created_at) VALUES ('h1', NULL, 'admin', 'x'), ('h2', 'alice', 'tenant', 'x')`,
				`INSERT INTO deploy_log (process, instance_id, action, timestamp) VALUES ('api', 'prod', 'spawn', 'x')`,
				`INSERT INTO config (key, value) VALUES ('k', 'v')`)
			before := map[string][][]string{}
			for _, table := range []string{"logs", "instance_state", "tenant_tokens", "deploy_log", "config"} {
				before[table] = rows(t, db, table)
			}
			res, err := Apply(ctx, db, All(), false)
			if err != nil {
				t.Fatal(err)
			}
			if res.Stamped || res.From != n || res.To != Latest() || len(res.Applied) != Latest()-n {
				t.Fatalf("Apply = %+v, want %d -> %d", res, n, Latest())
			}
			for table, want := range before {
				got := rows(t, db, table)
				if len(got) != len(want) {
					t.Errorf("%s has %d rows, want %d", table, len(got), len(want))
					continue
				}
				for i := range want {
					if !slices.Equal(got[i][:len(want[i])], want[i]) {
						t.Errorf("%s row %d = %v, want %v", table, i, got[i], want[i])
					}
				}
			}
			if got := queryInt(t, db, "SELECT count(*) FROM logs_fts WHERE logs_fts MATCH ?", `"written"`); got != 1 {
				t.Errorf("FTS match = %d, want 1", got)
			}
		})
	}
}
