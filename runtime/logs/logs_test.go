package logs_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/logs"
)

func appendFile(t testing.TB, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// aliceLogs is a fresh database and the log files of web:alice, in a
// directory made as the supervisor makes it.
func aliceLogs(t testing.TB) (*sql.DB, logs.Files) {
	t.Helper()
	dir := t.TempDir()
	files := logs.FilesFor(dir, "web", "alice")
	if err := os.MkdirAll(filepath.Dir(files.Stdout), 0o700); err != nil {
		t.Fatal(err)
	}
	return openDB(t, dir), files
}

// indexAlice starts an indexer of web:alice's files and indexes what they
// hold now.
func indexAlice(t testing.TB, ctx context.Context, db *sql.DB, files logs.Files, opts logs.IndexerOptions) *logs.Indexer {
	t.Helper()
	x := logs.NewIndexer(db, opts)
	x.WatchFiles("web", "alice", files)
	if err := x.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	return x
}

func messages(es []logs.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Message
	}
	return out
}

func TestIndexerCompleteLinesOnceAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	db, files := aliceLogs(t)
	appendFile(t, files.Stdout, "one\r\ntwo\nthr")
	appendFile(t, files.Stderr, "oops\n")

	indexAlice(t, ctx, db, files, logs.IndexerOptions{})
	es, err := logs.Query(ctx, db, logs.Filter{Service: "web", ID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	// Newest first (files are indexed in path order, so stderr first); the
	// partial "thr" waits for its newline.
	if got, want := strings.Join(messages(es), "|"), "two|one|oops"; got != want {
		t.Fatalf("messages = %q, want %q", got, want)
	}
	for _, e := range es {
		want := logs.Stdout
		if e.Message == "oops" {
			want = logs.Stderr
		}
		if e.Level != want || e.Service != "web" || e.InstanceID != "alice" || e.Timestamp.IsZero() {
			t.Errorf("entry %+v", e)
		}
	}

	appendFile(t, files.Stdout, "ee\n") // completes "thr"
	// A new indexer (a restarted server) continues from the recorded offset.
	y := indexAlice(t, ctx, db, files, logs.IndexerOptions{})
	es, _ = logs.Query(ctx, db, logs.Filter{Level: logs.Stdout})
	if got, want := strings.Join(messages(es), "|"), "three|two|one"; got != want {
		t.Fatalf("after restart: %q, want %q", got, want)
	}
	// Nothing new: nothing inserted.
	if err := y.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if es, _ = logs.Query(ctx, db, logs.Filter{}); len(es) != 4 {
		t.Fatalf("%d entries, want 4: %q", len(es), messages(es))
	}
}

func TestIndexerTruncationAndReplacement(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "first line that is long\n")
	x := logs.NewIndexer(db, logs.IndexerOptions{})
	x.Watch(logs.Source{Path: p, Level: logs.Stdout, Service: "s", ID: "i"})
	if err := x.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Truncated (copytruncate rotation): start over.
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, "after\n")
	if err := x.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Replaced by a new file (rename rotation): start over too.
	os.Remove(p)
	appendFile(t, p, "new file\n")
	if err := x.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	es, _ := logs.Query(ctx, db, logs.Filter{})
	if got, want := strings.Join(messages(es), "|"), "new file|after|first line that is long"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}

func TestIndexerLongLinesAndFinalPartial(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, strings.Repeat("x", 25)+"\n"+"tail")
	x := logs.NewIndexer(db, logs.IndexerOptions{MaxLine: 10})
	x.Watch(logs.Source{Path: p, Level: logs.Stderr, Service: "s", ID: "i"})
	if err := x.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	es, _ := logs.Query(ctx, db, logs.Filter{})
	if got, want := strings.Join(messages(es), "|"), "xxxxx|xxxxxxxxxx|xxxxxxxxxx"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	// The writer is gone: Unwatch indexes the partial last line.
	if err := x.Unwatch(ctx, p); err != nil {
		t.Fatal(err)
	}
	if x.Watching(p) {
		t.Fatal("still watching")
	}
	es, _ = logs.Query(ctx, db, logs.Filter{Limit: 1})
	if len(es) != 1 || es[0].Message != "tail" {
		t.Fatalf("got %q", messages(es))
	}
}

// Two servers over one data directory index the same files without
// duplicating a line.
func TestIndexersShareFilesWithoutDuplicates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db1 := openDB(t, dir)
	db2 := openDB(t, dir)
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "")
	src := logs.Source{Path: p, Level: logs.Stdout, Service: "s", ID: "i"}
	x1 := logs.NewIndexer(db1, logs.IndexerOptions{MaxRead: 64})
	x2 := logs.NewIndexer(db2, logs.IndexerOptions{MaxRead: 64})
	x1.Watch(src)
	x2.Watch(src)

	const n = 300
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, x := range []*logs.Indexer{x1, x2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if err := x.Sync(ctx); err != nil {
					t.Error(err)
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	for i := range n {
		appendFile(t, p, fmt.Sprintf("line %03d\n", i))
	}
	close(stop)
	wg.Wait()
	if err := x1.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	es, err := logs.Query(ctx, db1, logs.Filter{Limit: logs.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != n {
		t.Fatalf("%d entries, want %d", len(es), n)
	}
	seen := map[string]bool{}
	for _, e := range es {
		if seen[e.Message] {
			t.Fatalf("duplicate %q", e.Message)
		}
		seen[e.Message] = true
	}
}

func TestQueryFilters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	x := logs.NewIndexer(db, logs.IndexerOptions{})
	write := func(svc, id, level, text string) {
		p := filepath.Join(dir, svc+"-"+id+"-"+level)
		appendFile(t, p, text)
		x.Watch(logs.Source{Path: p, Level: level, Service: svc, ID: id})
	}
	write("api", "prod", logs.Stdout, "GET /users 200\nGET /orders 500\n")
	write("api", "prod", logs.Stderr, "error: database is locked\n")
	write("api", "staging", logs.Stdout, "api-server started\n")
	write("web", "prod", logs.Stdout, "GET /users 200\n")
	if err := x.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		f    logs.Filter
		want int
	}{
		{"all", logs.Filter{}, 5},
		{"service", logs.Filter{Service: "api"}, 4},
		{"id", logs.Filter{ID: "prod"}, 4},
		{"service+id", logs.Filter{Service: "api", ID: "prod"}, 3},
		{"level", logs.Filter{Level: logs.Stderr}, 1},
		{"search", logs.Filter{Search: "users"}, 2},
		{"search+service", logs.Filter{Search: "users", Service: "web"}, 1},
		{"search phrase", logs.Filter{Search: "database is locked"}, 1},
		{"search hyphen", logs.Filter{Search: "api-server"}, 1},
		{"search operators stripped", logs.Filter{Search: `"database" OR: (locked*)`}, 0},
		{"search only operators", logs.Filter{Search: `"*()"`}, 0},
		{"search metachar phrase", logs.Filter{Search: `error: database`}, 1},
		{"limit", logs.Filter{Limit: 2}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			es, err := logs.Query(ctx, db, c.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != c.want {
				t.Fatalf("%d entries %q, want %d", len(es), messages(es), c.want)
			}
			for i := 1; i < len(es); i++ {
				if es[i].ID >= es[i-1].ID {
					t.Fatalf("not newest first: %v", es)
				}
			}
		})
	}

	es, _ := logs.Query(ctx, db, logs.Filter{})
	since, _ := logs.Query(ctx, db, logs.Filter{SinceID: es[2].ID})
	if len(since) != 2 || since[1].ID != es[1].ID {
		t.Fatalf("SinceID: %v", since)
	}
	if _, err := logs.Query(ctx, db, logs.Filter{Level: "debug"}); !errors.Is(err, logs.ErrInvalidFilter) {
		t.Fatalf("bad level: %v", err)
	}
}

func TestFollow(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	x := logs.NewIndexer(db, logs.IndexerOptions{})
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "before\n")
	x.Watch(logs.Source{Path: p, Level: logs.Stdout, Service: "s", ID: "i"})
	other := filepath.Join(dir, "b.log")
	x.Watch(logs.Source{Path: other, Level: logs.Stdout, Service: "s", ID: "other"})
	if err := x.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before, err := logs.Query(ctx, db, logs.Filter{Limit: 1})
	if err != nil || len(before) != 1 {
		t.Fatal(before, err)
	}

	// From a known id: everything after it, oldest first, filtered.
	got := make(chan logs.Entry, 10)
	errc := make(chan error, 1)
	go func() {
		errc <- logs.FollowEvery(ctx, db, logs.Filter{ID: "i", SinceID: before[0].ID}, 10*time.Millisecond, func(e logs.Entry) error {
			got <- e
			if e.Message == "stop" {
				return errors.New("done")
			}
			return nil
		})
	}()
	appendFile(t, other, "not mine\n")
	appendFile(t, p, "after 1\nafter 2\nstop\n")
	if err := x.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil || err.Error() != "done" {
		t.Fatalf("Follow returned %v", err)
	}
	close(got)
	var ms []string
	for e := range got {
		ms = append(ms, e.Message)
	}
	if strings.Join(ms, "|") != "after 1|after 2|stop" {
		t.Fatalf("followed %q", ms)
	}

	// Without SinceID: only entries newer than when it started.
	first := make(chan logs.Entry, 1)
	go func() {
		errc <- logs.FollowEvery(ctx, db, logs.Filter{}, 10*time.Millisecond, func(e logs.Entry) error {
			first <- e
			return errors.New("done")
		})
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var e logs.Entry
wait:
	for {
		select {
		case e = <-first:
			break wait
		case <-tick.C:
			appendFile(t, p, "new\n")
			if err := x.Sync(ctx); err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatal("nothing followed")
		}
	}
	<-errc
	if e.Message != "new" {
		t.Fatalf("first followed entry %q, want a new one", e.Message)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := logs.Follow(ctx2, db, logs.Filter{}, func(logs.Entry) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Follow: %v", err)
	}
}
