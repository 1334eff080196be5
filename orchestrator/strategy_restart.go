package orchestrator

import (
	"context"
	"fmt"
	"time"

	"github.com/tenement/ten/runtime/handoff"
)

// switchRestart stops the old server, then starts the staged binary with
// the same arguments. Requests fail in between: the downtime, from the
// SIGTERM to the new server's first healthy answer, is measured and
// reported. This is the only strategy for a release whose database
// migration the old binary cannot run on.
func (u *upgrade) switchRestart(ctx context.Context) (any, error) {
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
		if err := stopProcess(ctx, *old, u.p.DrainTimeout.D()+10*time.Second); err != nil {
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
	u.cand = s
	u.downtime = time.Since(start)
	u.note("restart: %s of downtime (SIGTERM to the new server's first healthy answer)", u.downtime.Round(time.Millisecond))
	u.checkPointOfNoReturn(ctx)
	return switchOut{Strategy: u.p.Strategy, Old: old, New: s.ServerProc, DowntimeMS: u.downtime.Milliseconds()}, nil
}

// unswitchRestart stops the candidate (found by its nonce when the switch
// did not finish), restores the database if ten From cannot run on it, and
// starts ten From again unless the old server is still serving.
func (u *upgrade) unswitchRestart(ctx context.Context, out *switchOut) error {
	old := u.oldProc()
	if old != nil && old.Alive() {
		if h, err := getHealth(ctx, old.URL()); err == nil && h.PID == old.PID {
			// Never stopped: only a candidate may have to go.
			return u.stopCandidates(ctx, out)
		}
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
		p := ServerProc{PID: st.PID, StartTime: st.ProcStartTime}
		if err := stopProcess(ctx, p, u.p.DrainTimeout.D()+10*time.Second); err != nil {
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

// stopCandidates stops the servers this upgrade started: the one recorded
// in the switch output, and any process carrying the upgrade's nonce.
func (u *upgrade) stopCandidates(ctx context.Context, out *switchOut) error {
	procs := findByNonce(u.p.Nonce)
	if out != nil && out.New.PID != 0 {
		procs = append(procs, out.New)
	}
	for _, p := range procs {
		if !p.Alive() {
			continue
		}
		if err := stopProcess(ctx, p, u.p.DrainTimeout.D()+10*time.Second); err != nil {
			return fmt.Errorf("stop the candidate: %w", err)
		}
		u.note("stopped the candidate server (pid %d)", p.PID)
	}
	return nil
}
