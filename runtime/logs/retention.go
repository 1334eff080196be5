package logs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Policy says which indexed lines are kept. Zero fields keep everything.
type Policy struct {
	// MaxAge deletes lines older than this ([settings] log_retention_days).
	MaxAge time.Duration
	// MaxRows keeps at most this many lines, the newest ([settings]
	// log_max_rows).
	MaxRows int64
}

// Enabled reports whether the policy deletes anything at all.
func (p Policy) Enabled() bool { return p.MaxAge > 0 || p.MaxRows > 0 }

// Defaults of RetentionOptions.
const (
	DefaultRetentionBatch    = 500
	DefaultRetentionInterval = time.Minute
	// DefaultRetentionPause outlasts the longest sleep of SQLite's busy
	// handler between two attempts to take the write lock (100ms): a
	// writer that is waiting is sure to get the lock between two batches,
	// however unlucky its timing.
	DefaultRetentionPause = 110 * time.Millisecond
)

// RetentionOptions configure a Retention.
type RetentionOptions struct {
	Policy Policy
	// Batch is the most lines one transaction deletes. The write lock of
	// the database is held for one batch only, so the indexer, the API and
	// the supervisor get it between batches. Default DefaultRetentionBatch.
	Batch int
	// Pause is the least time between two batches of one pass: the room
	// left for other writers. A batch that took longer is followed by as
	// long a pause, so a prune never holds the write lock more than half
	// the time. Default DefaultRetentionPause.
	Pause time.Duration
	// Interval is the time between passes. Default DefaultRetentionInterval.
	Interval time.Duration
	// Active, if set, is asked before each pass; a pass is skipped when it
	// returns false. Two servers share one database during an upgrade:
	// only the supervising one needs to prune.
	Active func() bool
	Logger *slog.Logger
	Now    func() time.Time
}

// Retention deletes indexed lines the policy no longer keeps, with their
// full-text entries (the logs_ad trigger removes those in the same
// statement), in bounded batches.
type Retention struct {
	db   *sql.DB
	opts RetentionOptions
}

// NewRetention returns a Retention over db. Call Run to start it, or Prune
// for one pass.
func NewRetention(db *sql.DB, opts RetentionOptions) *Retention {
	if opts.Batch <= 0 {
		opts.Batch = DefaultRetentionBatch
	}
	if opts.Pause <= 0 {
		opts.Pause = DefaultRetentionPause
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultRetentionInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Retention{db: db, opts: opts}
}

// Run prunes at once and then every Interval until ctx is done.
func (r *Retention) Run(ctx context.Context) {
	if !r.opts.Policy.Enabled() {
		return
	}
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		if r.opts.Active == nil || r.opts.Active() {
			n, err := r.Prune(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				r.opts.Logger.Warn("log retention", "err", err, "deleted", n)
			case n > 0:
				r.opts.Logger.Info("log retention: deleted old lines", "deleted", n,
					"max_age", r.opts.Policy.MaxAge, "max_rows", r.opts.Policy.MaxRows)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Prune deletes every line the policy does not keep, one batch per
// transaction, and returns how many it deleted.
func (r *Retention) Prune(ctx context.Context) (int64, error) {
	var total int64
	if age := r.opts.Policy.MaxAge; age > 0 {
		cutoff := formatTime(r.opts.Now().Add(-age))
		// Oldest first through idx_logs_timestamp, so each batch costs the
		// same however large the table is.
		n, err := r.deleteBatches(ctx, `DELETE FROM logs WHERE id IN (
			SELECT id FROM logs WHERE timestamp < ? ORDER BY timestamp LIMIT ?)`, cutoff)
		total += n
		if err != nil {
			return total, fmt.Errorf("delete lines older than %s: %w", cutoff, err)
		}
	}
	if keep := r.opts.Policy.MaxRows; keep > 0 {
		// Ids are AUTOINCREMENT and only this code deletes lines, oldest
		// first, so the newest MaxRows lines are those above MAX(id) -
		// MaxRows: found through the primary key, without counting.
		var maxID int64
		if err := r.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM logs`).Scan(&maxID); err != nil {
			return total, fmt.Errorf("read newest log id: %w", err)
		}
		if below := maxID - keep + 1; below > 1 {
			n, err := r.deleteBatches(ctx, `DELETE FROM logs WHERE id IN (
				SELECT id FROM logs WHERE id < ? ORDER BY id LIMIT ?)`, below)
			total += n
			if err != nil {
				return total, fmt.Errorf("delete lines beyond the newest %d: %w", keep, err)
			}
		}
	}
	return total, nil
}

// deleteBatches runs stmt (with bound and the batch size as parameters)
// until it deletes fewer lines than a batch.
func (r *Retention) deleteBatches(ctx context.Context, stmt string, bound any) (int64, error) {
	var total int64
	for {
		start := time.Now()
		res, err := r.db.ExecContext(ctx, stmt, bound, r.opts.Batch)
		if err != nil {
			return total, err
		}
		took := time.Since(start)
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(r.opts.Batch) {
			return total, nil
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(max(r.opts.Pause, took)):
		}
	}
}

// Span is the range of time the kept lines cover.
type Span struct {
	Oldest time.Time `json:"oldest,omitzero"` // timestamp of the oldest kept line
	Newest time.Time `json:"newest,omitzero"` // timestamp of the newest line
	// RetentionDays and MaxRows are the policy that bounds the range (0:
	// none).
	RetentionDays int   `json:"retention_days"`
	MaxRows       int64 `json:"max_rows"`
}

// SpanOf returns the range the lines selected by f cover, under policy p.
// Only f's Service, ID and Level apply: the range of a search would cost a
// full-text query. Without them, both ends are read through the timestamp
// index.
func SpanOf(ctx context.Context, db *sql.DB, p Policy, f Filter) (Span, error) {
	s := Span{RetentionDays: int(p.MaxAge / (24 * time.Hour)), MaxRows: p.MaxRows}
	if err := f.validate(); err != nil {
		return s, err
	}
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"process", f.Service}, {"instance_id", f.ID}, {"level", f.Level}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var oldest, newest sql.NullString
	err := db.QueryRowContext(ctx, `SELECT (SELECT MIN(timestamp) FROM logs`+cond+`), (SELECT MAX(timestamp) FROM logs`+cond+`)`,
		append(args, args...)...).Scan(&oldest, &newest)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("read log range: %w", err)
	}
	if oldest.Valid {
		s.Oldest = parseTime(oldest.String)
	}
	if newest.Valid {
		s.Newest = parseTime(newest.String)
	}
	return s, nil
}
