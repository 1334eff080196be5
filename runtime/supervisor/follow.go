package supervisor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenement/ten/internal/proc"
)

const (
	maxFollowInterval = 100 * time.Millisecond // a follower's full pass: lease and instances
	handOverPoll      = 10 * time.Millisecond  // how long a handed-over lease may wait for its taker
)

// promote makes a follower that has just taken the lease the supervisor:
// it adopts every instance as Start does (live processes, verified by pid
// and start time, are adopted; dead ones are respawned if configured,
// restored idle otherwise; failed ones stay failed), records itself as
// their owner, starts the supervision loops and spawns the [instances]
// that are not up.
func (s *Supervisor) promote(ctx context.Context) error {
	rows, checks, err := s.loadChecked(ctx, true)
	if err != nil {
		// The lease names us: the next tick renews it and tries again.
		return err
	}
	s.mu.Lock()
	if s.closed || s.role != roleFollower {
		s.mu.Unlock()
		return nil
	}
	adopted := s.adoptRowsLocked(rows, checks, true)
	s.becomeOwnerLocked()
	s.wg.Add(1) // for spawnConfigured, below: before Shutdown can wait
	s.mu.Unlock()

	s.log.Info("now supervising", "instances", len(adopted))
	var errs []error
	for _, in := range adopted {
		if err := s.finishAdoption(ctx, in); err != nil {
			errs = append(errs, err)
		}
	}
	s.announceOwner()
	go func() {
		defer s.wg.Done()
		s.spawnConfigured(s.life)
	}()
	return errors.Join(errs...)
}

// followInterval is how often a follower polls the lease and re-reads
// the instances.
func (s *Supervisor) followInterval() time.Duration {
	return min(s.opts.LeaseInterval, s.opts.LivenessInterval, maxFollowInterval)
}

// followLoop is a follower's: take the lease when it is handed over or its
// holder is dead, else keep the picture of the instances current.
//
// Between two full passes it looks, more often and with one read, for a
// lease handed to it: until this server takes it nobody supervises the
// tenants, and the old server waits for it before it stops accepting.
func (s *Supervisor) followLoop(ctx context.Context) {
	t := time.NewTicker(s.followInterval())
	defer t.Stop()
	quick := time.NewTicker(handOverPoll)
	defer quick.Stop()
	for {
		full := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			full = true
		case <-quick.C:
		}
		s.mu.Lock()
		follower, handed, closed := s.role == roleFollower, s.handedTo != "", s.closed
		s.mu.Unlock()
		if !follower || closed {
			continue
		}
		if !full && (handed || !s.handedToMe(ctx)) {
			continue
		}
		if !handed {
			won, err := s.tryAcquire(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("supervisor lease poll", "err", err)
			}
			if won {
				if err := s.promote(ctx); err != nil && ctx.Err() == nil {
					s.log.Error("taking over supervision", "err", err)
				}
				continue
			}
		}
		if err := s.refreshView(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("refresh instances from the database", "err", err)
		}
	}
}

// handedToMe reports whether the lease names this server as a successor
// that has not taken it yet.
func (s *Supervisor) handedToMe(ctx context.Context) bool {
	l, ok, err := readLease(ctx, s.opts.DB)
	return err == nil && ok && l.holder == s.opts.ServerID && l.acquired == 0
}

// procCheck is whether a row's process is alive, looked up outside s.mu.
type procCheck map[key]bool

// loadChecked reads instance_state and verifies the rows' processes by pid
// and start time. all=false skips rows whose process the follower's view
// already knows, alive.
func (s *Supervisor) loadChecked(ctx context.Context, all bool) ([]row, procCheck, error) {
	rows, err := s.loadRows(ctx)
	if err != nil {
		return nil, nil, err
	}
	known := map[key]bool{}
	if !all {
		s.mu.Lock()
		for _, r := range rows {
			if in := s.insts[r.key]; in != nil && in.proc != nil && in.proc.pid == r.pid &&
				in.proc.startTime == r.startTime && !in.proc.exited() {
				known[r.key] = true
			}
		}
		s.mu.Unlock()
	}
	out := procCheck{}
	for _, r := range rows {
		if r.pid <= 0 {
			continue
		}
		if known[r.key] {
			out[r.key] = true
			continue
		}
		out[r.key] = proc.Same(r.pid, r.startTime)
	}
	return rows, out, nil
}

// refreshView makes a follower's instances what instance_state says,
// keeping their in-flight counts: a process is routed to only if the row
// says it is running or unhealthy and it is alive with the recorded start
// time. Nothing is written.
func (s *Supervisor) refreshView(ctx context.Context) error {
	rows, checks, err := s.loadChecked(ctx, false)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.role != roleFollower || s.closed {
		return nil
	}
	seen := map[key]bool{}
	for _, r := range rows {
		svc := s.cfg.Services[r.service]
		if svc == nil || !storedName(r.id) {
			continue
		}
		seen[r.key] = true
		in := s.insts[r.key]
		if in == nil {
			in = s.newInst(r.key, svc)
		}
		if in.op != nil {
			continue // ours, from before a hand-over; it settles on its own
		}
		s.viewRowLocked(in, r, checks[r.key])
	}
	for k, in := range s.insts {
		if !seen[k] && in.op == nil {
			delete(s.insts, k)
		}
	}
	s.views.Add(1)
	s.signalLocked()
	return nil
}

// viewRowLocked applies one row to a follower's instance. Caller holds
// s.mu.
func (s *Supervisor) viewRowLocked(in *inst, r row, alive bool) {
	in.weight = r.weight
	in.restarts = r.restarts
	in.owner = r.owner
	in.startedAt = r.startedAt
	if r.logPath != "" {
		in.logPath = r.logPath
	}
	state := r.status
	var p *process
	switch state {
	case StateRunning, StateUnhealthy:
		if r.pid > 0 && alive {
			p = in.proc
			if p == nil || p.pid != r.pid || p.startTime != r.startTime {
				p = &process{pid: r.pid, port: r.port, startTime: r.startTime, adopted: true, done: make(chan struct{})}
			}
		} else {
			// Dead, and the supervisor has not written so yet: it will
			// restart it (or not); until then there is nowhere to route.
			state = StateRestarting
		}
	case StateStarting, StateRestarting, StateIdle, StateStopped, StateFailed:
	default:
		state = StateStopped
	}
	in.proc = p
	in.adopted = p == nil || p.adopted
	in.state = state
	switch {
	case p != nil && state == StateRunning:
		in.health = HealthHealthy
	case p != nil:
		in.health = HealthUnhealthy
	default:
		in.health = HealthUnknown
	}
	if state == StateFailed {
		if in.lastErr == nil {
			in.lastErr = fmt.Errorf("%w (as recorded by the supervising server)", ErrFailed)
		}
	} else if state == StateRunning {
		in.lastErr = nil
	}
}
