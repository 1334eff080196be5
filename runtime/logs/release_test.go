package logs_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tenement/ten/runtime/logs"
)

// diskBytes is the space f's blocks take on disk.
func diskBytes(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// A tenant keeps appending to its log file (one O_APPEND descriptor, as the
// supervisor hands it) while the indexer indexes it and releases the
// indexed bytes: every line is indexed exactly once, in order, the file
// keeps its size, and its disk use stays bounded.
func TestIndexerReleasesIndexedBytesWhileTheTenantWrites(t *testing.T) {
	ctx := context.Background()
	db, files := aliceLogs(t)
	w, err := os.OpenFile(files.Stdout, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	const lines = 20000 // about 2 MB
	pad := fmt.Sprintf("%080d", 0)
	line := func(i int) string { return fmt.Sprintf("line %06d %s", i, pad) }
	opts := logs.IndexerOptions{ReleaseAfter: 256 << 10, MaxRead: 64 << 10}
	x := logs.NewIndexer(db, opts)
	x.WatchFiles("web", "alice", files)

	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range lines {
			if _, err := fmt.Fprintln(w, line(i)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var maxDisk int64
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		if err := x.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		maxDisk = max(maxDisk, diskBytes(t, files.Stdout))
	}
	wg.Wait()
	if err := x.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	// A restarted server (a new indexer over the same database) and a
	// last append: nothing indexed twice, the new line once.
	fmt.Fprintln(w, line(lines))
	indexAlice(t, ctx, db, files, opts)

	checkLines(t, db, lines+1, line)
	fi, err := os.Stat(files.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(lines+1) * int64(len(line(0))+1); fi.Size() != want {
		t.Errorf("file size %d, want %d (hole punching keeps the size)", fi.Size(), want)
	}
	disk := diskBytes(t, files.Stdout)
	t.Logf("file size %d bytes, on disk %d at the end, at most %d seen", fi.Size(), disk, maxDisk)
	if disk > 1<<20 {
		t.Errorf("the file still takes %d bytes on disk; its indexed bytes were not released", disk)
	}
	// The end of the file still reads as text.
	b, err := os.ReadFile(files.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	if tail := string(b[len(b)-8192:]); strings.ContainsRune(tail, 0) || !strings.HasSuffix(tail, line(lines)+"\n") {
		t.Errorf("the last 8 KiB of the file are not the last lines: %.80q...", tail)
	}
}

// checkLines checks that the logs table holds line(0) .. line(n-1), each
// once, in order.
func checkLines(t testing.TB, db *sql.DB, n int, line func(int) string) {
	t.Helper()
	rows, err := db.Query(`SELECT message FROM logs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			t.Fatal(err)
		}
		if i >= n || m != line(i) {
			t.Fatalf("line %d indexed as %.40q, want %.40q", i, m, line(min(i, n-1)))
		}
		i++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if i != n {
		t.Fatalf("%d lines indexed, want %d", i, n)
	}
}

// A crash between releasing a file's bytes and recording the new head
// leaves a record whose head hash no longer matches: the zeros of the hole
// are taken as the same file, so nothing is indexed again.
func TestIndexerContinuesAfterACrashMidRelease(t *testing.T) {
	ctx := context.Background()
	db, files := aliceLogs(t)
	line := func(i int) string { return fmt.Sprintf("entry %05d with some padding to fill blocks quickly", i) }
	for i := range 2000 {
		appendFile(t, files.Stdout, line(i)+"\n")
	}
	indexAlice(t, ctx, db, files, logs.IndexerOptions{ReleaseAfter: -1})
	// The hole, punched without the record being updated.
	f, err := os.OpenFile(files.Stdout, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 8192); err != nil {
		t.Skipf("no hole punching here: %v", err)
	}
	f.Close()
	appendFile(t, files.Stdout, line(2000)+"\n")
	indexAlice(t, ctx, db, files, logs.IndexerOptions{})
	checkLines(t, db, 2001, line)
}

// A file that is replaced by one of the same inode number whose first bytes
// differ is still read from the start: release does not weaken that.
func TestIndexerRereadsAReplacedFileDespiteRelease(t *testing.T) {
	ctx := context.Background()
	db, files := aliceLogs(t)
	appendFile(t, files.Stdout, "first file line\n")
	x := indexAlice(t, ctx, db, files, logs.IndexerOptions{ReleaseAfter: 1})
	// Truncated in place (same inode) and rewritten with other bytes.
	if err := os.WriteFile(files.Stdout, []byte("second file line, longer than the first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := x.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	es, err := logs.Query(ctx, db, logs.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := messages(es); !slices.Equal(got, []string{"second file line, longer than the first", "first file line"}) {
		t.Errorf("indexed %q", got)
	}
}
