package logs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Source is one log file to index.
type Source struct {
	Path    string
	Level   string // Stdout or Stderr
	Service string
	ID      string
}

// IndexerOptions configure an Indexer.
type IndexerOptions struct {
	Interval time.Duration    // poll interval; default 250ms (tenement flushes every 250ms)
	Logger   *slog.Logger     // default slog.Default()
	Now      func() time.Time // timestamps of indexed lines; default time.Now
	// MaxLine is the longest line kept whole; a longer run of bytes without
	// a newline is indexed in pieces of this size. Default 64 KiB.
	MaxLine int
	// MaxRead bounds the bytes read from one file in one pass, so one noisy
	// tenant cannot starve the others. Default 1 MiB.
	MaxRead int
	// ReleaseAfter is how many indexed bytes of a log file may stay on
	// disk before their space is released (see release). Default
	// DefaultReleaseAfter; negative keeps every byte.
	ReleaseAfter int64
}

// Indexer tails log files and inserts their complete lines into the logs
// table in batches.
//
// Progress (inode, byte offset, hash of the first bytes) is kept in the
// database's config table and written in the same transaction as the lines
// it covers, so a restarted server — or the other server during an
// upgrade — continues exactly where indexing stopped: a crash between
// inserting lines and recording progress cannot happen. Each pass over a file holds an advisory lock
// (flock) on it, so two servers over one data directory never index the
// same bytes twice. A file that shrinks or is replaced is read from the
// start.
type Indexer struct {
	db   *sql.DB
	opts IndexerOptions

	mu      sync.Mutex
	sources map[string]*tracked // by path

	passMu sync.Mutex // one pass at a time
}

type tracked struct {
	src Source
	// Cached from the last pass, to skip files that have not grown without
	// opening them. The database row stays the authority.
	ino, off int64
	// released is how far the file's space has been given back, as far as
	// this server knows; noRelease is set when its filesystem cannot.
	released  int64
	noRelease bool
}

// NewIndexer returns an Indexer writing to db. Call Run to start it.
func NewIndexer(db *sql.DB, opts IndexerOptions) *Indexer {
	if opts.Interval <= 0 {
		opts.Interval = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = 64 << 10
	}
	if opts.MaxRead <= 0 {
		opts.MaxRead = 1 << 20
	}
	if opts.ReleaseAfter == 0 {
		opts.ReleaseAfter = DefaultReleaseAfter
	}
	return &Indexer{db: db, opts: opts, sources: map[string]*tracked{}}
}

// Watch starts indexing src. Watching a path again replaces its source.
func (x *Indexer) Watch(src Source) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if t, ok := x.sources[src.Path]; ok && t.src == src {
		return
	}
	// A new record rather than an update: a pass may be reading the old one.
	x.sources[src.Path] = &tracked{src: src, ino: -1, off: -1}
}

// WatchFiles watches both files of service:id.
func (x *Indexer) WatchFiles(service, id string, f Files) {
	x.Watch(Source{Path: f.Stdout, Level: Stdout, Service: service, ID: id})
	x.Watch(Source{Path: f.Stderr, Level: Stderr, Service: service, ID: id})
}

// Unwatch indexes what is left of path, including a last line without a
// newline (its writer is gone), and stops watching it.
func (x *Indexer) Unwatch(ctx context.Context, path string) error {
	x.mu.Lock()
	t, ok := x.sources[path]
	delete(x.sources, path)
	x.mu.Unlock()
	if !ok {
		return nil
	}
	x.passMu.Lock()
	defer x.passMu.Unlock()
	for {
		more, err := x.indexFile(ctx, t, true)
		if err != nil || !more {
			return err
		}
	}
}

// UnwatchFiles unwatches both files of an instance.
func (x *Indexer) UnwatchFiles(ctx context.Context, f Files) error {
	return errors.Join(x.Unwatch(ctx, f.Stdout), x.Unwatch(ctx, f.Stderr))
}

// Watching reports whether path is being indexed.
func (x *Indexer) Watching(path string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.sources[path]
	return ok
}

// Run indexes every Interval until ctx is done, then makes a last pass
// (with a short deadline of its own) so that lines written just before
// shutdown are not left for the next server.
func (x *Indexer) Run(ctx context.Context) error {
	t := time.NewTicker(x.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := x.Sync(final); err != nil {
				x.opts.Logger.Warn("final log index pass", "err", err)
			}
			return nil
		case <-t.C:
			if err := x.Sync(ctx); err != nil && ctx.Err() == nil {
				x.opts.Logger.Warn("log index pass", "err", err)
			}
		}
	}
}

// Sync indexes every complete line written so far to the watched files.
func (x *Indexer) Sync(ctx context.Context) error {
	x.mu.Lock()
	ts := make([]*tracked, 0, len(x.sources))
	for _, t := range x.sources {
		ts = append(ts, t)
	}
	x.mu.Unlock()
	slices.SortFunc(ts, func(a, b *tracked) int { return strings.Compare(a.src.Path, b.src.Path) })

	x.passMu.Lock()
	defer x.passMu.Unlock()
	var errs []error
	for _, t := range ts {
		for {
			more, err := x.indexFile(ctx, t, false)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", t.src.Path, err))
				break
			}
			if !more {
				break
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// indexFile indexes up to MaxRead bytes of one file. more reports that
// complete lines may remain. final also indexes a trailing partial line.
func (x *Indexer) indexFile(ctx context.Context, t *tracked, final bool) (more bool, err error) {
	st, err := os.Stat(t.src.Path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ino := inode(st)
	if !final && ino == t.ino && st.Size() == t.off {
		return false, nil // nothing new since our last pass
	}

	f, err := x.open(t)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	defer f.Close()
	if err := lockFile(ctx, f); err != nil {
		return false, err
	}
	defer unlockFile(f)

	// Re-stat through the descriptor: the path may have been replaced.
	if st, err = f.Stat(); err != nil {
		return false, err
	}
	ino = inode(st)
	size := st.Size()

	rec, err := x.readProgress(ctx, t.src.Path)
	if err != nil {
		return false, err
	}
	off := rec.off
	if rec.ino != ino || off > size || !headOK(f, off, rec.head) {
		// A new file (inode numbers are reused, hence the hash of its
		// first bytes too), or truncated: start over.
		off = 0
	}
	if off == size {
		t.ino, t.off = ino, off
		return false, nil
	}

	n := min(size-off, int64(x.opts.MaxRead))
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	lines, used := splitLines(buf, x.opts.MaxLine, final)
	if used == 0 {
		t.ino, t.off = ino, off
		return false, nil
	}
	off += int64(used)
	p := idx{ino: ino, off: off, head: headHash(f, off)}
	if err := x.insert(ctx, t.src, lines, p); err != nil {
		return false, err
	}
	t.ino, t.off = ino, off
	if err := x.release(ctx, f, t, t.src.Path, p); err != nil {
		// The lines are indexed; the space is released on a later pass.
		x.opts.Logger.Warn("release indexed log bytes", "err", err)
	}
	return off < size, nil
}

// splitLines returns the complete lines in buf and how many bytes they
// used. A run longer than maxLine without a newline is cut at maxLine; with
// final, a trailing partial line is returned too.
func splitLines(buf []byte, maxLine int, final bool) (lines []string, used int) {
	for used < len(buf) {
		rest := buf[used:]
		i := bytes.IndexByte(rest, '\n')
		switch {
		case i >= 0 && i <= maxLine:
			lines = append(lines, clean(rest[:i]))
			used += i + 1
		case len(rest) >= maxLine:
			// Cut at a rune boundary so the piece stays valid UTF-8.
			cut := maxLine
			for cut > 0 && !utf8.RuneStart(rest[cut]) {
				cut--
			}
			if cut == 0 {
				cut = maxLine
			}
			lines = append(lines, clean(rest[:cut]))
			used += cut
		case final:
			lines = append(lines, clean(rest))
			used += len(rest)
		default:
			return lines, used
		}
	}
	return lines, used
}

func clean(b []byte) string {
	s := strings.TrimSuffix(string(b), "\r")
	return strings.ToValidUTF8(s, "\uFFFD")
}

// insert writes lines and the progress they bring the file to in one
// transaction, with multi-row INSERTs.
func (x *Indexer) insert(ctx context.Context, src Source, lines []string, progress idx) error {
	ts := formatTime(x.opts.Now())
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("index logs: %w", err)
	}
	defer tx.Rollback()
	const perStmt = 100 // 5 parameters each: well under SQLite's limit
	for len(lines) > 0 {
		k := min(len(lines), perStmt)
		var b strings.Builder
		b.WriteString("INSERT INTO logs (timestamp, level, process, instance_id, message) VALUES ")
		args := make([]any, 0, 5*k)
		for i, l := range lines[:k] {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("(?,?,?,?,?)")
			args = append(args, ts, src.Level, src.Service, src.ID, l)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("index logs: %w", err)
		}
		lines = lines[k:]
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO config (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
		progressKey(src.Path), fmt.Sprintf("%d %d %s", progress.ino, progress.off, progress.head)); err != nil {
		return fmt.Errorf("index logs: record progress: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("index logs: %w", err)
	}
	return nil
}

// progressKey names a file's indexing progress in the config table.
func progressKey(path string) string { return "ten.logs.progress:" + path }

// idx is the progress recorded for one file: which file (inode, and a
// hash of its first bytes) and how far it has been indexed.
type idx struct {
	ino, off int64
	head     string
}

// headLen is how many leading bytes identify a file together with its inode.
const headLen = 64

// headHash hashes the first min(off, headLen) bytes of f.
func headHash(f *os.File, off int64) string {
	b := make([]byte, min(off, headLen))
	n, _ := f.ReadAt(b, 0)
	sum := sha256.Sum256(b[:n])
	return hex.EncodeToString(sum[:8])
}

// readProgress returns the recorded progress of path; ino -1 if none.
func (x *Indexer) readProgress(ctx context.Context, path string) (idx, error) {
	var v string
	err := x.db.QueryRowContext(ctx, `SELECT value FROM config WHERE key = ?`, progressKey(path)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return idx{ino: -1}, nil
	}
	if err != nil {
		return idx{}, fmt.Errorf("index logs: read progress of %s: %w", path, err)
	}
	f := strings.Fields(v)
	if len(f) != 3 {
		return idx{ino: -1}, nil // unreadable: start over rather than fail forever
	}
	ino, err1 := strconv.ParseInt(f[0], 10, 64)
	off, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return idx{ino: -1}, nil
	}
	return idx{ino: ino, off: off, head: f[2]}, nil
}

func inode(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Ino)
	}
	return 0
}

// lockFile takes an exclusive flock on f, retrying until ctx is done: the
// holder is another server's pass, which is short.
func lockFile(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func unlockFile(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
