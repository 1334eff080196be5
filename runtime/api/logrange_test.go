package api

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/logs"
)

func TestLogRangeReportsOldestKeptLineAndPolicy(t *testing.T) {
	f := newFixture(t)
	code, body, _ := f.call(t, f.admin, "GET", "/api/logs/range", "")
	var empty logs.Span
	if code != 200 || json.Unmarshal([]byte(body), &empty) != nil || !empty.Oldest.IsZero() {
		t.Fatalf("empty table: %d %s", code, body)
	}

	old := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{old.Add(time.Hour), old, old.Add(48 * time.Hour)} {
		if _, err := f.db.Exec(`INSERT INTO logs (timestamp, level, process, instance_id, message) VALUES (?, 'stdout', 'api', 'alice', 'x')`,
			at.Format("2006-01-02T15:04:05.000000Z07:00")); err != nil {
			t.Fatal(err)
		}
	}
	a := New(Options{Backend: f.sup, DB: f.db, LogPolicy: logs.Policy{MaxAge: 14 * 24 * time.Hour, MaxRows: 1000}})
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	f.srv = srv
	code, body, _ = f.call(t, f.admin, "GET", "/api/logs/range", "")
	var span logs.Span
	if code != 200 || json.Unmarshal([]byte(body), &span) != nil {
		t.Fatalf("range: %d %s", code, body)
	}
	if !span.Oldest.Equal(old) || !span.Newest.Equal(old.Add(48*time.Hour)) || span.RetentionDays != 14 || span.MaxRows != 1000 {
		t.Errorf("range = %s; want oldest %s, newest %s, 14 days, 1000 rows", body, old, old.Add(48*time.Hour))
	}
	if code, _, _ := f.call(t, "", "GET", "/api/logs/range", ""); code != 401 {
		t.Errorf("range without a token: %d, want 401", code)
	}

	// Filters apply, and a tenant token sees its own instance's range only.
	bobAt := old.Add(72 * time.Hour)
	if _, err := f.db.Exec(`INSERT INTO logs (timestamp, level, process, instance_id, message) VALUES (?, 'stderr', 'api', 'bob', 'y')`,
		bobAt.Format("2006-01-02T15:04:05.000000Z07:00")); err != nil {
		t.Fatal(err)
	}
	bob, err := NewTokens(f.db, nil).Issue(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token, query   string
		oldest, newest time.Time
	}{
		{f.admin, "?process=api&id=alice", old, old.Add(48 * time.Hour)},
		{f.admin, "?level=stderr", bobAt, bobAt},
		{f.admin, "", old, bobAt},
		{bob, "", bobAt, bobAt},
	} {
		code, body, _ := f.call(t, tc.token, "GET", "/api/logs/range"+tc.query, "")
		var span logs.Span
		if code != 200 || json.Unmarshal([]byte(body), &span) != nil || !span.Oldest.Equal(tc.oldest) || !span.Newest.Equal(tc.newest) {
			t.Errorf("range%s: %d %s; want oldest %s, newest %s", tc.query, code, body, tc.oldest, tc.newest)
		}
	}
	if code, _, _ := f.call(t, bob, "GET", "/api/logs/range?id=alice", ""); code != 403 {
		t.Errorf("tenant bob asking for alice's range: %d, want 403", code)
	}
	if code, _, _ := f.call(t, f.admin, "GET", "/api/logs/range?level=debug", ""); code != 400 {
		t.Errorf("range with a bad level: %d, want 400", code)
	}
}
