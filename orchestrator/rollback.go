package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/tenement/ten/orchestrator/journal"
)

// RollbackOptions configure Rollback.
type RollbackOptions struct {
	Check    CheckOptions // Config, DataDir, Getenv, Cwd are used
	StateDir string
	// Confirm is shown what will be undone; nil means yes.
	Confirm func(what string) bool
	Out     io.Writer
	Logger  *slog.Logger
}

// Rollback undoes the unfinished upgrade, or else the last committed one,
// returning to the version before it.
func Rollback(ctx context.Context, opts RollbackOptions) *RunReport {
	rep := &RunReport{Schema: RunSchema, Command: "rollback", StartedAt: time.Now().UTC(), Undone: []string{}, Notes: []string{}, Steps: []StepInfo{}}
	defer func() { rep.DurationMS = time.Since(rep.StartedAt).Milliseconds() }()
	in, j, err := openInstall(ctx, opts.Check, opts.StateDir)
	if err != nil {
		return rep.refuse(err)
	}
	if j == nil {
		return rep.refuse(fmt.Errorf("nothing to roll back to: no upgrade has been recorded in %s", in.stateDir))
	}
	defer j.Close()
	unlock, err := j.Lock()
	if err != nil {
		return rep.refuse(err)
	}
	defer unlock()

	ju, steps, err := j.Unfinished(ctx)
	if err != nil {
		return rep.refuse(err)
	}
	reason := ""
	if ju != nil && ju.Error == "" {
		reason = "interrupted, then rolled back on request"
	}
	if ju == nil {
		ju, steps, err = j.Last(ctx, journal.StateCommitted)
		if err != nil {
			return rep.refuse(err)
		}
		if ju == nil {
			return rep.refuse(errors.New("nothing to roll back to: no committed upgrade is recorded (upgrades that failed were rolled back already)"))
		}
		reason = "rolled back on request"
	}
	ro := RunOptions{Out: opts.Out, Logger: opts.Logger}
	u, err := loadUpgrade(j, ju, steps, ro)
	if err != nil {
		return rep.refuse(err)
	}
	rep.ID, rep.From, rep.To, rep.Strategy = ju.ID, ju.From, ju.To, ju.Strategy
	locks := &installLocks{}
	defer locks.release()
	if err := u.lockInstallation(locks); err != nil {
		return rep.refuse(err)
	}
	if ju.State == journal.StateCommitted {
		// A committed upgrade is undone only while its version is the one
		// installed: a later change would be buried.
		if !fileIs(u.p.Installed, u.p.CandidateSHA256) {
			return rep.refuse(fmt.Errorf("upgrade %d installed ten %s at %s, but that file has changed since: roll back by hand from %s.bak", ju.ID, ju.To, u.p.Installed, u.p.Installed))
		}
		if last, _, err := j.Last(ctx, ""); err == nil && last != nil && last.ID != ju.ID && last.State == journal.StateCommitted {
			return rep.refuse(fmt.Errorf("upgrade %d is not the last one: roll back the later upgrades first, newest first", ju.ID))
		}
	}
	undo := "nothing"
	if names := toUndo(steps); len(names) > 0 {
		undo = strings.Join(names, ", ")
	}
	what := fmt.Sprintf("Roll back upgrade %d (ten %s -> %s, %s, state %s): undo %s", ju.ID, ju.From, ju.To, ju.Strategy, ju.State, undo)
	if ju.PointOfNoReturn {
		what += "\nThe database will be restored from the backup taken before the upgrade: changes written since are lost."
	}
	if opts.Confirm != nil && !opts.Confirm(what) {
		return rep.refuse(errors.New("not confirmed: nothing was changed"))
	}
	u.say("%s", what)
	err = u.r.Rollback(ctx, u.actions(), steps)
	jctx := context.WithoutCancel(ctx)
	if err != nil {
		rep.Result, rep.ExitCode, rep.Error = ResultFailed, 3, err.Error()
		var rb *journal.RollbackError
		if errors.As(err, &rb) {
			rep.FailedStep = rb.Step
			rep.Undone = append(rep.Undone, rb.Undone...)
		}
		j.Finish(jctx, ju.ID, journal.StateFailed, err.Error(), nil)
	} else {
		rep.Result, rep.ExitCode = ResultRolledBack, 0
		if ferr := j.Finish(jctx, ju.ID, journal.StateRolledBack, reason, nil); ferr != nil {
			rep.Result, rep.ExitCode, rep.Error = ResultFailed, 3, ferr.Error()
		}
		rep.Undone = append(rep.Undone, toUndo(steps)...)
	}
	u.complete(jctx, rep)
	return rep
}

// toUndo names the steps a rollback undoes, newest first.
func toUndo(steps []journal.Step) []string {
	var names []string
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].State != journal.StepUndone {
			names = append(names, steps[i].Name)
		}
	}
	return names
}
