package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tenement/ten/internal/fault"
)

// Action is one step of an upgrade plan: something to do, and how to undo
// it.
//
// Do performs the step. Its output must be JSON-encodable; it is recorded
// in the journal and is everything Undo and later steps get to know about
// what Do did (later steps read it with Runner.Output), since after a crash
// they run in another process.
//
// Undo reverses the step. Every Undo must be idempotent and must accept
// any state the step can have been left in:
//
//   - It is given the recorded output of Do, or nil when Do did not finish:
//     the process was killed while Do ran, or Do returned an error. Then Do
//     may have had all, part or none of its effect, and Undo must handle
//     each (remove a file only if it is there, restore from a backup only
//     if the backup exists, and so on).
//   - It may run more than once: a crash while Undo runs, or after it
//     succeeded but before that was recorded, makes the next `ten-upgrade
//     rollback` or `run --resume` run it again. A second run must succeed
//     and change nothing.
//   - It must depend only on its output, the upgrade's Params and the state
//     of the machine, never on memory of the process that ran Do.
//
// A nil Undo means the step has no effect to reverse (a check); it is
// journaled as undone all the same.
type Action struct {
	Name string
	// Input is recorded with the step when it starts (for `ten-upgrade
	// status`); nil for none.
	Input any
	Do    func(ctx context.Context) (output any, err error)
	Undo  func(ctx context.Context, output json.RawMessage) error
}

// Runner runs the actions of one upgrade, journaling each before and after
// it acts, and undoes them in reverse order when one fails. A Runner is not
// for concurrent use.
//
// An upgrade's steps are journaled in the order of its actions, one step per
// action: step n is action n. Resume and Rollback match the journal against
// the actions by position and name, and refuse a journal written for a
// different plan.
type Runner struct {
	J   *Journal
	ID  int64
	Log *slog.Logger // nil: no logging

	plan    map[string]Action
	steps   []Step // this upgrade's steps as journaled
	outputs map[string]json.RawMessage
}

// ErrNoOutput is returned by Runner.Output for a step that is not done.
var ErrNoOutput = errors.New("step has no output")

// ErrRollingBack is returned by Resume for an upgrade whose rollback has
// begun: only Rollback can finish it.
var ErrRollingBack = errors.New("upgrade is being rolled back")

// Output decodes into v the output of the done step name, from this run or,
// when resuming, from the journal. Actions read earlier steps' results with
// it rather than through variables set by earlier Do functions, which a
// resumed run never called. A step that returned nil decodes as JSON null,
// which leaves v as it is.
func (r *Runner) Output(name string, v any) error {
	out, ok := r.outputs[name]
	if !ok {
		return fmt.Errorf("output of step %q: %w", name, ErrNoOutput)
	}
	if out == nil {
		out = json.RawMessage("null")
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("output of step %q: %w", name, err)
	}
	return nil
}

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// RunError is returned by Run and Resume when a step fails (or the context
// is cancelled between steps). It says what failed and what the automatic
// rollback undid.
type RunError struct {
	ID int64
	// Step is the step that failed; empty if the run was stopped between
	// steps.
	Step string
	Err  error
	// Undone lists the steps undone by the automatic rollback, in the order
	// they were undone (the failed step first: its action may have had part
	// of its effect).
	Undone []string
	// Rollback is why the rollback stopped (a *RollbackError, or the
	// error of a journal write); nil if it completed.
	Rollback error
}

func (e *RunError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "upgrade %d: ", e.ID)
	if e.Step != "" {
		fmt.Fprintf(&b, "step %s failed: ", e.Step)
	}
	b.WriteString(e.Err.Error())
	switch {
	case e.Rollback != nil:
		b.WriteString("; automatic rollback incomplete")
		if len(e.Undone) > 0 {
			fmt.Fprintf(&b, " (undid %s)", strings.Join(e.Undone, ", "))
		}
		b.WriteString(": ")
		b.WriteString(e.Rollback.Error())
	case len(e.Undone) > 0:
		fmt.Fprintf(&b, "; rolled back: undid %s", strings.Join(e.Undone, ", "))
	default:
		b.WriteString("; nothing to undo")
	}
	return b.String()
}

func (e *RunError) Unwrap() []error {
	if e.Rollback == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Rollback}
}

// RolledBack reports whether the automatic rollback undid every step.
func (e *RunError) RolledBack() bool { return e.Rollback == nil }

// RollbackError is returned when an undo fails or cannot be journaled. The
// rollback stops there: the steps before it stay done, since undoing them
// under a step that is still in effect could remove what the operator needs
// to repair it (the binary or database backups).
type RollbackError struct {
	ID int64
	// Step is the step whose undo failed.
	Step string
	Err  error
	// Undone lists the steps undone before it, in order.
	Undone []string
	// Remaining lists the steps still to undo, in the order they will be
	// undone, starting with Step.
	Remaining []string
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("undo of step %s failed: %v; still to undo: %s; "+
		"fix the cause and run `ten-upgrade rollback` again (every undo is safe to repeat)",
		e.Step, e.Err, strings.Join(e.Remaining, ", "))
}

func (e *RollbackError) Unwrap() error { return e.Err }

func checkActions(actions []Action) (map[string]Action, error) {
	byName := make(map[string]Action, len(actions))
	for i, a := range actions {
		if a.Name == "" {
			return nil, fmt.Errorf("action %d has no name", i+1)
		}
		if a.Do == nil {
			return nil, fmt.Errorf("action %s has no Do", a.Name)
		}
		if _, dup := byName[a.Name]; dup {
			return nil, fmt.Errorf("two actions are named %s", a.Name)
		}
		byName[a.Name] = a
	}
	return byName, nil
}

// Run runs actions in order for an upgrade that has no steps yet. Each step
// is journaled as started before its Do runs and as done (with its output)
// or failed after. When a Do fails, or ctx is cancelled between steps, Run
// undoes the failed step and every done step in reverse order, journaling
// each undo, and returns a *RunError that says what failed and what was
// undone. The rollback runs with ctx's values but without its cancellation
// (an interrupt that fails a step still gets a complete rollback); journal
// writes likewise are never cancelled.
//
// Run does not finish the upgrade: the caller records the outcome with
// Journal.Finish (committed on success; rolled_back if RunError.RolledBack,
// failed otherwise).
func (r *Runner) Run(ctx context.Context, actions []Action) error {
	byName, err := checkActions(actions)
	if err != nil {
		return err
	}
	_, steps, err := r.J.Get(context.WithoutCancel(ctx), r.ID)
	if err != nil {
		return err
	}
	if len(steps) > 0 {
		return fmt.Errorf("upgrade %d already has %d steps journaled: resume or roll it back", r.ID, len(steps))
	}
	r.plan, r.steps, r.outputs = byName, nil, map[string]json.RawMessage{}
	return r.run(ctx, actions, 0)
}

// Resume finishes an interrupted upgrade whose journaled steps are steps
// (from Journal.Unfinished or Get). It reopens the upgrade if it was
// marked interrupted, skips the steps recorded done (their outputs are
// available through Output), and re-runs a step recorded started but not
// done only after running its Undo with a nil output, since the crash may
// have left it half done (the step stays recorded started while that undo
// runs, so a crash there leaves the same record and the next resume does
// the same again; the re-run counts one more attempt); then it runs the
// remaining actions like Run, with the same automatic rollback on failure.
//
// Resume refuses (ErrRollingBack) an upgrade whose rollback has begun
// (a step failed, or an undo has started): `ten-upgrade rollback` finishes
// it. It also refuses steps that do not match actions by position and
// name, which happens when the journal was written by a different version
// of ten-upgrade.
func (r *Runner) Resume(ctx context.Context, actions []Action, steps []Step) error {
	byName, err := checkActions(actions)
	if err != nil {
		return err
	}
	if len(steps) > len(actions) {
		return fmt.Errorf("upgrade %d has %d steps journaled, this plan has %d actions: it was written by another version of ten-upgrade", r.ID, len(steps), len(actions))
	}
	for i, s := range steps {
		if s.UpgradeID != r.ID || s.Seq != i+1 || s.Name != actions[i].Name {
			return fmt.Errorf("upgrade %d: journaled step %d is %q of upgrade %d, the plan's is %q: it was written by another version of ten-upgrade", r.ID, s.Seq, s.Name, s.UpgradeID, actions[i].Name)
		}
		switch {
		case s.State == StepDone:
		case s.State == StepStarted && i == len(steps)-1:
		case s.State == StepStarted:
			return fmt.Errorf("upgrade %d: step %s is started but later steps exist: the journal is inconsistent; roll it back", r.ID, s.Name)
		default:
			return fmt.Errorf("upgrade %d: step %s is %s: %w; run `ten-upgrade rollback` to finish", r.ID, s.Name, s.State, ErrRollingBack)
		}
	}
	jctx := context.WithoutCancel(ctx)
	if err := r.J.Reopen(jctx, r.ID); err != nil {
		return err
	}
	r.plan = byName
	r.steps = append([]Step(nil), steps...)
	r.outputs = map[string]json.RawMessage{}
	for _, s := range steps {
		if s.State == StepDone {
			r.outputs[s.Name] = s.Output
		}
	}
	next := len(steps)
	if n := len(steps); n > 0 && steps[n-1].State == StepStarted {
		s, a := steps[n-1], actions[n-1]
		r.log().Info("undoing interrupted step before re-running it", "upgrade", r.ID, "step", s.Name, "attempt", s.Attempts)
		if a.Undo != nil {
			if err := a.Undo(ctx, nil); err != nil {
				err = fmt.Errorf("undo before re-running after an interruption: %w", err)
				return r.fail(ctx, n-1, err)
			}
		}
		if err := r.J.StepRestarted(jctx, r.ID, s.Seq); err != nil {
			return err
		}
		r.steps[n-1].Attempts++
		fault.Point("journal.started", s.Name)
		if err := r.do(ctx, a, n-1); err != nil {
			return err
		}
		next = n
	}
	return r.run(ctx, actions, next)
}

// run runs actions[from:], journaling each.
func (r *Runner) run(ctx context.Context, actions []Action, from int) error {
	jctx := context.WithoutCancel(ctx)
	for _, a := range actions[from:] {
		if err := ctx.Err(); err != nil {
			return r.abort(ctx, "", fmt.Errorf("stopped before step %s: %w", a.Name, err))
		}
		seq, err := r.J.StepStarted(jctx, r.ID, a.Name, a.Input)
		if err != nil {
			// The action has not run; undo the ones that have.
			return r.abort(ctx, a.Name, err)
		}
		r.steps = append(r.steps, Step{UpgradeID: r.ID, Seq: seq, Name: a.Name, State: StepStarted, Attempts: 1})
		fault.Point("journal.started", a.Name)
		if err := r.do(ctx, a, len(r.steps)-1); err != nil {
			return err
		}
	}
	return nil
}

// do runs the Do of action a, journaled as step r.steps[i] (already
// recorded started), and records its outcome; on failure it rolls back.
func (r *Runner) do(ctx context.Context, a Action, i int) error {
	s := &r.steps[i]
	log := r.log().With("upgrade", r.ID, "step", a.Name)
	log.Info("step started")
	out, err := a.Do(ctx)
	var output json.RawMessage
	if err == nil && out != nil {
		if output, err = json.Marshal(out); err != nil {
			err = fmt.Errorf("encode output: %w", err)
		} else if string(output) == "null" {
			output = nil
		}
	}
	if err != nil {
		log.Error("step failed", "err", err)
		return r.fail(ctx, i, err)
	}
	if err := r.J.StepDone(context.WithoutCancel(ctx), r.ID, s.Seq, output); err != nil {
		// The action happened but the journal still says started. Undo it
		// with what we know.
		s.Output = output
		return r.abort(ctx, a.Name, err)
	}
	s.State, s.Output = StepDone, output
	r.outputs[a.Name] = output
	log.Info("step done")
	fault.Point("journal.done", a.Name)
	return nil
}

// fail records step r.steps[i] failed with err and rolls back.
func (r *Runner) fail(ctx context.Context, i int, err error) error {
	s := &r.steps[i]
	if jerr := r.J.StepFailed(context.WithoutCancel(ctx), r.ID, s.Seq, err); jerr != nil {
		return &RunError{ID: r.ID, Step: s.Name, Err: err, Rollback: jerr}
	}
	s.State, s.Error = StepFailed, err.Error()
	fault.Point("journal.failed", s.Name)
	return r.abort(ctx, s.Name, err)
}

// abort rolls back everything journaled so far after err.
func (r *Runner) abort(ctx context.Context, step string, err error) error {
	undone, rerr := r.undo(context.WithoutCancel(ctx), r.steps)
	return &RunError{ID: r.ID, Step: step, Err: err, Undone: undone, Rollback: rerr}
}

// Rollback undoes, in reverse order, every step of steps (from
// Journal.Unfinished, Get or Last) that is not undone: done, failed and
// started steps, and steps whose undo was interrupted or failed. Each undo
// is journaled as undoing before it runs and undone or undo_failed after.
// Actions supply the undos by name.
//
// If the upgrade was finished (committed, say), Rollback first reopens it,
// so that a crash in the middle leaves it unsettled. It stops at the first
// undo that fails and returns a *RollbackError; the steps before it stay
// done. Rollback does not finish the upgrade: the caller records
// rolled_back (or failed) with Journal.Finish. Undos run with ctx as given.
func (r *Runner) Rollback(ctx context.Context, actions []Action, steps []Step) error {
	byName, err := checkActions(actions)
	if err != nil {
		return err
	}
	todo := 0
	for _, s := range steps {
		if s.UpgradeID != r.ID {
			return fmt.Errorf("roll back upgrade %d: step %d belongs to upgrade %d", r.ID, s.Seq, s.UpgradeID)
		}
		if s.State == StepUndone {
			continue
		}
		if _, ok := byName[s.Name]; !ok {
			return fmt.Errorf("roll back upgrade %d: this version of ten-upgrade has no step %q to undo (the journal was written by another version)", r.ID, s.Name)
		}
		todo++
	}
	r.plan = byName
	if todo == 0 {
		return nil
	}
	if err := r.J.Reopen(context.WithoutCancel(ctx), r.ID); err != nil {
		return err
	}
	r.steps = append([]Step(nil), steps...)
	_, err = r.undo(ctx, r.steps)
	return err
}

// undo undoes steps in reverse order, skipping undone ones, and stops at
// the first undo that fails or cannot be journaled. It returns the names
// of the steps undone.
func (r *Runner) undo(ctx context.Context, steps []Step) (undone []string, err error) {
	jctx := context.WithoutCancel(ctx)
	for i := len(steps) - 1; i >= 0; i-- {
		s := &steps[i]
		if s.State == StepUndone {
			continue
		}
		log := r.log().With("upgrade", r.ID, "step", s.Name)
		stop := func(err error) error {
			var remaining []string
			for k := i; k >= 0; k-- {
				if steps[k].State != StepUndone {
					remaining = append(remaining, steps[k].Name)
				}
			}
			return &RollbackError{ID: r.ID, Step: s.Name, Err: err, Undone: undone, Remaining: remaining}
		}
		log.Info("undoing step", "state", s.State)
		if err := r.J.UndoStarted(jctx, r.ID, s.Seq); err != nil {
			return undone, stop(err)
		}
		s.State = StepUndoing
		fault.Point("journal.undoing", s.Name)
		if a := r.plan[s.Name]; a.Undo != nil {
			if err := a.Undo(ctx, s.Output); err != nil {
				log.Error("undo failed", "err", err)
				if jerr := r.J.UndoFailed(jctx, r.ID, s.Seq, err); jerr != nil {
					return undone, stop(errors.Join(err, jerr))
				}
				s.State, s.UndoError = StepUndoFailed, err.Error()
				return undone, stop(err)
			}
		}
		if err := r.J.UndoDone(jctx, r.ID, s.Seq); err != nil {
			return undone, stop(err)
		}
		s.State = StepUndone
		undone = append(undone, s.Name)
		log.Info("step undone")
		fault.Point("journal.undone", s.Name)
	}
	return undone, nil
}
