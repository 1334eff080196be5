package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// StepStarted records that the step name of upgrade id is about to run,
// with its input (anything json.Marshal takes; nil for none), and returns
// its sequence number. Call it before the action: once it returns, a crash
// leaves the step recorded as started. The upgrade must be running.
func (j *Journal) StepStarted(ctx context.Context, id int64, name string, input any) (int, error) {
	in, err := marshal(input)
	if err != nil {
		return 0, fmt.Errorf("journal step %q of upgrade %d: input: %w", name, id, err)
	}
	var seq int
	err = j.db.QueryRowContext(ctx, `
		INSERT INTO steps (upgrade_id, seq, name, state, input, started_at)
		SELECT id, (SELECT coalesce(max(seq), 0) + 1 FROM steps WHERE upgrade_id = upgrades.id), ?, 'started', ?, ?
		FROM upgrades WHERE id = ? AND state = 'running'
		RETURNING seq`, name, in, j.stamp(), id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, j.notRunning(ctx, id, fmt.Sprintf("journal step %q", name))
	}
	if err != nil {
		return 0, fmt.Errorf("journal step %q of upgrade %d: %w", name, id, err)
	}
	return seq, nil
}

// notRunning explains why a step of upgrade id cannot be written.
func (j *Journal) notRunning(ctx context.Context, id int64, op string) error {
	state, err := stateOf(ctx, j.db, id)
	if err != nil {
		return fmt.Errorf("%s: upgrade %d: %w", op, id, err)
	}
	return fmt.Errorf("%s: upgrade %d is %s, not running (Reopen it first)", op, id, state)
}

// StepRestarted records that step seq, found started after a crash and
// undone, is about to run again: it is started once more, with one more
// attempt and a new start time.
func (j *Journal) StepRestarted(ctx context.Context, id int64, seq int) error {
	return j.setStep(ctx, id, seq, "restart", `state = 'started', attempts = attempts + 1, started_at = ?, ended_at = NULL, error = ''`,
		[]any{j.stamp()}, StepStarted)
}

// StepDone records that step seq succeeded with output (anything
// json.Marshal takes; nil for none). The step must be started.
func (j *Journal) StepDone(ctx context.Context, id int64, seq int, output any) error {
	out, err := marshal(output)
	if err != nil {
		return fmt.Errorf("journal step %d of upgrade %d: output: %w", seq, id, err)
	}
	return j.setStep(ctx, id, seq, "done", `state = 'done', output = ?, ended_at = ?`,
		[]any{out, j.stamp()}, StepStarted)
}

// StepFailed records that step seq failed with err. The step must be
// started.
func (j *Journal) StepFailed(ctx context.Context, id int64, seq int, err error) error {
	return j.setStep(ctx, id, seq, "failed", `state = 'failed', error = ?, ended_at = ?`,
		[]any{errText(err), j.stamp()}, StepStarted)
}

// UndoStarted records that the undo of step seq is about to run. The step
// may be in any state but undone: started and failed steps are undone too,
// since their action may have had part of its effect, and undoing and
// undo_failed ones are undone again.
func (j *Journal) UndoStarted(ctx context.Context, id int64, seq int) error {
	return j.setStep(ctx, id, seq, "undo", `state = 'undoing', undo_error = '', ended_at = NULL`,
		nil, StepStarted, StepDone, StepFailed, StepUndoing, StepUndoFailed)
}

// UndoDone records that the undo of step seq succeeded. The step must be
// undoing.
func (j *Journal) UndoDone(ctx context.Context, id int64, seq int) error {
	return j.setStep(ctx, id, seq, "undone", `state = 'undone', ended_at = ?`,
		[]any{j.stamp()}, StepUndoing)
}

// UndoFailed records that the undo of step seq failed with err. The step
// must be undoing.
func (j *Journal) UndoFailed(ctx context.Context, id int64, seq int, err error) error {
	return j.setStep(ctx, id, seq, "undo failed", `state = 'undo_failed', undo_error = ?, ended_at = ?`,
		[]any{errText(err), j.stamp()}, StepUndoing)
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// setStep updates step seq of upgrade id if it is in one of the states
// from and the upgrade is running, and explains otherwise.
func (j *Journal) setStep(ctx context.Context, id int64, seq int, op, set string, args []any, from ...string) error {
	q := `UPDATE steps SET ` + set + ` WHERE upgrade_id = ? AND seq = ? AND state IN (?` + strings.Repeat(", ?", len(from)-1) + `)
		AND (SELECT state FROM upgrades WHERE id = ?) = 'running'`
	args = append(args, id, seq)
	for _, s := range from {
		args = append(args, s)
	}
	args = append(args, id)
	res, err := j.db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("journal %s of step %d of upgrade %d: %w", op, seq, id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var state string
	err = j.db.QueryRowContext(ctx, `SELECT state FROM steps WHERE upgrade_id = ? AND seq = ?`, id, seq).Scan(&state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("journal %s of step %d of upgrade %d: no such step", op, seq, id)
	case err != nil:
		return fmt.Errorf("journal %s of step %d of upgrade %d: %w", op, seq, id, err)
	case !slices.Contains(from, state):
		return fmt.Errorf("journal %s of step %d of upgrade %d: step is %s, want %s", op, seq, id, state, strings.Join(from, " or "))
	}
	return j.notRunning(ctx, id, fmt.Sprintf("journal %s of step %d", op, seq))
}
