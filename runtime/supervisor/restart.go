package supervisor

import (
	"errors"
	"fmt"
	"time"

	"github.com/tenement/ten/runtime/config"
)

// onExit handles the end of a process nobody asked to stop: the restart
// policy decides between restarting (with backoff), stopping, and failing.
func (s *Supervisor) onExit(in *inst, p *process) {
	act := s.mayAct()
	s.mu.Lock()
	// After Shutdown the instance belongs to whoever adopts it: a child
	// dying now is not ours to restart or record.
	if in.proc != p || p.stopping || s.insts[in.key] != in || s.closed {
		s.mu.Unlock()
		return
	}
	if !act || !s.actingLocked() {
		// Another server supervises: it restarts the instance (or not).
		// Stop routing to the dead process until the database shows what
		// the supervisor did.
		s.releasePortLocked(p.port, in.key)
		in.proc = nil
		in.health = HealthUnknown
		in.lastErr = p.exitErr
		if in.op == nil {
			in.state = StateRestarting
		}
		s.signalLocked()
		s.mu.Unlock()
		s.log.Info("instance exited; left to the supervising server", "instance", in.key.String(), "pid", p.pid)
		return
	}
	ev, err := s.exitedLocked(in, p)
	s.mu.Unlock()
	s.log.Warn("instance exited", "instance", in.key.String(), "pid", p.pid, "err", err)
	s.emit(EventExited, in, err)
	if ev != "" {
		s.emit(ev, in, err)
	}
	if perr := s.persist(s.life, in); perr != nil && s.life.Err() == nil {
		s.log.Warn("record instance state", "instance", in.key.String(), "err", perr)
	}
}

// exitedLocked settles an instance whose process p is gone and returns the
// follow-up event (restarted, failed, or none). Caller holds s.mu.
func (s *Supervisor) exitedLocked(in *inst, p *process) (EventKind, error) {
	err := p.exitErr
	if err == nil && p.adopted {
		err = errors.New("adopted process exited")
	}
	s.releasePortLocked(p.port, in.key)
	in.proc = nil
	in.health = HealthUnknown
	in.lastErr = err
	if in.op != nil || s.closed {
		return "", err // a transition in progress owns the instance
	}
	if !s.actingLocked() {
		in.state = StateRestarting // the supervising server restarts it
		return "", err
	}
	restart := false
	switch in.svc.Restart {
	case config.RestartAlways:
		restart = true
	case config.RestartNever:
	default: // on-failure
		restart = p.exitErr != nil || p.adopted
	}
	if !restart {
		in.state = StateStopped
		return "", err
	}
	if err == nil {
		err = errors.New("exited with status 0")
	}
	if s.scheduleRestartLocked(in, err) {
		return "", err // EventRestarted comes when it is up
	}
	return EventFailed, err
}

// scheduleRestartLocked counts a crash and starts a restart after the
// backoff, or marks the instance failed once max_restarts restarts have
// happened inside restart_window. It reports whether a restart was
// scheduled. Caller holds s.mu and has checked actingLocked.
func (s *Supervisor) scheduleRestartLocked(in *inst, cause error) bool {
	st := s.cfg.Settings
	now := s.now()
	window := time.Duration(st.RestartWindow) * time.Second
	kept := in.crashes[:0]
	for _, t := range in.crashes {
		if now.Sub(t) < window {
			kept = append(kept, t)
		}
	}
	in.crashes = kept
	if len(in.crashes) >= st.MaxRestarts || s.closed {
		in.state = StateFailed
		in.health = HealthUnhealthy
		in.lastErr = fmt.Errorf("%w: %d restarts within %s; last: %v", ErrFailed, len(in.crashes), window, cause)
		s.log.Error("instance failed", "instance", in.key.String(), "err", in.lastErr)
		return false
	}
	delay := backoff(len(in.crashes), st.BackoffBaseMS, st.BackoffMaxMS)
	in.crashes = append(in.crashes, now)
	in.restarts++
	s.startOpLocked(in, opRestart, in.state, nil, delay)
	return true
}

// backoff is tenement's delay before restart number n+1 (n restarts
// already in the window): none for the first, then base * 2^(n-1), capped
// at max.
func backoff(n, baseMS, maxMS int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := time.Duration(baseMS) * time.Millisecond
	limit := time.Duration(maxMS) * time.Millisecond
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
