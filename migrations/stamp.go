package migrations

import (
	"context"
	"database/sql"
	"fmt"
)

// tenementColumns lists, for each table tenement v0.2.x creates, the columns
// ten relies on. Stamping refuses a database whose tables lack one: such a
// database was not made by tenement v0.2.x, and adopting it would only move
// the failure to the first query that touches the missing column.
var tenementColumns = []struct {
	table   string
	columns []string
}{
	{"logs", []string{"id", "timestamp", "level", "process", "instance_id", "message"}},
	{"config", []string{"key", "value"}},
	{"instance_state", []string{"process", "instance_id", "port", "pid", "weight", "status", "restarts", "started_at", "updated_at"}},
	{"tenant_tokens", []string{"id", "token_hash", "tenant", "scope", "created_at"}},
	{"deploy_log", []string{"id", "process", "instance_id", "action", "detail", "timestamp"}},
}

// stamp adopts an unversioned tenement database as version 1 of baseline
// without rebuilding it. It runs inside the caller's transaction.
//
// Every statement of the baseline is IF NOT EXISTS, exactly as tenement
// issues them, so running it creates only what an older tenement (or an
// interrupted first start) did not create, and keeps every row. If the
// full-text index or one of its triggers was missing, the index is rebuilt
// from logs so that search finds the rows written before.
func stamp(ctx context.Context, conn *sql.Conn, baseline Migration) error {
	for _, t := range tenementColumns {
		have, err := columns(ctx, conn, t.table)
		if err != nil {
			return err
		}
		if len(have) == 0 {
			continue // missing table: the baseline creates it
		}
		for _, c := range t.columns {
			if !have[c] {
				return fmt.Errorf("%w: table %s has no column %s, so it was not made by tenement v0.2.x", ErrForeign, t.table, c)
			}
		}
	}

	ftsComplete := true
	for _, obj := range []struct{ typ, name string }{{"table", "logs_fts"}, {"trigger", "logs_ai"}, {"trigger", "logs_ad"}} {
		var n int
		err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = ? AND name = ?", obj.typ, obj.name).Scan(&n)
		if err != nil {
			return fmt.Errorf("look up %s %s: %w", obj.typ, obj.name, err)
		}
		ftsComplete = ftsComplete && n > 0
	}

	if _, err := conn.ExecContext(ctx, baseline.SQL); err != nil {
		return fmt.Errorf("create missing tenement objects: %w", err)
	}
	if !ftsComplete {
		if _, err := conn.ExecContext(ctx, "INSERT INTO logs_fts(logs_fts) VALUES('rebuild')"); err != nil {
			return fmt.Errorf("rebuild logs_fts: %w", err)
		}
	}
	return nil
}

// columns returns the column names of table, or an empty set if there is no
// such table.
func columns(ctx context.Context, conn *sql.Conn, table string) (map[string]bool, error) {
	rows, err := conn.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", table)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	defer rows.Close()
	have := make(map[string]bool)
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", table, err)
		}
		have[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	return have, nil
}
