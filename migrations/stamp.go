package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// tableColumns names a table and the columns ten relies on in it.
type tableColumns struct {
	table   string
	columns []string
}

// tenementColumns lists the tables tenement's init_db creates
// (tenement/src/store.rs:40-101: logs, its search index, config) and the
// columns ten reads. Stamping refuses a database whose tables lack one:
// such a database was not made by tenement, and adopting it would only
// move the failure to the first query that touches the missing column.
var tenementColumns = []tableColumns{
	{"logs", []string{"id", "timestamp", "level", "process", "instance_id", "message"}},
	{"config", []string{"key", "value"}},
}

// tenColumns lists the tables 0001 adds beside tenement's. tenement never
// had instance_state or deploy_log, and its tenant_tokens has another shape
// (set aside by setAsideTenantTokens before these are checked), so on an
// unversioned database they exist only if something else made them, and
// must then at least have ten's columns.
var tenColumns = []tableColumns{
	{"instance_state", []string{"process", "instance_id", "port", "pid", "weight", "status", "restarts", "started_at", "updated_at"}},
	{"tenant_tokens", []string{"id", "token_hash", "tenant", "scope", "created_at"}},
	{"deploy_log", []string{"id", "process", "instance_id", "action", "detail", "timestamp"}},
}

// TenementTenantTokens is where stamping moves tenement v0.2.2's per-tenant
// tokens: its table is also called tenant_tokens, but holds an Argon2id PHC
// string per token, found by token_prefix (the token's first 8 characters),
// while ten's holds SHA-256 digests. The rows are kept verbatim; the API
// checks a token against them after ten's own.
const TenementTenantTokens = "tenement_tenant_tokens"

// TenantColumns are the spellings of the tenant column accepted in
// tenement's tenant token table, in order of preference.
var TenantColumns = []string{"tenant", "tenant_id", "tenant_name"}

// stamp adopts an unversioned tenement database as version 1 of baseline
// without rebuilding it. It runs inside the caller's transaction.
//
// Every statement of the baseline is IF NOT EXISTS, as tenement issues its
// own, so running it creates ten's tables and whatever an older tenement
// (or an interrupted first start) did not create, and keeps every row. If
// the full-text index or one of its triggers was missing, the index is
// rebuilt from logs so that search finds the rows written before.
func stamp(ctx context.Context, conn *sql.Conn, baseline Migration) error {
	if err := checkStampable(ctx, conn); err != nil {
		return err
	}
	if err := setAsideTenantTokens(ctx, conn); err != nil {
		return err
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

// checkStampable returns an ErrForeign error if the database cannot be
// stamped, without writing, so that a dry run gives the same answer as the
// migration.
func checkStampable(ctx context.Context, q querier) error {
	for _, t := range tenementColumns {
		if err := requireColumns(ctx, q, t); err != nil {
			return err
		}
	}
	moving, err := tenementTenantTokens(ctx, q)
	if err != nil {
		return err
	}
	for _, t := range tenColumns {
		if moving && t.table == "tenant_tokens" {
			continue // set aside before the baseline creates ten's
		}
		if err := requireColumns(ctx, q, t); err != nil {
			return err
		}
	}
	return nil
}

// requireColumns returns an ErrForeign error if t.table exists without one
// of t.columns. A missing table is fine: the baseline creates it.
func requireColumns(ctx context.Context, q querier, t tableColumns) error {
	have, err := columns(ctx, q, t.table)
	if err != nil {
		return err
	}
	if len(have) == 0 {
		return nil
	}
	for _, c := range t.columns {
		if !have[c] {
			return fmt.Errorf("%w: table %s has no column %s, so it was not made by tenement v0.2.x", ErrForeign, t.table, c)
		}
	}
	return nil
}

// tenementTenantTokens reports whether the database has tenement v0.2.2's
// tenant_tokens (recognised by its token_prefix column), which stamping
// moves aside. A tenant_tokens with token_prefix but without a tenant
// column or token_hash is neither tenement's nor ten's, and is refused.
func tenementTenantTokens(ctx context.Context, q querier) (bool, error) {
	have, err := columns(ctx, q, "tenant_tokens")
	if err != nil || !have["token_prefix"] {
		return false, err
	}
	if TenantColumn(have) == "" || !have["token_hash"] {
		return false, fmt.Errorf("%w: table tenant_tokens has token_prefix but no token_hash or tenant column (%v), so it was not made by tenement v0.2.x",
			ErrForeign, TenantColumns)
	}
	taken, err := columns(ctx, q, TenementTenantTokens)
	if err != nil {
		return false, err
	}
	if len(taken) > 0 {
		return false, fmt.Errorf("%w: both tenant_tokens and %s exist in an unversioned database", ErrForeign, TenementTenantTokens)
	}
	return true, nil
}

// setAsideTenantTokens renames tenement's tenant_tokens to
// TenementTenantTokens, rows, index and all, so that the baseline can
// create ten's tenant_tokens beside it.
func setAsideTenantTokens(ctx context.Context, conn *sql.Conn) error {
	moving, err := tenementTenantTokens(ctx, conn)
	if err != nil || !moving {
		return err
	}
	if _, err := conn.ExecContext(ctx, "ALTER TABLE tenant_tokens RENAME TO "+TenementTenantTokens); err != nil {
		return fmt.Errorf("set aside tenement's tenant_tokens: %w", err)
	}
	return nil
}

// TenantColumn returns the tenant column among cols (a set of column
// names of tenement's tenant token table), or "".
func TenantColumn(cols map[string]bool) string {
	i := slices.IndexFunc(TenantColumns, func(c string) bool { return cols[c] })
	if i < 0 {
		return ""
	}
	return TenantColumns[i]
}

// columns returns the column names of table, or an empty set if there is no
// such table.
func columns(ctx context.Context, conn querier, table string) (map[string]bool, error) {
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

// Columns returns the column names of table in db, or an empty set if
// there is no such table.
func Columns(ctx context.Context, db *sql.DB, table string) (map[string]bool, error) {
	return columns(ctx, db, table)
}
