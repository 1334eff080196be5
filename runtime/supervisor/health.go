package supervisor

import (
	"context"
	"fmt"

	"github.com/tenement/ten/runtime/config"
)

// healthLoop probes every running instance each HealthInterval.
func (s *Supervisor) healthLoop(ctx context.Context) {
	every(ctx, s.opts.HealthInterval, func() { s.checkAll(ctx) })
}

// checkAll probes the settled instances concurrently (a few at a time), so
// one slow tenant does not delay the verdict on the others.
func (s *Supervisor) checkAll(ctx context.Context) {
	s.mu.Lock()
	var todo []*inst
	for _, in := range s.insts {
		if in.live() {
			todo = append(todo, in)
		}
	}
	s.mu.Unlock()
	parallel(16, todo, func(in *inst) { s.checkOne(ctx, in) })
}

// checkOne probes in once and acts on the result: a failure marks it
// unhealthy, and UnhealthyThreshold failures in a row restart it (unless
// its policy is "never").
func (s *Supervisor) checkOne(ctx context.Context, in *inst) {
	s.mu.Lock()
	p := in.proc
	ok := in.live()
	s.mu.Unlock()
	if !ok {
		return
	}
	err := s.probe(ctx, in.svc, p)
	if ctx.Err() != nil {
		return
	}
	act := s.mayAct()

	s.mu.Lock()
	if in.proc != p || !in.live() || s.insts[in.key] != in || s.closed {
		s.mu.Unlock()
		return // changed while we probed, or no longer ours to act on
	}
	if !act || !s.actingLocked() {
		// Another server supervises: report what we saw, decide nothing.
		if err == nil {
			in.health = HealthHealthy
		} else {
			in.health = HealthUnhealthy
			in.lastErr = err
		}
		s.mu.Unlock()
		return
	}
	changed := false
	var ev EventKind
	if err == nil {
		changed = in.health != HealthHealthy || in.state != StateRunning
		in.health = HealthHealthy
		in.state = StateRunning
		in.healthFails = 0
	} else {
		in.healthFails++
		changed = in.health != HealthUnhealthy || in.state != StateUnhealthy
		in.health = HealthUnhealthy
		in.state = StateUnhealthy
		in.lastErr = err
		if changed {
			ev = EventUnhealthy
		}
		if in.healthFails >= s.opts.UnhealthyThreshold && in.svc.Restart != config.RestartNever {
			changed = true
			p.stopping = true
			cause := fmt.Errorf("%d failed health checks, last: %w", in.healthFails, err)
			if s.scheduleRestartOfLocked(in, p, cause) {
				ev = EventUnhealthy
			} else {
				ev = EventFailed
			}
		}
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("health check failed", "instance", in.key.String(), "err", err)
	}
	if ev != "" {
		s.emit(ev, in, err)
	}
	if changed {
		if perr := s.persist(ctx, in); perr != nil {
			s.log.Warn("record instance state", "instance", in.key.String(), "err", perr)
		}
	}
}

// scheduleRestartOfLocked is scheduleRestartLocked for an instance whose
// process p is still running (unhealthy): the restart transition
// terminates p first; if the instance has failed instead, p is terminated
// in the background. Caller holds s.mu and has set p.stopping.
func (s *Supervisor) scheduleRestartOfLocked(in *inst, p *process, cause error) bool {
	if s.scheduleRestartLocked(in, cause) {
		o := in.op
		// scheduleRestartLocked started the transition with no process to
		// stop; hand it p. The goroutine has not looked yet: it needs s.mu.
		o.old = p
		return true
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.terminate(s.life, p); err != nil {
			s.log.Warn("stop failed instance", "instance", in.key.String(), "err", err)
		}
		s.mu.Lock()
		s.dropProcLocked(in, p)
		s.mu.Unlock()
		if err := s.persist(context.WithoutCancel(s.life), in); err != nil {
			s.log.Warn("record instance state", "instance", in.key.String(), "err", err)
		}
	}()
	return false
}

// CheckHealth probes service:id now, applies the result as the health loop
// would, and returns the updated snapshot. An instance with no running
// process is returned as it is. On a follower the probe only sets Health:
// restarting is the supervisor's decision.
func (s *Supervisor) CheckHealth(ctx context.Context, service, id string) (Instance, error) {
	in, err := s.find(service, id)
	if err != nil {
		return Instance{}, err
	}
	s.checkOne(ctx, in)
	inst, _ := s.Get(service, id)
	return inst, nil
}
