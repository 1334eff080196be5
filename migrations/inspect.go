package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// bookkeepingTable records every migration applied to a database, so that a
// binary which does not know a migration can still read its kind. Its shape
// is a contract with every ten binary ever released: add nullable columns
// only, never drop, rename or repurpose one.
const bookkeepingTable = "ten_schema_migrations"

const createBookkeeping = `CREATE TABLE IF NOT EXISTS ten_schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL
)`

// ErrForeign is returned (wrapped) for a database that ten must not touch:
// one with another program's application_id, or one with a schema that is
// neither ten's nor tenement's.
var ErrForeign = errors.New("not a ten or tenement database")

// State describes a database as found, before any migration.
type State struct {
	Version       int  // PRAGMA user_version: the schema version
	Floor         int  // compatibility floor recorded in the database; 0 when Version is 0
	ApplicationID int  // PRAGMA application_id
	Tenement      bool // unversioned database created by tenement v0.2.x, to be stamped
	Fresh         bool // no tables at all
}

// Foreign reports whether the database belongs to another program.
func (s State) Foreign() bool { return s.recognise() != nil }

// recognise returns an error wrapping ErrForeign if s is not a database ten
// may migrate or open.
func (s State) recognise() error {
	switch {
	case s.ApplicationID != 0 && s.ApplicationID != ApplicationID:
		return fmt.Errorf("%w: application_id is 0x%08X, ten uses 0x%08X", ErrForeign, uint32(s.ApplicationID), ApplicationID)
	case s.Version > 0 && s.ApplicationID == 0:
		// ten sets application_id in the same transaction as user_version,
		// so a versioned database without it was versioned by someone else.
		return fmt.Errorf("%w: user_version is %d but application_id is not set", ErrForeign, s.Version)
	case s.Version == 0 && !s.Fresh && !s.Tenement:
		return fmt.Errorf("%w: unversioned database with tables but no tenement logs table", ErrForeign)
	}
	return nil
}

// querier is satisfied by *sql.DB, *sql.Conn and *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Inspect reports the schema state of db without writing to it. The reads
// run in one read transaction, so user_version and the recorded floor are
// from the same snapshot. Inspect does not judge the state; Apply does.
func Inspect(ctx context.Context, db *sql.DB) (State, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return State{}, fmt.Errorf("inspect schema: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to keep or lose
	return inspect(ctx, tx)
}

func inspect(ctx context.Context, q querier) (State, error) {
	var st State
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&st.Version); err != nil {
		return State{}, fmt.Errorf("read user_version: %w", err)
	}
	if err := q.QueryRowContext(ctx, "PRAGMA application_id").Scan(&st.ApplicationID); err != nil {
		return State{}, fmt.Errorf("read application_id: %w", err)
	}
	if st.Version == 0 {
		var tables int
		err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite\_%' ESCAPE '\'`).Scan(&tables)
		if err != nil {
			return State{}, fmt.Errorf("list tables: %w", err)
		}
		st.Fresh = tables == 0
		if !st.Fresh {
			if st.Tenement, err = tableExists(ctx, q, "logs"); err != nil {
				return State{}, err
			}
		}
		return st, nil
	}
	if st.Foreign() {
		return st, nil
	}
	floor, err := recordedFloor(ctx, q, st.Version)
	if err != nil {
		return State{}, err
	}
	st.Floor = floor
	return st, nil
}

// recordedFloor computes the floor of version from the kinds the database
// recorded, not from this binary's files: a newer binary may have applied
// migrations this one has never seen.
func recordedFloor(ctx context.Context, q querier, version int) (int, error) {
	ok, err := tableExists(ctx, q, bookkeepingTable)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("database is at schema %d but has no %s table", version, bookkeepingTable)
	}
	rows, err := q.QueryContext(ctx, "SELECT version, kind FROM "+bookkeepingTable+" WHERE version <= ?", version)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", bookkeepingTable, err)
	}
	defer rows.Close()
	var recorded []Migration
	for rows.Next() {
		var m Migration
		if err := rows.Scan(&m.Version, &m.Kind); err != nil {
			return 0, fmt.Errorf("read %s: %w", bookkeepingTable, err)
		}
		recorded = append(recorded, m)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", bookkeepingTable, err)
	}
	return Floor(recorded, version), nil
}

func tableExists(ctx context.Context, q querier, name string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", name).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up table %s: %w", name, err)
	}
	return n > 0, nil
}
