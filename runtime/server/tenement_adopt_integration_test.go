package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/tenement/ten/compat"
	"github.com/tenement/ten/internal/tenementdb"
	"github.com/tenement/ten/migrations"
	"github.com/tenement/ten/runtime/logs"
)

// writeTenementDB leaves in dataDir the tenement.db tenement v0.2.2 would:
// init_db's schema (tenement/src/store.rs:40-101), log rows as its
// flush_batch writes them, an Argon2id admin token in config
// (auth.rs:24-31, :50) and tenant tokens for alice and bob found by
// token_prefix. The file is left 0644, as tenement created it.
// tenementLogsAt is when tenement wrote the test's log lines: an hour ago,
// inside the default log_retention_days, so the server's first retention
// pass keeps them.
var tenementLogsAt = time.Now().UTC().Add(-time.Hour).Truncate(time.Second)

func writeTenementDB(t *testing.T, dataDir string) tenementdb.Tokens {
	t.Helper()
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dataDir, "tenement.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	toks, err := tenementdb.Build(context.Background(), db, tenementdb.Options{
		TenantColumn: "tenant",
		Tenants:      []string{"alice", "bob"},
		Logs: []tenementdb.LogRow{
			{Time: tenementLogsAt, Level: "stdout", Process: "api", Instance: "prod", Message: "listening on port 8080"},
			{Time: tenementLogsAt.Add(1 * time.Second), Level: "stderr", Process: "api", Instance: "prod", Message: "upstream timeout talking to billing"},
			{Time: tenementLogsAt.Add(2 * time.Second), Level: "stdout", Process: "web", Instance: "alice", Message: "alice rendered her invoices page"},
			{Time: tenementLogsAt.Add(3 * time.Second), Level: "stdout", Process: "web", Instance: "bob", Message: "bob rendered his invoices page"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	return toks
}

// TestServeAdoptsTenementV022Database is the drop-in path: replace the
// tenement binary with ten and keep the data directory. `ten migrate`
// adopts the database (stamped, ten's migrations on top), then a running
// `ten serve` accepts tenement's admin token and its tenant tokens over the
// API, with each tenant token scoped as tenement scoped it, and finds
// tenement's old log lines by full-text search, through the API and
// `ten logs`. serve also warns that tenement left the database 0644.
func TestServeAdoptsTenementV022Database(t *testing.T) {
	e := newEnv(t, mainConfig)
	toks := writeTenementDB(t, e.dataDir)
	dbPath := filepath.Join(e.dataDir, "tenement.db")

	var rep compat.MigrateReport
	out := e.mustCLI(t, nil, "migrate", "--db", dbPath, "--json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("migrate --json: %q: %v", out, err)
	}
	if !rep.Stamped || rep.From != 0 || rep.To != migrations.Latest() || rep.Error != "" {
		t.Fatalf("migrate = %+v, want stamped 0 -> %d", rep, migrations.Latest())
	}

	s := e.startServer(t)
	if !strings.Contains(s.out.String(), "state database file is accessible to other users") {
		t.Errorf("serve did not warn about the 0644 database:\n%s", s.out.String())
	}

	// tenement's admin token: everything.
	if code := s.getJSON(t, "/api/instances", toks.Admin, nil); code != 200 {
		t.Fatalf("GET /api/instances with tenement's admin token: %d", code)
	}
	search := func(token, query string) (int, []logs.Entry) {
		t.Helper()
		var es []logs.Entry
		code := s.getJSON(t, "/api/logs?"+query, token, &es)
		return code, es
	}
	code, es := search(toks.Admin, "search="+url.QueryEscape("upstream timeout"))
	if code != 200 || len(es) != 1 || es[0].Service != "api" || es[0].InstanceID != "prod" || !es[0].Timestamp.Equal(tenementLogsAt.Add(1*time.Second)) {
		t.Errorf("admin search for tenement's log line: %d %+v", code, es)
	}

	// tenement's tenant token: alice's instance and logs only.
	code, es = search(toks.Tenant["alice"], "search=invoices")
	if code != 200 || len(es) != 1 || es[0].InstanceID != "alice" {
		t.Errorf("alice's search: %d %+v, want only her own old line", code, es)
	}
	if code, _ := search(toks.Tenant["alice"], "id=bob"); code != http.StatusForbidden {
		t.Errorf("alice's token reading bob's logs: %d, want 403", code)
	}
	if code, _ := search(toks.Tenant["bob"], "search=invoices"); code != 200 {
		t.Errorf("bob's tenement token: %d", code)
	}
	// A token with alice's prefix but another secret is refused.
	if code := s.getJSON(t, "/api/instances", toks.Tenant["alice"][:8]+strings.Repeat("x", 35), nil); code != http.StatusUnauthorized {
		t.Errorf("forged token with alice's prefix: %d, want 401", code)
	}

	// `ten logs` with tenement's admin token finds the old line too.
	r := e.cli(t, s, "logs", "--token", toks.Admin, "--search", "billing")
	if r.code != 0 || !strings.Contains(r.stdout, "upstream timeout talking to billing") {
		t.Errorf("ten logs --search billing: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// TestServeAdoptsTenementV022DatabaseWithoutMigrate: `ten serve` alone, on
// the unmigrated file, adopts it the same way (it migrates on open).
func TestServeAdoptsTenementV022DatabaseWithoutMigrate(t *testing.T) {
	e := newEnv(t, mainConfig)
	toks := writeTenementDB(t, e.dataDir)
	s := e.startServer(t)
	for name, tok := range map[string]string{"admin": toks.Admin, "alice": toks.Tenant["alice"]} {
		if code := s.getJSON(t, "/api/instances", tok, nil); code != 200 {
			t.Errorf("GET /api/instances with tenement's %s token: %d", name, code)
		}
	}
}
