package journal

import (
	"context"
	"errors"
	"fmt"
)

// applicationID marks journal.db as a ten-upgrade journal (PRAGMA
// application_id), so that it is not mistaken for the state database or
// any other SQLite file. It is "tenJ" in ASCII.
const applicationID = 0x74656e4a

// schemaVersion is the newest journal schema this code knows (PRAGMA
// user_version).
const schemaVersion = 1

const schemaV1 = `
CREATE TABLE upgrades (
	id                 INTEGER PRIMARY KEY AUTOINCREMENT,
	from_version       TEXT    NOT NULL DEFAULT '',
	to_version         TEXT    NOT NULL DEFAULT '',
	strategy           TEXT    NOT NULL DEFAULT '',
	state              TEXT    NOT NULL CHECK (state IN ('running','committed','rolled_back','failed','interrupted')),
	started_at         TEXT    NOT NULL,
	ended_at           TEXT,
	error              TEXT    NOT NULL DEFAULT '',
	failed_requests    INTEGER,
	point_of_no_return INTEGER NOT NULL DEFAULT 0,
	params             TEXT
);
-- At most one unsettled upgrade.
CREATE UNIQUE INDEX upgrades_one_unsettled ON upgrades ((state IN ` + unsettledSQL + `))
	WHERE state IN ` + unsettledSQL + `;
CREATE TABLE steps (
	upgrade_id INTEGER NOT NULL REFERENCES upgrades (id),
	seq        INTEGER NOT NULL,
	name       TEXT    NOT NULL,
	state      TEXT    NOT NULL CHECK (state IN ('started','done','failed','undoing','undone','undo_failed')),
	attempts   INTEGER NOT NULL DEFAULT 1,
	input      TEXT,
	output     TEXT,
	error      TEXT    NOT NULL DEFAULT '',
	undo_error TEXT    NOT NULL DEFAULT '',
	started_at TEXT    NOT NULL,
	ended_at   TEXT,
	PRIMARY KEY (upgrade_id, seq)
) WITHOUT ROWID;
`

// migrate creates the schema of a new journal, and refuses a file that is
// not a journal or is newer than this code.
func (j *Journal) migrate(ctx context.Context) error {
	check := func(q queryer) (int, error) {
		var app, ver int
		if err := q.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
			return 0, err
		}
		if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
			return 0, err
		}
		if app != 0 && app != applicationID {
			return 0, fmt.Errorf("not a ten-upgrade journal (application_id %#x): move it away or choose another state directory", app)
		}
		if ver > schemaVersion {
			return 0, fmt.Errorf("journal schema version %d is newer than this ten-upgrade knows (%d): use the newer ten-upgrade that wrote it", ver, schemaVersion)
		}
		return ver, nil
	}
	ver, err := check(j.db)
	if err != nil || ver == schemaVersion {
		return err
	}
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Another process may have created the schema while we waited.
	if ver, err = check(tx); err != nil || ver == schemaVersion {
		return err
	}
	if ver == 0 {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			return errors.New("not a ten-upgrade journal (it has tables but no schema version): move it away or choose another state directory")
		}
		if _, err := tx.ExecContext(ctx, schemaV1); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = %d", applicationID, schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}
