package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenement/ten/runtime/handoff"
)

// switchHandoff asks the running server to start the staged binary with
// its listening socket inherited. The old server keeps serving until the
// new one is ready, then drains and exits; if the new one fails to start,
// the old one goes on as if nothing happened.
func (u *upgrade) switchHandoff(ctx context.Context) (any, error) {
	old, err := u.currentFrom(ctx)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return nil, errors.New("handoff needs a running server")
	}
	ctl := handoff.NewControlClient(u.p.DataDir)
	st, err := ctl.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("the running server is gone: %w", err)
	}
	if st.PID != old.PID {
		return nil, fmt.Errorf("the control socket is answered by pid %d, not ten %s (pid %d)", st.PID, u.p.From, old.PID)
	}
	hctx, cancel := context.WithTimeout(ctx, u.p.HealthTimeout.D()+30*time.Second)
	defer cancel()
	start := time.Now()
	res, err := ctl.Upgrade(hctx, u.p.Staged, nil)
	if err != nil {
		return nil, fmt.Errorf("handoff to %s: %w", u.p.Staged, err)
	}
	nw := ServerProc{PID: res.NewPID, Addr: st.Addr, Binary: u.p.Staged}
	nw.StartTime, _ = procStartTime(res.NewPID)
	_, err = gate{URL: old.URL(), Version: u.p.To, PID: res.NewPID, N: u.p.HealthChecks,
		Timeout: u.p.HealthTimeout.D(), Alive: nw.Alive}.wait(ctx)
	if err != nil {
		return nil, err
	}
	u.say("  %-14s new server pid %d ready %s after the request; old pid %d draining", "", res.NewPID, time.Since(start).Round(time.Millisecond), old.PID)
	if err := u.waitOldGone(ctx, *old); err != nil {
		u.note("%v", err)
	}
	return switchOut{Strategy: u.p.Strategy, Old: old, New: nw}, nil
}

// unswitchHandoff puts ten From back the same way: the server now running
// (ten To) is asked to hand its socket to ten From. Nothing is done when
// the old server still serves (the handoff never happened).
func (u *upgrade) unswitchHandoff(ctx context.Context, _ *switchOut) error {
	old := u.oldProc()
	if old != nil && old.Alive() {
		if h, err := getHealth(ctx, old.URL()); err == nil && h.PID == old.PID {
			// The old server never handed over; if the new one was
			// started and is still around as a successor, it goes.
			return u.stopStrays(ctx, old.PID)
		}
	}
	ctl := handoff.NewControlClient(u.p.DataDir)
	st, err := ctl.Status(ctx)
	if errors.Is(err, handoff.ErrNoServer) {
		// Nothing serves: the new server died. Start ten From.
		return u.restartFrom(ctx)
	}
	if err != nil {
		return fmt.Errorf("ask the running server: %w", err)
	}
	if old != nil && st.PID == old.PID && old.Alive() {
		return u.stopStrays(ctx, st.PID)
	}
	if st.Version == u.p.From {
		return nil // an earlier undo already handed back
	}
	bin, err := u.binaryOfFrom()
	if err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, u.p.HealthTimeout.D()+30*time.Second)
	defer cancel()
	res, err := ctl.Upgrade(hctx, bin, nil)
	if err != nil {
		return fmt.Errorf("hand back to ten %s (%s): %w", u.p.From, bin, err)
	}
	back := ServerProc{PID: res.NewPID, Addr: st.Addr}
	back.StartTime, _ = procStartTime(res.NewPID)
	if _, err := (gate{URL: "http://" + dialAddr(st.Addr), Version: u.p.From, PID: res.NewPID, N: u.p.HealthChecks,
		Timeout: u.p.HealthTimeout.D(), Alive: back.Alive}).wait(ctx); err != nil {
		return fmt.Errorf("ten %s after the hand-back: %w", u.p.From, err)
	}
	gone := ServerProc{PID: st.PID, StartTime: st.ProcStartTime}
	if err := u.waitOldGone(ctx, gone); err != nil {
		u.note("%v", err)
	}
	u.note("ten %s serves again (pid %d), handed back from pid %d", u.p.From, res.NewPID, st.PID)
	return nil
}

// stopStrays stops live `ten serve` processes of this data directory that
// run the staged binary beside the server keep (a successor left by an
// interrupted switch).
func (u *upgrade) stopStrays(ctx context.Context, keep int) error {
	for _, p := range findByExe(u.p.Staged) {
		if p.PID == keep {
			continue
		}
		if err := stopProcess(ctx, p, u.p.DrainTimeout.D()+10*time.Second); err != nil {
			return err
		}
		u.note("stopped the candidate server pid %d left by the interrupted switch", p.PID)
	}
	return nil
}

// restartFrom starts ten From detached with the old server's arguments,
// after restoring the database if ten From cannot run on it.
func (u *upgrade) restartFrom(ctx context.Context) error {
	if u.p.Old == nil {
		return nil
	}
	if _, err := u.restoreDBIfNeeded(ctx); err != nil {
		return err
	}
	bin, err := u.binaryOfFrom()
	if err != nil {
		return err
	}
	s, err := u.startServer(ctx, bin, nil, u.p.From, newNonce(), "")
	if err != nil {
		return fmt.Errorf("start ten %s again: %w", u.p.From, err)
	}
	u.note("ten %s started again (pid %d on %s)", u.p.From, s.PID, s.Addr)
	return nil
}
