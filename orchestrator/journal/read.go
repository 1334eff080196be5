package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tenement/ten/internal/sqlitefile"
)

// Unfinished returns the unsettled upgrade (running, interrupted or
// failed) and its steps, or nil if there is none.
func (j *Journal) Unfinished(ctx context.Context) (*Upgrade, []Step, error) {
	return j.one(ctx, selectUpgrade+` WHERE state IN `+unsettledSQL+` ORDER BY id DESC LIMIT 1`)
}

// Last returns the most recent upgrade in state (any state if state is
// empty) and its steps, or nil if there is none; e.g. the last committed
// upgrade, which `ten-upgrade rollback` undoes on request.
func (j *Journal) Last(ctx context.Context, state string) (*Upgrade, []Step, error) {
	if state == "" {
		return j.one(ctx, selectUpgrade+` ORDER BY id DESC LIMIT 1`)
	}
	return j.one(ctx, selectUpgrade+` WHERE state = ? ORDER BY id DESC LIMIT 1`, state)
}

// Get returns the upgrade id and its steps, or an error wrapping
// ErrNotFound.
func (j *Journal) Get(ctx context.Context, id int64) (Upgrade, []Step, error) {
	u, steps, err := j.one(ctx, selectUpgrade+` WHERE id = ?`, id)
	if err != nil {
		return Upgrade{}, nil, err
	}
	if u == nil {
		return Upgrade{}, nil, fmt.Errorf("upgrade %d: %w", id, ErrNotFound)
	}
	return *u, steps, nil
}

// History returns the most recent upgrades, newest first; all of them if
// limit <= 0.
func (j *Journal) History(ctx context.Context, limit int) ([]Upgrade, error) {
	if limit <= 0 {
		limit = -1
	}
	out, err := sqlitefile.QueryAll(ctx, j.db, scanUpgrade, selectUpgrade+` ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return out, nil
}

// one reads an upgrade and its steps in one read transaction, so that they
// agree with each other while another process writes.
func (j *Journal) one(ctx context.Context, query string, args ...any) (*Upgrade, []Step, error) {
	tx, err := j.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, fmt.Errorf("read journal: %w", err)
	}
	defer tx.Rollback()
	u, err := scanUpgrade(tx.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read journal: %w", err)
	}
	steps, err := readSteps(ctx, tx, u.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("read steps of upgrade %d: %w", u.ID, err)
	}
	return &u, steps, nil
}

const selectUpgrade = `SELECT id, from_version, to_version, strategy, state, started_at, ended_at,
	error, failed_requests, point_of_no_return, params FROM upgrades`

func scanUpgrade(row sqlitefile.Scanner) (Upgrade, error) {
	var (
		u               Upgrade
		started, ended  sql.NullString
		failed          sql.NullInt64
		params          sql.NullString
		pointOfNoReturn int
		err             error
	)
	if err = row.Scan(&u.ID, &u.From, &u.To, &u.Strategy, &u.State, &started, &ended,
		&u.Error, &failed, &pointOfNoReturn, &params); err != nil {
		return Upgrade{}, err
	}
	if u.StartedAt, u.EndedAt, err = parseTimes(started, ended); err != nil {
		return Upgrade{}, fmt.Errorf("upgrade %d: %w", u.ID, err)
	}
	if failed.Valid {
		n := int(failed.Int64)
		u.FailedRequests = &n
	}
	u.PointOfNoReturn = pointOfNoReturn != 0
	u.Params = raw(params)
	return u, nil
}

func readSteps(ctx context.Context, tx *sql.Tx, id int64) ([]Step, error) {
	rows, err := tx.QueryContext(ctx, `SELECT upgrade_id, seq, name, state, attempts, input, output,
		error, undo_error, started_at, ended_at FROM steps WHERE upgrade_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var steps []Step
	for rows.Next() {
		var (
			s              Step
			in, out        sql.NullString
			started, ended sql.NullString
			err            error
		)
		if err = rows.Scan(&s.UpgradeID, &s.Seq, &s.Name, &s.State, &s.Attempts, &in, &out,
			&s.Error, &s.UndoError, &started, &ended); err != nil {
			return nil, err
		}
		s.Input, s.Output = raw(in), raw(out)
		if s.StartedAt, s.EndedAt, err = parseTimes(started, ended); err != nil {
			return nil, fmt.Errorf("step %d: %w", s.Seq, err)
		}
		steps = append(steps, s)
	}
	return steps, rows.Err()
}
