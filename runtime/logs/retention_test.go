package logs_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/logs"
)

// indexAt writes lines to service:id's stdout file and indexes them as if
// the time were at.
func indexAt(t testing.TB, db *sql.DB, dir, id string, at time.Time, lines ...string) {
	t.Helper()
	files := logs.FilesFor(dir, "web", id)
	if err := os.MkdirAll(filepath.Dir(files.Stdout), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		appendFile(t, files.Stdout, l+"\n")
	}
	x := logs.NewIndexer(db, logs.IndexerOptions{Now: func() time.Time { return at }})
	x.WatchFiles("web", id, files)
	if err := x.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d needle", prefix, i)
	}
	return out
}

func countRows(t testing.TB, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// ftsConsistent runs FTS5's own check that the index matches the logs
// table: a deleted line whose index entry stayed behind fails it.
func ftsConsistent(t testing.TB, db *sql.DB) {
	t.Helper()
	if _, err := db.Exec(`INSERT INTO logs_fts(logs_fts) VALUES('integrity-check')`); err != nil {
		t.Fatalf("full-text index out of step with the logs table: %v", err)
	}
}

func TestRetentionDeletesOldLinesAndTheirSearchEntries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	indexAt(t, db, dir, "alice", now.Add(-30*24*time.Hour), numbered("old", 37)...)
	indexAt(t, db, dir, "bob", now.Add(-15*24*time.Hour), numbered("older", 5)...)
	indexAt(t, db, dir, "alice", now.Add(-13*24*time.Hour), numbered("kept", 11)...)
	indexAt(t, db, dir, "bob", now.Add(-time.Minute), numbered("new", 4)...)

	r := logs.NewRetention(db, logs.RetentionOptions{
		Policy: logs.Policy{MaxAge: 14 * 24 * time.Hour},
		Batch:  8, // several batches, one of them partial
		Now:    func() time.Time { return now },
	})
	n, err := r.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 42 {
		t.Errorf("Prune deleted %d lines, want 42", n)
	}
	es, err := logs.Query(ctx, db, logs.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	want := append(numbered("kept", 11), numbered("new", 4)...)
	slices.Reverse(want)
	if got := messages(es); !slices.Equal(got, want) {
		t.Errorf("kept %q,\nwant %q", got, want)
	}
	for _, search := range []string{"old-000", "older-004", "old"} {
		if es, err := logs.Query(ctx, db, logs.Filter{Search: search}); err != nil || len(es) != 0 {
			t.Errorf("search %q after retention = %q, %v; want nothing", search, messages(es), err)
		}
	}
	if es, err := logs.Query(ctx, db, logs.Filter{Search: "needle", Limit: 1000}); err != nil || len(es) != 15 {
		t.Errorf("search needle = %d lines, %v; want the 15 kept", len(es), err)
	}
	if got := countRows(t, db, `SELECT count(*) FROM logs_fts WHERE logs_fts MATCH 'needle'`); got != 15 {
		t.Errorf("the full-text index still has %d entries for needle, want 15", got)
	}
	ftsConsistent(t, db)

	spans := []struct {
		f              logs.Filter
		oldest, newest time.Time
	}{
		{logs.Filter{}, now.Add(-13 * 24 * time.Hour), now.Add(-time.Minute)},
		{logs.Filter{Service: "web", ID: "alice"}, now.Add(-13 * 24 * time.Hour), now.Add(-13 * 24 * time.Hour)},
		{logs.Filter{ID: "bob", Level: logs.Stdout}, now.Add(-time.Minute), now.Add(-time.Minute)},
		{logs.Filter{ID: "carol"}, time.Time{}, time.Time{}},
	}
	for _, tc := range spans {
		span, err := logs.SpanOf(ctx, db, logs.Policy{MaxAge: 14 * 24 * time.Hour}, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if !span.Oldest.Equal(tc.oldest) || !span.Newest.Equal(tc.newest) || span.RetentionDays != 14 {
			t.Errorf("span of %+v = %+v, want oldest %s, newest %s, 14 days", tc.f, span, tc.oldest, tc.newest)
		}
	}

	// A second pass has nothing left to do.
	if n, err := r.Prune(ctx); err != nil || n != 0 {
		t.Errorf("second Prune = %d, %v; want 0", n, err)
	}
}

func TestRetentionMaxRowsTrimsOldestFirst(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	now := time.Now()
	indexAt(t, db, dir, "alice", now, numbered("a", 60)...)
	indexAt(t, db, dir, "bob", now, numbered("b", 40)...)

	tests := []struct {
		maxRows int64
		want    []string
	}{
		{200, append(numbered("a", 60), numbered("b", 40)...)}, // under the cap: nothing goes
		{30, numbered("b", 40)[10:]},
		{30, numbered("b", 40)[10:]}, // at the cap: stable
		{1, numbered("b", 40)[39:]},
	}
	for _, tc := range tests {
		r := logs.NewRetention(db, logs.RetentionOptions{Policy: logs.Policy{MaxRows: tc.maxRows}, Batch: 7})
		if _, err := r.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		es, err := logs.Query(ctx, db, logs.Filter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		got := messages(es)
		slices.Reverse(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("max_rows %d: kept %q,\nwant %q", tc.maxRows, got, tc.want)
		}
		if n := countRows(t, db, `SELECT count(*) FROM logs_fts WHERE logs_fts MATCH 'needle'`); n != len(tc.want) {
			t.Errorf("max_rows %d: %d full-text entries, want %d", tc.maxRows, n, len(tc.want))
		}
	}
	ftsConsistent(t, db)
}

func TestRetentionZeroPolicyKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	indexAt(t, db, dir, "alice", time.Unix(0, 0), "ancient")
	r := logs.NewRetention(db, logs.RetentionOptions{})
	if n, err := r.Prune(context.Background()); err != nil || n != 0 {
		t.Fatalf("Prune = %d, %v; want 0", n, err)
	}
	// Run returns at once: there is nothing to do, ever.
	r.Run(context.Background())
}

// fill inserts n lines stamped at through the logs table's triggers, as
// the indexer does, in one transaction.
func fill(t testing.TB, db *sql.DB, n int, at time.Time) {
	t.Helper()
	_, err := db.Exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO logs (timestamp, level, process, instance_id, message)
		SELECT ?, 'stdout', 'web', 'alice', 'GET /notes/' || i || ' 200 in 3ms user=alice agent=curl' FROM seq`,
		n, at.UTC().Format("2006-01-02T15:04:05.000000Z07:00"))
	if err != nil {
		t.Fatal(err)
	}
}

// writerLatencies runs small write transactions, like the indexer's and
// the supervisor's, until stop is closed, and returns how long each took.
// A write that fails (still locked after the busy timeout) ends it.
func writerLatencies(db *sql.DB, stop <-chan struct{}) ([]time.Duration, error) {
	var out []time.Duration
	for i := 0; ; i++ {
		select {
		case <-stop:
			return out, nil
		default:
		}
		start := time.Now()
		_, err := db.Exec(`INSERT INTO config (key, value) VALUES ('bench.heartbeat', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, fmt.Sprint(i))
		if err != nil {
			return out, fmt.Errorf("write %d, after %s: %w", i, time.Since(start), err)
		}
		out = append(out, time.Since(start))
		time.Sleep(2 * time.Millisecond) // a writer that comes and goes, not a hog
	}
}

// A large prune runs as many short transactions: other writers (the log
// indexer, the supervisor's lease heartbeat) keep committing while it runs
// instead of waiting for one long DELETE.
func TestRetentionLargePruneLeavesRoomForWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a large table")
	}
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	now := time.Now()
	fill(t, db, 8000, now.Add(-30*24*time.Hour))
	fill(t, db, 100, now)

	r := logs.NewRetention(db, logs.RetentionOptions{Policy: logs.Policy{MaxAge: 24 * time.Hour}})
	stop := make(chan struct{})
	var lat []time.Duration
	var werr error
	var wg sync.WaitGroup
	wg.Go(func() { lat, werr = writerLatencies(db, stop) })
	start := time.Now()
	n, err := r.Prune(ctx)
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if werr != nil {
		t.Fatalf("a concurrent writer failed during a %s prune: %v", took, werr)
	}
	if n != 8000 {
		t.Fatalf("deleted %d, want 8000", n)
	}
	slices.Sort(lat)
	if len(lat) < 10 {
		t.Fatalf("only %d writes committed during a %s prune: the prune starves other writers", len(lat), took)
	}
	t.Logf("prune of %d lines took %s; %d concurrent writes, p50 %s, max %s",
		n, took, len(lat), lat[len(lat)/2], lat[len(lat)-1])
	ftsConsistent(t, db)
}

// BenchmarkPruneWriterLatency measures the longest wait of a concurrent
// writer while 60000 expired lines are deleted, in batches (the default)
// and, for comparison, in one statement:
//
//	go test ./runtime/logs/ -run '^$' -bench PruneWriterLatency -benchtime 1x
func BenchmarkPruneWriterLatency(b *testing.B) {
	for _, batch := range []int{logs.DefaultRetentionBatch, 1 << 30} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				dir := b.TempDir()
				db := openDB(b, dir)
				fill(b, db, 60000, time.Now().Add(-30*24*time.Hour))
				r := logs.NewRetention(db, logs.RetentionOptions{Policy: logs.Policy{MaxAge: 24 * time.Hour}, Batch: batch})
				stop := make(chan struct{})
				var lat []time.Duration
				var werr error
				var wg sync.WaitGroup
				wg.Go(func() { lat, werr = writerLatencies(db, stop) })
				b.StartTimer()
				if _, err := r.Prune(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				close(stop)
				wg.Wait()
				db.Close()
				if werr != nil {
					b.Logf("batch %d: %v", batch, werr)
				}
				slices.Sort(lat)
				if len(lat) > 0 {
					b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-write-wait-ms")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-write-wait-ms")
				}
			}
		})
	}
}
