package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Verify compares the checksums recorded in db with those of set for every
// version both know, and returns an error naming each file that differs.
// A difference means a migration file was edited after it was applied
// somewhere, so databases at the same user_version may not share a schema.
// Apply does not call Verify: a drifted comment must not stop a server
// from starting, but `ten doctor`-style checks should report it.
func Verify(ctx context.Context, db *sql.DB, set []Migration) error {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("verify schema: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	if ok, err := tableExists(ctx, tx, bookkeepingTable); err != nil || !ok {
		return err // nothing recorded, nothing to compare
	}
	rows, err := tx.QueryContext(ctx, "SELECT version, checksum FROM "+bookkeepingTable+" ORDER BY version")
	if err != nil {
		return fmt.Errorf("verify schema: read %s: %w", bookkeepingTable, err)
	}
	defer rows.Close()
	known := make(map[int]Migration, len(set))
	for _, m := range set {
		known[m.Version] = m
	}
	var drift []string
	for rows.Next() {
		var version int
		var sum string
		if err := rows.Scan(&version, &sum); err != nil {
			return fmt.Errorf("verify schema: read %s: %w", bookkeepingTable, err)
		}
		if m, ok := known[version]; ok && m.Checksum != sum {
			drift = append(drift, fmt.Sprintf("%s (recorded %.12s, embedded %.12s)", m.File(), sum, m.Checksum))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("verify schema: read %s: %w", bookkeepingTable, err)
	}
	if len(drift) > 0 {
		return fmt.Errorf("verify schema: applied migrations differ from this binary's: %s", strings.Join(drift, "; "))
	}
	return nil
}
