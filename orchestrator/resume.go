package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tenement/ten/orchestrator/journal"
)

// resume finishes the unfinished upgrade.
func resume(ctx context.Context, rep *RunReport, opts RunOptions, j *journal.Journal, locks *installLocks) *RunReport {
	ju, steps, err := j.Unfinished(ctx)
	if err != nil {
		return rep.refuse(err)
	}
	if ju == nil {
		return rep.refuse(errors.New("there is no unfinished upgrade to resume: run ten-upgrade run without --resume to start a new one"))
	}
	u, err := loadUpgrade(j, ju, steps, opts)
	if err != nil {
		return rep.refuse(err)
	}
	rep.ID, rep.From, rep.To, rep.Strategy = ju.ID, ju.From, ju.To, ju.Strategy
	if err := u.lockInstallation(locks); err != nil {
		return rep.refuse(err)
	}
	if err := u.verifyResumable(steps); err != nil {
		return rep.refuse(err)
	}
	u.say("Resuming upgrade %d: ten %s -> %s, strategy %s", ju.ID, ju.From, ju.To, ju.Strategy)
	err = u.r.Resume(ctx, u.actions(), steps)
	if errors.Is(err, journal.ErrRollingBack) {
		return rep.refuse(err)
	}
	return u.finish(ctx, rep, err)
}

// loadUpgrade rebuilds an upgrade from its journal record.
func loadUpgrade(j *journal.Journal, ju *journal.Upgrade, steps []journal.Step, opts RunOptions) (*upgrade, error) {
	var p Params
	if err := json.Unmarshal(ju.Params, &p); err != nil {
		return nil, fmt.Errorf("upgrade %d: unreadable params: %w", ju.ID, err)
	}
	s, err := strategyNamed(p.Strategy)
	if err != nil {
		return nil, fmt.Errorf("upgrade %d: %w", ju.ID, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u := &upgrade{p: &p, s: s, j: j, id: ju.ID, log: log, out: opts.Out, journaled: map[string]json.RawMessage{}}
	u.r = &journal.Runner{J: j, ID: ju.ID, Log: u.log}
	for _, s := range steps {
		if s.Output != nil {
			u.journaled[s.Name] = s.Output
		}
	}
	return u, nil
}
