package orchestrator

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tenement/ten/runtime/handoff"
)

// restartStrategy stops the old server, then starts the staged binary with
// the same arguments. Requests fail in between: the downtime, from the
// SIGTERM to the new server's first healthy answer, is measured and
// reported. It is the only strategy for a release whose database migration
// the old binary cannot run on, and for an install where nothing runs.
type restartStrategy struct{}

func (restartStrategy) name() string                        { return StrategyRestart }
func (restartStrategy) overlaps() bool                      { return false }
func (restartStrategy) usable(*RunningServer, string) error { return nil }
func (restartStrategy) probeURL(p *Params) string           { return oldURL(p) }

func (restartStrategy) prepare(p *Params) error {
	p.Nonce = newNonce()
	return nil
}

func (restartStrategy) describe(p *Params) PlanStep {
	s := PlanStep{
		Does: fmt.Sprintf("stop %s (SIGTERM, wait), start the candidate, health-gate it (%d answers within %s); requests fail meanwhile, and the downtime is reported",
			oldDescription(p), p.HealthChecks, p.HealthTimeout.D()),
		Undo: "stop the candidate, restore the database if the schema moved past ten " + p.From + "'s, start ten " + p.From + " again",
	}
	if p.Old != nil {
		s.Commands = []string{fmt.Sprintf("kill -TERM %d", p.Old.PID), fmt.Sprintf("TEN_HEALTH_NONCE=%s %s %s", p.Nonce, p.Staged, strings.Join(p.Old.Args, " "))}
	}
	return s
}

func (restartStrategy) switchOver(ctx context.Context, u *upgrade) (any, error) {
	old, err := u.currentFrom(ctx)
	if err != nil && u.oldProc() != nil && !u.oldProc().Alive() {
		// Stopped before an interruption: nothing serves, start the new one.
		old, err = u.oldProc(), nil
	}
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if old != nil && old.Alive() {
		u.say("  %-14s stopping ten %s (pid %d): requests fail until the new server is up", "", u.p.From, old.PID)
		if err := u.stop(ctx, *old); err != nil {
			return nil, fmt.Errorf("stop the old server: %w", err)
		}
	}
	addr := ""
	if old != nil && old.Port() != 0 {
		addr = old.Addr
	}
	s, err := u.startServer(ctx, u.p.Staged, nil, u.p.To, u.p.Nonce, addr)
	if err != nil {
		return nil, err
	}
	downtime := time.Since(start)
	u.note("restart: %s of downtime (SIGTERM to the new server's first healthy answer)", downtime.Round(time.Millisecond))
	u.checkPointOfNoReturn(ctx)
	return switchOut{Strategy: u.p.Strategy, Old: old, New: s.ServerProc, DowntimeMS: downtime.Milliseconds()}, nil
}

// undo stops the candidate (found by its nonce when the switch did not
// finish), restores the database if ten From cannot run on it, and starts
// ten From again unless the old server is still serving.
func (restartStrategy) undo(ctx context.Context, u *upgrade, out *switchOut) error {
	old, serving := u.oldServing(ctx)
	if serving {
		// Never stopped: only a candidate may have to go.
		return u.stopCandidates(ctx, out)
	}
	if old != nil {
		// Told to stop before the crash: let it finish.
		if err := u.waitOldGone(ctx, *old); err != nil {
			return err
		}
	}
	if err := u.stopCandidates(ctx, out); err != nil {
		return err
	}
	// A server may already be back from an earlier, interrupted undo.
	if st, err := handoff.NewControlClient(u.p.DataDir).Status(ctx); err == nil {
		if st.Version == u.p.From {
			return nil
		}
		// Someone else's server (ten To started by hand?): stop it too,
		// it is the version being rolled back.
		if err := u.stop(ctx, ServerProc{PID: st.PID, StartTime: st.ProcStartTime}); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := u.restartFrom(ctx); err != nil {
		return err
	}
	u.note("restart rollback: ten %s up %s after the candidate stopped", u.p.From, time.Since(start).Round(time.Millisecond))
	return nil
}
