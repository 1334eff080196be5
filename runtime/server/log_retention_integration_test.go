package server_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/store"
)

// A server deletes indexed lines older than log_retention_days (and their
// full-text entries) without being asked, keeps the recent ones, and
// `ten logs` says since when lines are kept.
func TestServeDeletesExpiredLogs(t *testing.T) {
	e := newEnv(t, "[settings]\nlog_retention_days = 7\n")
	e.adminToken(t)

	// Lines a server indexed long ago and recently, in the state database
	// the server will open.
	db, err := store.Open(context.Background(), filepath.Join(e.dataDir, "tenement.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	insert := func(at time.Time, msg string) {
		t.Helper()
		if _, err := db.Exec(`INSERT INTO logs (timestamp, level, process, instance_id, message) VALUES (?, 'stdout', 'api', 'alice', ?)`,
			at.Format("2006-01-02T15:04:05.000000Z07:00"), msg); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1200 {
		insert(now.Add(-30*24*time.Hour), fmt.Sprintf("ancient needle %d", i))
	}
	recent := now.Add(-6 * 24 * time.Hour).Truncate(time.Second)
	insert(recent, "fresh needle 1")
	insert(now.Add(-time.Hour), "fresh needle 2")

	s := e.startServer(t)
	waitFor(t, "the expired lines to be deleted", 30*time.Second, func() bool {
		var n int
		return db.QueryRow(`SELECT count(*) FROM logs WHERE message LIKE 'ancient%'`).Scan(&n) == nil && n == 0
	})

	r := e.cli(t, s, "logs", "--search", "needle")
	if r.code != 0 {
		t.Fatalf("ten logs: %d %s", r.code, r.stderr)
	}
	if want := "[OUT] api:alice fresh needle 1\n[OUT] api:alice fresh needle 2\n"; r.stdout != want {
		t.Errorf("ten logs --search needle printed %q, want %q", r.stdout, want)
	}
	if want := "logs kept since " + recent.Format(time.RFC3339) + " (retention 7 days)"; !strings.Contains(r.stderr, want) {
		t.Errorf("ten logs stderr %q lacks %q", r.stderr, want)
	}
	var fts int
	if err := db.QueryRow(`SELECT count(*) FROM logs_fts WHERE logs_fts MATCH 'ancient'`).Scan(&fts); err != nil || fts != 0 {
		t.Errorf("full-text index still finds %d expired lines (%v)", fts, err)
	}
}
