package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/runtime/handoff"
)

// handoffStrategy asks the running server to start the new binary with its
// listening socket inherited: no request is refused, and no proxy is
// needed.
type handoffStrategy struct{}

func (handoffStrategy) name() string   { return StrategyHandoff }
func (handoffStrategy) overlaps() bool { return true }

func (handoffStrategy) usable(old *RunningServer, _ string) error {
	if old == nil {
		return errors.New("handoff needs a running server")
	}
	if !old.HasCapability("handoff") {
		return fmt.Errorf("the running server (ten %s) does not support handoff (capabilities %v): use --strategy proxy or restart", old.Version, old.Capabilities)
	}
	return nil
}

func (handoffStrategy) prepare(*Params) error { return nil }

func (handoffStrategy) probeURL(p *Params) string { return oldURL(p) }

func (handoffStrategy) describe(p *Params) PlanStep {
	sock := filepath.Join(p.DataDir, "ten.sock")
	return PlanStep{
		Does: fmt.Sprintf("ask the running server (%s) over %s to start %s with its listening socket; health-gate the new one (%d answers with version %s and its pid within %s); the old one drains and exits",
			oldDescription(p), sock, p.Staged, p.HealthChecks, p.To, p.HealthTimeout.D()),
		Commands: []string{`{"op":"upgrade","binary":"` + p.Staged + `"} -> ` + sock},
		Undo:     "hand the socket back to ten " + p.From + " the same way",
	}
}

// switchOver hands the socket to the staged binary. The old server keeps
// serving until the new one is ready, then drains and exits; if the new
// one fails to start, the old one goes on as if nothing happened.
func (handoffStrategy) switchOver(ctx context.Context, u *upgrade) (any, error) {
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
	start := time.Now()
	nw, err := u.handOver(ctx, ctl, u.p.Staged, u.p.To, old.URL(), st.Addr)
	if err != nil {
		return nil, err
	}
	u.say("  %-14s new server pid %d ready %s after the request; old pid %d draining", "", nw.PID, time.Since(start).Round(time.Millisecond), old.PID)
	if err := u.waitOldGone(ctx, *old); err != nil {
		u.note("%v", err)
	}
	return switchOut{Strategy: u.p.Strategy, Old: old, New: nw}, nil
}

// undo puts ten From back the same way: the server now running (ten To)
// is asked to hand its socket to ten From. Nothing is done when the old
// server still serves (the handoff never happened).
func (handoffStrategy) undo(ctx context.Context, u *upgrade, _ *switchOut) error {
	if old, serving := u.oldServing(ctx); serving {
		// The old server never handed over; if the new one was started
		// and is still around as a successor, it goes.
		return u.stopStrays(ctx, old.PID)
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
	if old := u.oldProc(); old != nil && st.PID == old.PID && old.Alive() {
		return u.stopStrays(ctx, st.PID)
	}
	if st.Version == u.p.From {
		return nil // an earlier undo already handed back
	}
	bin, err := u.binaryOfFrom()
	if err != nil {
		return err
	}
	back, err := u.handOver(ctx, ctl, bin, u.p.From, "http://"+dialAddr(st.Addr), st.Addr)
	if err != nil {
		return fmt.Errorf("hand back to ten %s: %w", u.p.From, err)
	}
	if err := u.waitOldGone(ctx, ServerProc{PID: st.PID, StartTime: st.ProcStartTime}); err != nil {
		u.note("%v", err)
	}
	u.note("ten %s serves again (pid %d), handed back from pid %d", u.p.From, back.PID, st.PID)
	return nil
}

// handOver asks the server on the control socket to hand its socket to
// bin, and health-gates the successor at url as ten version.
func (u *upgrade) handOver(ctx context.Context, ctl *handoff.ControlClient, bin, version, url, addr string) (ServerProc, error) {
	hctx, cancel := context.WithTimeout(ctx, u.p.HealthTimeout.D()+30*time.Second)
	defer cancel()
	res, err := ctl.Upgrade(hctx, bin, nil)
	if err != nil {
		return ServerProc{}, fmt.Errorf("handoff to %s: %w", bin, err)
	}
	nw := ServerProc{PID: res.NewPID, Addr: addr, Binary: bin}
	nw.StartTime, _ = proc.StartTime(res.NewPID)
	_, err = gate{URL: url, Version: version, PID: nw.PID, N: u.p.HealthChecks,
		Timeout: u.p.HealthTimeout.D(), Alive: nw.Alive}.wait(ctx)
	return nw, err
}

// stopStrays stops live `ten serve` processes of this data directory that
// run the staged binary beside the server keep (a successor left by an
// interrupted switch).
func (u *upgrade) stopStrays(ctx context.Context, keep int) error {
	for _, p := range findByExe(u.p.Staged) {
		if p.PID == keep {
			continue
		}
		if err := u.stop(ctx, p); err != nil {
			return err
		}
		u.note("stopped the candidate server pid %d left by the interrupted switch", p.PID)
	}
	return nil
}
