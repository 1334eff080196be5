package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tenement/ten/runtime/handoff"
)

// switchOut is the switch step's output: the servers before and after,
// and what the strategy needs to undo the switch.
type switchOut struct {
	Strategy   string      `json:"strategy"`
	Old        *ServerProc `json:"old,omitempty"`
	New        ServerProc  `json:"new"`
	DowntimeMS int64       `json:"downtime_ms,omitempty"`
	Upstreams  []string    `json:"proxy_upstreams_before,omitempty"`
	Snapshot   string      `json:"proxy_snapshot,omitempty"` // file
}

// doSwitch makes sure the staged binary is still the verified candidate,
// then lets the strategy switch.
func (u *upgrade) doSwitch(ctx context.Context) (any, error) {
	if err := u.verifyStaged(); err != nil {
		return nil, err
	}
	return u.s.switchOver(ctx, u)
}

// undoSwitch lets the strategy undo the switch, with its output when the
// switch finished.
func (u *upgrade) undoSwitch(ctx context.Context, raw json.RawMessage) error {
	var out *switchOut
	if raw != nil {
		out = &switchOut{}
		if err := json.Unmarshal(raw, out); err != nil {
			return err
		}
	}
	return u.s.undo(ctx, u, out)
}

// currentFrom is the server serving ten From now: the one the upgrade
// started from, or the one an undo started in its place (a resumed switch
// runs after such an undo). Its arguments and directory are the recorded
// ones.
func (u *upgrade) currentFrom(ctx context.Context) (*ServerProc, error) {
	old := u.oldProc()
	if old == nil {
		return nil, nil
	}
	st, err := handoff.NewControlClient(u.p.DataDir).Status(ctx)
	if err != nil {
		if old.Alive() {
			return old, nil
		}
		return nil, fmt.Errorf("no server answers on %s: %w", u.p.DataDir, err)
	}
	if st.PID == old.PID && old.Alive() {
		return old, nil
	}
	if st.Version != u.p.From {
		return nil, fmt.Errorf("the server on %s is now pid %d (ten %s), not ten %s", u.p.DataDir, st.PID, st.Version, u.p.From)
	}
	cur := *old
	cur.PID, cur.StartTime, cur.Addr = st.PID, st.ProcStartTime, st.Addr
	return &cur, nil
}

// oldProc is the server that ran before the upgrade.
func (u *upgrade) oldProc() *ServerProc {
	o := u.p.Old
	if o == nil {
		return nil
	}
	return &ServerProc{PID: o.PID, StartTime: o.ProcStartTime, Addr: o.Addr, Binary: o.Executable, Args: o.Args, Dir: o.Dir}
}

// oldServing is the server that ran before the upgrade while it is alive
// (else nil), and whether it still answers /health itself.
func (u *upgrade) oldServing(ctx context.Context) (*ServerProc, bool) {
	old := u.oldProc()
	if !old.Alive() {
		return nil, false
	}
	h, err := getHealth(ctx, old.URL())
	return old, err == nil && h.PID == old.PID
}

// oldDescription names the server running before the upgrade, for the plan.
func oldDescription(p *Params) string {
	if p.Old == nil {
		return "no server is running"
	}
	return fmt.Sprintf("pid %d (ten %s) on %s", p.Old.PID, p.Old.Version, p.Old.Addr)
}

// oldURL is the old server's own address, where clients reach ten when no
// proxy stands in front; "" when none ran.
func oldURL(p *Params) string {
	if p.Old == nil {
		return ""
	}
	return p.Old.URL()
}

// baseArgs are the arguments servers are started with: the old server's.
func (u *upgrade) baseArgs() ([]string, string, []string) {
	if o := u.p.Old; o != nil {
		env := o.Env
		if env == nil {
			env = u.p.OldEnv
		}
		return o.Args, o.Dir, env
	}
	args := []string{"serve", "--data-dir", u.p.DataDir}
	if u.p.ConfigPath != "" {
		args = append(args, "--config", u.p.ConfigPath)
	}
	return args, u.p.DataDir, nil
}

// startServer starts bin as a detached `ten serve` with args and a fresh
// nonce, waits for it on the control socket (to learn its address) and
// health-gates it.
func (u *upgrade) startServer(ctx context.Context, bin string, args []string, version, nonce string, addr string) (*started, error) {
	base, dir, env := u.baseArgs()
	if args == nil {
		args = base
	}
	s, err := startDetached(bin, args, dir, serveEnv(env, envHealthNonce+"="+nonce), u.p.ServeLog)
	if err != nil {
		return nil, err
	}
	s.Nonce = nonce
	if addr == "" {
		addr, err = u.addrOf(ctx, s)
	}
	if err == nil {
		s.Addr = addr
		_, err = gate{URL: s.URL(), Version: version, PID: s.PID, Nonce: nonce, N: u.p.HealthChecks,
			Timeout: u.p.HealthTimeout.D(), Exited: s.exited}.wait(ctx)
		if err != nil {
			err = fmt.Errorf("%w; its log: %s%s", err, u.p.ServeLog, logTail(u.p.ServeLog))
		}
	}
	if err != nil {
		stopProcess(context.WithoutCancel(ctx), s.ServerProc, 10*time.Second)
		return nil, err
	}
	return s, nil
}

// addrOf waits until the control socket is answered by s and returns the
// address it serves on.
func (u *upgrade) addrOf(ctx context.Context, s *started) (string, error) {
	ctl := handoff.NewControlClient(u.p.DataDir)
	deadline := time.Now().Add(u.p.HealthTimeout.D())
	for {
		st, err := ctl.Status(ctx)
		if err == nil && st.PID == s.PID {
			return st.Addr, nil
		}
		select {
		case <-s.exited:
			return "", fmt.Errorf("%w: it exited (%v); its log: %s%s", errNotHealthy, s.err, u.p.ServeLog, logTail(u.p.ServeLog))
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%w within %s: it never answered on the control socket; its log: %s%s", errNotHealthy, u.p.HealthTimeout.D(), u.p.ServeLog, logTail(u.p.ServeLog))
		}
	}
}

// logTail returns the last lines of a log file for an error message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return "; last lines:\n    " + strings.Join(lines, "\n    ")
}

// checkPointOfNoReturn marks the journal when the live database can no
// longer be used by ten From.
func (u *upgrade) checkPointOfNoReturn(ctx context.Context) {
	need, st, err := u.needsDBRestore(ctx)
	if err != nil {
		u.log.Warn("could not inspect the live database", "err", err)
		return
	}
	if need {
		if err := u.j.MarkPointOfNoReturn(context.WithoutCancel(ctx), u.id); err != nil {
			u.log.Warn("could not mark the point of no return", "err", err)
		}
		u.note("point of no return: the database is at schema %d (floor %d), past ten %s; a rollback restores the backup", st.Version, st.Floor, u.p.From)
	}
}

// waitOldGone waits for the old server to exit after a handoff or SIGTERM.
func (u *upgrade) waitOldGone(ctx context.Context, p ServerProc) error {
	if waitExit(ctx, p, u.p.DrainTimeout.D()+10*time.Second) {
		return nil
	}
	return fmt.Errorf("pid %d is still running %s after it was told to drain", p.PID, u.p.DrainTimeout.D()+10*time.Second)
}

// stop stops p, giving it the drain timeout.
func (u *upgrade) stop(ctx context.Context, p ServerProc) error {
	return stopProcess(ctx, p, u.p.DrainTimeout.D()+10*time.Second)
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

// candidates are the live servers this upgrade started: the one recorded
// in the switch output, and any process carrying the upgrade's nonce.
func (u *upgrade) candidates(out *switchOut) []ServerProc {
	procs := findByNonce(u.p.Nonce)
	if out != nil && out.New.PID != 0 {
		procs = append(procs, out.New)
	}
	var live []ServerProc
	for _, p := range procs {
		if p.Alive() {
			live = append(live, p)
		}
	}
	return live
}

// stopCandidates stops the servers this upgrade started.
func (u *upgrade) stopCandidates(ctx context.Context, out *switchOut) error {
	for _, p := range u.candidates(out) {
		if err := u.stop(ctx, p); err != nil {
			return fmt.Errorf("stop the candidate: %w", err)
		}
		u.note("stopped the candidate server (pid %d)", p.PID)
	}
	return nil
}

// hostOf is the host part of addr, without brackets.
func hostOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			h := addr[:i]
			if len(h) > 1 && h[0] == '[' {
				h = h[1 : len(h)-1]
			}
			return h
		}
	}
	return addr
}
