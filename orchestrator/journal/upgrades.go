package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Begin records a new upgrade in state running and returns its id. The
// caller holds the lock. It refuses with an *UnfinishedError (errors.Is
// ErrUnfinished) while another upgrade is unsettled. u.State, u.ID and
// u.EndedAt are ignored; a zero u.StartedAt means now.
func (j *Journal) Begin(ctx context.Context, u Upgrade) (int64, error) {
	params, err := marshal(u.Params)
	if err != nil {
		return 0, fmt.Errorf("begin upgrade: params: %w", err)
	}
	started := j.stamp()
	if !u.StartedAt.IsZero() {
		started = fmtTime(u.StartedAt)
	}
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin upgrade: %w", err)
	}
	defer tx.Rollback()
	if open, err := unsettledBut(ctx, tx, 0); err != nil {
		return 0, fmt.Errorf("begin upgrade: %w", err)
	} else if open != nil {
		return 0, open
	}
	var id int64
	err = tx.QueryRowContext(ctx, `
		INSERT INTO upgrades (from_version, to_version, strategy, state, started_at, failed_requests, point_of_no_return, params)
		VALUES (?, ?, ?, 'running', ?, ?, ?, ?) RETURNING id`,
		u.From, u.To, u.Strategy, started, u.FailedRequests, u.PointOfNoReturn, params).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("begin upgrade: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("begin upgrade: %w", err)
	}
	return id, nil
}

// Reopen puts a finished or interrupted upgrade back in state running, so
// that a crash while it is resumed or rolled back leaves it unsettled. It
// refuses with an *UnfinishedError if another upgrade is unsettled. It does
// nothing to an upgrade that is running.
func (j *Journal) Reopen(ctx context.Context, id int64) error {
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("reopen upgrade %d: %w", id, err)
	}
	defer tx.Rollback()
	if state, err := stateOf(ctx, tx, id); err != nil {
		return fmt.Errorf("reopen upgrade %d: %w", id, err)
	} else if state == StateRunning {
		return nil
	}
	if other, err := unsettledBut(ctx, tx, id); err != nil {
		return fmt.Errorf("reopen upgrade %d: %w", id, err)
	} else if other != nil {
		return other
	}
	if _, err := tx.ExecContext(ctx, `UPDATE upgrades SET state = 'running', ended_at = NULL WHERE id = ?`, id); err != nil {
		return fmt.Errorf("reopen upgrade %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("reopen upgrade %d: %w", id, err)
	}
	return nil
}

// MarkPointOfNoReturn records that the new version of upgrade id has
// written data the old schema cannot hold, so that a rollback must restore
// the database backup.
func (j *Journal) MarkPointOfNoReturn(ctx context.Context, id int64) error {
	res, err := j.db.ExecContext(ctx, `UPDATE upgrades SET point_of_no_return = 1 WHERE id = ? AND state = 'running'`, id)
	if err != nil {
		return fmt.Errorf("mark point of no return of upgrade %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return j.notRunning(ctx, id, "mark point of no return")
	}
	return nil
}

// Finish records the outcome of upgrade id: state is committed,
// rolled_back, failed or interrupted (failed and interrupted keep it
// unsettled). errText replaces the recorded error unless empty, so that a
// later rollback keeps the cause of the failure; committing clears it.
// failedRequests is recorded unless nil. The upgrade must be unsettled:
// a committed or rolled back upgrade is reopened with Reopen first.
func (j *Journal) Finish(ctx context.Context, id int64, state string, errText string, failedRequests *int) error {
	switch state {
	case StateCommitted, StateRolledBack, StateFailed, StateInterrupted:
	default:
		return fmt.Errorf("finish upgrade %d: invalid state %q", id, state)
	}
	res, err := j.db.ExecContext(ctx, `
		UPDATE upgrades SET state = ?1, ended_at = ?2,
			error = CASE WHEN ?1 = 'committed' THEN '' WHEN ?3 = '' THEN error ELSE ?3 END,
			failed_requests = coalesce(?4, failed_requests)
		WHERE id = ?5 AND state IN `+unsettledSQL,
		state, j.stamp(), errText, failedRequests, id)
	if err != nil {
		return fmt.Errorf("finish upgrade %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		cur, err := stateOf(ctx, j.db, id)
		if err != nil {
			return fmt.Errorf("finish upgrade %d: %w", id, err)
		}
		return fmt.Errorf("finish upgrade %d: it is already %s", id, cur)
	}
	return nil
}

// unsettledBut returns the unsettled upgrade other than id (0: any) as an
// *UnfinishedError, or nil if there is none.
func unsettledBut(ctx context.Context, tx *sql.Tx, id int64) (*UnfinishedError, error) {
	u, err := scanUpgrade(tx.QueryRowContext(ctx, selectUpgrade+` WHERE state IN `+unsettledSQL+` AND id != ? LIMIT 1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &UnfinishedError{ID: u.ID, From: u.From, To: u.To, State: u.State}, nil
}

// stateOf reads the state of upgrade id; an unknown id is ErrNotFound.
func stateOf(ctx context.Context, q queryer, id int64) (string, error) {
	var state string
	err := q.QueryRowContext(ctx, `SELECT state FROM upgrades WHERE id = ?`, id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return state, err
}
