// Package logs indexes tenant output into the state database and queries it.
//
// Tenants do not write to pipes owned by the server: the supervisor opens a
// pair of append-only files per instance and hands them to the child as its
// stdout and stderr, so a tenant keeps running (and keeps logging) when the
// server that started it exits. An Indexer tails those files and inserts
// complete lines into the logs table, where Query and Follow read them.
package logs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Levels, as stored in logs.level (the names tenement uses).
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// DefaultLimit is the number of entries Query returns when Filter.Limit is 0.
const DefaultLimit = 100

// MaxLimit caps Filter.Limit.
const MaxLimit = 10000

// ErrInvalidFilter is wrapped by Query and Follow for a filter they reject.
var ErrInvalidFilter = errors.New("invalid log filter")

// Entry is one line of tenant output. The JSON names are tenement's.
type Entry struct {
	ID         int64     `json:"id"`
	Timestamp  time.Time `json:"timestamp"`
	Level      string    `json:"level"`   // stdout or stderr
	Service    string    `json:"process"` // logs.process
	InstanceID string    `json:"instance_id"`
	Message    string    `json:"message"`
}

// Filter selects entries. Zero fields do not filter.
type Filter struct {
	Service string // logs.process
	ID      string // logs.instance_id
	Level   string // stdout or stderr
	Search  string // full-text search (FTS5), sanitised as tenement does
	Limit   int    // default DefaultLimit, at most MaxLimit
	SinceID int64  // only entries with id > SinceID
}

func (f Filter) validate() error {
	switch f.Level {
	case "", Stdout, Stderr:
	default:
		return fmt.Errorf("%w: level %q: want stdout or stderr", ErrInvalidFilter, f.Level)
	}
	if f.Limit < 0 {
		return fmt.Errorf("%w: negative limit %d", ErrInvalidFilter, f.Limit)
	}
	return nil
}

// Files names the two log files of one instance.
type Files struct {
	Stdout string
	Stderr string
}

// Dir is the directory under the data directory that holds log files. The
// dot keeps it apart from instance data directories ({data_dir}/{service}/
// {id}): a service name cannot contain one, so no service can be called
// that and have its data directory overlap the logs.
const Dir = ".logs"

// FilesFor returns where the supervisor writes the output of service:id:
// {dataDir}/.logs/{service}/{id}.stdout.log and .stderr.log.
func FilesFor(dataDir, service, id string) Files {
	base := filepath.Join(dataDir, Dir, service, id)
	return Files{Stdout: base + ".stdout.log", Stderr: base + ".stderr.log"}
}

// FilesFromPath returns the pair of files whose stdout file is p, the path
// recorded in instance_state.log_path.
func FilesFromPath(p string) Files {
	base := strings.TrimSuffix(p, ".stdout.log")
	return Files{Stdout: base + ".stdout.log", Stderr: base + ".stderr.log"}
}

// timeLayout is how timestamps are stored: RFC 3339 in UTC with a fixed
// number of fractional digits, so that text order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// sanitizeSearch turns user input into one FTS5 phrase, as tenement does:
// FTS5 operators and quotes are removed (hyphens are kept, they are common
// in identifiers) and the rest is quoted, so input can never be a syntax
// error or an injected query.
func sanitizeSearch(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '"', '*', '+', '(', ')', '^', '{', '}', ':':
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	return `"` + s + `"`
}

// Query returns the entries matching f, newest first.
func Query(ctx context.Context, db *sql.DB, f Filter) ([]Entry, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	q, args, ok := buildQuery(f)
	if !ok {
		return []Entry{}, nil
	}
	q += " ORDER BY l.id DESC LIMIT ?"
	args = append(args, limit)
	return query(ctx, db, q, args...)
}

// buildQuery returns the SELECT and WHERE clauses for f. ok is false when
// the search sanitises to nothing, which matches no entry.
func buildQuery(f Filter) (q string, args []any, ok bool) {
	var b strings.Builder
	b.WriteString("SELECT l.id, l.timestamp, l.level, l.process, l.instance_id, l.message FROM logs l")
	var where []string
	if strings.TrimSpace(f.Search) != "" {
		phrase := sanitizeSearch(f.Search)
		if phrase == "" {
			return "", nil, false
		}
		b.WriteString(" JOIN logs_fts ON logs_fts.rowid = l.id")
		where = append(where, "logs_fts MATCH ?")
		args = append(args, phrase)
	}
	if f.Service != "" {
		where = append(where, "l.process = ?")
		args = append(args, f.Service)
	}
	if f.ID != "" {
		where = append(where, "l.instance_id = ?")
		args = append(args, f.ID)
	}
	if f.Level != "" {
		where = append(where, "l.level = ?")
		args = append(args, f.Level)
	}
	if f.SinceID > 0 {
		where = append(where, "l.id > ?")
		args = append(args, f.SinceID)
	}
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	return b.String(), args, true
}

func query(ctx context.Context, db *sql.DB, q string, args ...any) ([]Entry, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query logs: %w", err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		var ts string
		if err := rows.Scan(&e.ID, &ts, &e.Level, &e.Service, &e.InstanceID, &e.Message); err != nil {
			return nil, fmt.Errorf("query logs: %w", err)
		}
		e.Timestamp = parseTime(ts)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query logs: %w", err)
	}
	return out, nil
}

// DefaultFollowInterval is how often Follow polls for new entries.
const DefaultFollowInterval = 250 * time.Millisecond

// Follow calls fn, oldest first, for every entry matching f that is
// inserted after Follow starts (or, if f.SinceID is set, after that id),
// until ctx is done or fn returns an error. It polls the database, so it
// sees lines indexed by any server over the same data directory. f.Limit
// is ignored. It returns fn's error, or ctx.Err().
func Follow(ctx context.Context, db *sql.DB, f Filter, fn func(Entry) error) error {
	return FollowEvery(ctx, db, f, DefaultFollowInterval, fn)
}

// FollowEvery is Follow with a poll interval.
func FollowEvery(ctx context.Context, db *sql.DB, f Filter, every time.Duration, fn func(Entry) error) error {
	if err := f.validate(); err != nil {
		return err
	}
	if every <= 0 {
		every = DefaultFollowInterval
	}
	last := f.SinceID
	if last <= 0 {
		if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM logs").Scan(&last); err != nil {
			return fmt.Errorf("follow logs: %w", err)
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		// Drain everything new before sleeping, in pages, so a burst is
		// delivered at once rather than one page per tick.
		for {
			g := f
			g.SinceID = last
			q, args, ok := buildQuery(g)
			if !ok {
				break
			}
			q += " ORDER BY l.id ASC LIMIT 500"
			es, err := query(ctx, db, q, args...)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
			for _, e := range es {
				if err := fn(e); err != nil {
					return err
				}
				last = e.ID
			}
			if len(es) < 500 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
