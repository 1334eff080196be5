package migrations

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
)

// Result reports what Apply did, or with DryRun what it would do.
type Result struct {
	From int // schema version found
	// To is the schema version reached. After an error it is the last
	// version committed, so a caller can report how far it got.
	To int
	// Applied lists the migrations whose SQL ran (or would run), oldest
	// first. A stamped baseline is reported by Stamped, not listed here.
	Applied []Migration
	Stamped bool // an unversioned tenement database was adopted as version 1
	DryRun  bool
}

// TooNewError is returned when a database was migrated by a newer binary
// past a contract migration this binary does not know.
type TooNewError struct {
	DBVersion int // schema version of the database
	DBFloor   int // oldest schema a binary must know to use the database
	Known     int // newest schema this binary knows
}

func (e *TooNewError) Error() string {
	return fmt.Sprintf("database schema is version %d (written by a newer ten; it needs a binary that knows schema >= %d); "+
		"this binary knows up to %d: upgrade ten, or restore the database backup taken before the upgrade",
		e.DBVersion, e.DBFloor, e.Known)
}

// Apply migrates db to the newest migration of set.
//
// Every step runs on one connection in its own BEGIN IMMEDIATE
// transaction that re-reads the state, runs one migration (or stamps a
// tenement database), records it in ten_schema_migrations and sets
// user_version and application_id. A failure therefore leaves the database at
// the last complete version, and two processes migrating the same file at
// once serialise on the write lock instead of applying a file twice.
//
// A database with a foreign application_id is refused (ErrForeign). A
// database newer than set is left unchanged: if its recorded floor is within
// set it is usable and Apply returns From == To == its version; otherwise
// Apply returns a *TooNewError.
//
// With dryRun Apply only reads, and returns the plan.
func Apply(ctx context.Context, db *sql.DB, set []Migration, dryRun bool) (Result, error) {
	if err := Validate(set); err != nil {
		return Result{DryRun: dryRun}, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return Result{DryRun: dryRun}, fmt.Errorf("migrate: get connection: %w", err)
	}
	defer conn.Close()

	// Plan first, without the write lock: a database that is already current
	// (every start of a server after the first) or that is refused costs a
	// read, not a wait for the lock behind the other server's writes.
	res, err := plan(ctx, conn, set)
	if dryRun || err != nil || (len(res.Applied) == 0 && !res.Stamped) {
		res.DryRun = dryRun
		return res, err
	}
	res = Result{}
	for first := true; ; first = false {
		done, err := step(ctx, conn, set, &res, first)
		if err != nil || done {
			return res, err
		}
	}
}

// admit decides whether a database in state st may be used with set.
func admit(st State, set []Migration) error {
	if err := st.recognise(); err != nil {
		return err
	}
	newest := set[len(set)-1].Version
	if st.Version > newest && st.Floor > newest {
		return &TooNewError{DBVersion: st.Version, DBFloor: st.Floor, Known: newest}
	}
	return nil
}

// plan computes what Apply would do, in a read transaction.
func plan(ctx context.Context, conn *sql.Conn, set []Migration) (Result, error) {
	res := Result{DryRun: true}
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return res, fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	st, err := inspect(ctx, tx)
	if err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}
	res.From, res.To = st.Version, st.Version
	if err := admit(st, set); err != nil {
		return res, err
	}
	newest := set[len(set)-1].Version
	if st.Version >= newest {
		return res, nil
	}
	next := st.Version
	if st.Tenement {
		if err := checkStampable(ctx, tx); err != nil {
			return res, fmt.Errorf("migrate: stamp tenement database: %w", err)
		}
		res.Stamped = true
		next = 1
	}
	res.Applied = append(res.Applied, set[next:]...)
	res.To = newest
	return res, nil
}

// step moves the database forward by one version in one transaction and
// reports whether it is now current.
func step(ctx context.Context, conn *sql.Conn, set []Migration, res *Result, first bool) (done bool, err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return false, fmt.Errorf("migrate: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			rollback(ctx, conn)
		}
	}()

	st, err := inspect(ctx, conn)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	if first {
		res.From = st.Version
	}
	// Another process may have moved the database on since our last step.
	res.To = st.Version
	if err := admit(st, set); err != nil {
		return false, err
	}
	if st.Version >= set[len(set)-1].Version {
		return true, nil // current, or newer but compatible: change nothing
	}

	m := set[st.Version] // produces version st.Version+1
	if st.Tenement {
		if err := stamp(ctx, conn, m); err != nil {
			return false, fmt.Errorf("migrate: stamp tenement database as %s: %w", m.File(), err)
		}
	} else if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("migrate: apply %s: %w", m.File(), err)
	}
	if err := record(ctx, conn, m); err != nil {
		return false, fmt.Errorf("migrate: record %s: %w", m.File(), err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return false, fmt.Errorf("migrate: commit %s: %w", m.File(), err)
	}
	committed = true

	if st.Tenement {
		res.Stamped = true
	} else {
		res.Applied = append(res.Applied, m)
	}
	res.To = m.Version
	return m.Version == set[len(set)-1].Version, nil
}

// record writes the bookkeeping row and the header fields, inside the
// migration's transaction so that they commit or vanish with it.
func record(ctx context.Context, conn *sql.Conn, m Migration) error {
	if _, err := conn.ExecContext(ctx, createBookkeeping); err != nil {
		return err
	}
	_, err := conn.ExecContext(ctx,
		"INSERT INTO "+bookkeepingTable+" (version, name, kind, checksum, applied_at) VALUES (?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
		m.Version, m.Name, string(m.Kind), m.Checksum)
	if err != nil {
		return err
	}
	// PRAGMA arguments cannot be bound; both values are integers.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", ApplicationID)); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version))
	return err
}

// rollback ends the transaction even if ctx is already cancelled. If that
// fails the connection may still hold a transaction (and the write lock), so
// it is discarded rather than returned to the pool.
func rollback(ctx context.Context, conn *sql.Conn) {
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}
