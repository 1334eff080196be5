package sqlitefile

import (
	"context"
	"database/sql"
)

// Querier is a *sql.DB, *sql.Tx or *sql.Conn.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Scanner is a *sql.Row or *sql.Rows, so that one scan function reads a
// row fetched alone or in a loop. An alias, so that functions declared
// with the same interface literal fit QueryAll without naming this
// package.
type Scanner = interface{ Scan(dest ...any) error }

// QueryAll runs query and reads every row with scan, for the read loop
// each package keeping state in SQLite would otherwise write out (query,
// scan, rows.Err, Close). The result is nil when there is no row. Errors
// are returned as they are, for the caller to say what it was reading.
func QueryAll[T any](ctx context.Context, q Querier, scan func(Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanString reads a row of one text column.
func scanString(sc Scanner) (string, error) {
	var s string
	err := sc.Scan(&s)
	return s, err
}
