package supervisor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Acquire returns the address to dial for one request to service:id and a
// release func to call when the request is done (it keeps the in-flight
// count that holds off the idle stop, and the last-request time).
//
// As in tenement, a request is never refused because the instance is not
// up: an idle, stopped or unknown instance of a configured service is
// started (concurrent callers share one start), and an instance that is
// restarting after a crash is waited for. The wait is bounded by ctx and by
// the transition itself (backoff plus startup_timeout). A failed instance
// returns ErrFailed at once.
func (s *Supervisor) Acquire(ctx context.Context, service, id string) (addr string, release func(), err error) {
	svc, err := s.lookup(service, id)
	if err != nil {
		return "", nil, err
	}
	k := key{service, id}
	confirmed := false // lease renewed for a wake
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return "", nil, ErrShutdown
		}
		acting := s.actingLocked()
		in := s.insts[k]
		if in == nil && !acting {
			// A follower knows instances from the database only: wait for
			// the supervisor to record it, or to become the supervisor.
			if err := s.followLocked(ctx, nil); err != nil {
				return "", nil, err
			}
			continue
		}
		fresh := in == nil
		if fresh {
			in = s.newInst(k, svc)
		}
		if o := in.op; o != nil {
			s.mu.Unlock()
			err := wait(ctx, o)
			if err != nil && ctx.Err() == nil && errors.Is(err, ErrNotSupervisor) {
				continue // supervision moved on; wait as a follower
			}
			if err != nil && (ctx.Err() != nil || o.kind == opSpawn) {
				return "", nil, err
			}
			continue
		}
		// No liveness check here (it was a /proc read per request under
		// the lock): our children's exits are seen by their Wait
		// goroutine, other processes' by the liveness poll, and both mark
		// the process exited first. A request racing the exit and landing
		// before that gets a refused connection, which the router retries.
		if p := in.proc; p != nil && in.live() && p.exited() {
			// Its exit has not been handled yet (onExit is about to run):
			// handle it now, so this request waits for the respawn.
			s.mu.Unlock()
			s.onExit(in, p)
			continue
		}
		if in.live() {
			addr = in.proc.addr()
			in.inFlight++
			in.lastReq = s.now()
			s.mu.Unlock()
			return addr, s.releaser(in), nil
		}
		if in.state == StateFailed {
			err := in.lastErr
			s.mu.Unlock()
			if err == nil {
				err = ErrFailed
			}
			return "", nil, fmt.Errorf("%s: %w", k, err)
		}
		if !acting {
			// Not running, and not ours to start: wait until the database
			// shows the supervisor restarted or woke it, or until this
			// server becomes the supervisor.
			if err := s.followLocked(ctx, in); err != nil {
				return "", nil, err
			}
			continue
		}
		if !confirmed && s.role == roleOwner && s.now().Sub(s.leaseRenewed) >= 2*s.opts.LeaseInterval {
			// Make sure the lease is still ours before starting a process.
			if fresh {
				delete(s.insts, k)
			}
			s.mu.Unlock()
			confirmed = true
			s.mayAct()
			continue
		}
		// Idle, stopped, or new: wake it, if max_instances allows.
		if err := s.admitLocked(in); err != nil {
			if fresh {
				delete(s.insts, k)
			}
			s.mu.Unlock()
			return "", nil, err
		}
		prev := in.state
		if fresh {
			prev = ""
		}
		s.log.Info("waking instance", "instance", k.String(), "from", string(prev))
		o := s.startOpLocked(in, opSpawn, prev, nil, 0)
		s.mu.Unlock()
		if err := wait(ctx, o); err != nil {
			if ctx.Err() == nil && errors.Is(err, ErrNotSupervisor) {
				continue
			}
			return "", nil, err
		}
	}
}

// WakeElsewhereError is what Acquire returns on a server that follows
// another, for an instance that must be started first (idle, stopped or
// not known yet): only the supervising server may start it, and it does
// when it gets the request. The caller sends the request there.
type WakeElsewhereError struct {
	Server string // the supervising server's id
	Addr   string // where it listens
}

func (e *WakeElsewhereError) Error() string {
	return fmt.Sprintf("the instance must be started by the supervising server %s at %s", e.Server, e.Addr)
}

type waitKey struct{}

// WaitForSupervisor returns a context with which Acquire on a follower
// waits for the supervising server to start an instance instead of
// returning a *WakeElsewhereError: for a request that was already sent on
// by another server, so that it is not sent back and forth.
func WaitForSupervisor(ctx context.Context) context.Context {
	return context.WithValue(ctx, waitKey{}, true)
}

// WaitsForSupervisor reports whether ctx came from WaitForSupervisor.
func WaitsForSupervisor(ctx context.Context) bool { return ctx.Value(waitKey{}) != nil }

// wakeElsewhereLocked returns the error that sends a request for in (nil:
// not known here) to the supervising server, or nil when this server
// should wait instead: the supervisor is already starting it, the caller
// asked to wait, or the supervisor's address is unknown or is this
// server's own (a listener handoff, where both accept on one socket and
// the overlap lasts milliseconds). Caller holds s.mu.
func (s *Supervisor) wakeElsewhereLocked(ctx context.Context, in *inst) error {
	if s.role != roleFollower || s.holderAddr == "" || s.holderAddr == s.opts.Addr || WaitsForSupervisor(ctx) {
		return nil
	}
	if in != nil && in.state != StateIdle && in.state != StateStopped && in.state != "" {
		return nil
	}
	return &WakeElsewhereError{Server: s.holder, Addr: s.holderAddr}
}

// followLocked sends a request for in (nil: not known here) to the
// supervising server, or waits for the next change of the follower's
// view. Caller holds s.mu, which followLocked releases.
func (s *Supervisor) followLocked(ctx context.Context, in *inst) error {
	if err := s.wakeElsewhereLocked(ctx, in); err != nil {
		s.mu.Unlock()
		return err
	}
	ch := s.changed
	s.mu.Unlock()
	return s.awaitChange(ctx, ch)
}

func (s *Supervisor) releaser(in *inst) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			in.inFlight--
			in.lastReq = s.now()
			s.mu.Unlock()
		})
	}
}

// AcquireService picks one instance of service by weight and acquires it.
// Candidates are taken from the first non-empty tier: running instances;
// unhealthy ones (still up, perhaps recovering); ones starting or
// restarting (the request waits for them); idle or stopped ones (one is
// woken). Weight-0 and failed instances are never picked. ErrNotFound if
// there is no candidate.
func (s *Supervisor) AcquireService(ctx context.Context, service string) (id, addr string, release func(), err error) {
	if s.cfg.Services[service] == nil {
		return "", "", nil, fmt.Errorf("%w %q", ErrUnknownService, service)
	}
	s.mu.Lock()
	var tiers [4][]*inst
	for _, in := range s.insts {
		if in.service != service || in.weight <= 0 {
			continue
		}
		switch {
		case in.live() && in.state == StateRunning:
			tiers[0] = append(tiers[0], in)
		case in.live():
			tiers[1] = append(tiers[1], in)
		case in.op != nil && in.op.kind != opStop,
			in.op == nil && (in.state == StateStarting || in.state == StateRestarting): // a follower's view
			tiers[2] = append(tiers[2], in)
		case in.op != nil, in.state == StateIdle, in.state == StateStopped:
			tiers[3] = append(tiers[3], in)
		}
	}
	var pick *inst
	for _, t := range tiers {
		if pick = weighted(t); pick != nil {
			break
		}
	}
	s.mu.Unlock()
	if pick == nil {
		return "", "", nil, fmt.Errorf("service %q: %w: no instance with weight > 0", service, ErrNotFound)
	}
	addr, release, err = s.Acquire(ctx, service, pick.id)
	return pick.id, addr, release, err
}

// weighted picks one instance at random in proportion to its weight.
func weighted(c []*inst) *inst {
	total := 0
	for _, in := range c {
		total += in.weight
	}
	if total <= 0 {
		return nil
	}
	n := rand.IntN(total)
	for _, in := range c {
		if n -= in.weight; n < 0 {
			return in
		}
	}
	return c[len(c)-1]
}

// idleLoop stops instances that have had no request for their
// idle_timeout, to scale to zero.
func (s *Supervisor) idleLoop(ctx context.Context) {
	every(ctx, s.opts.IdleInterval, func() { s.stopIdle(ctx) })
}

// stopIdle stops every instance idle for longer than its idle_timeout with
// no request in flight. The decision and the start of the stop are made
// under one lock, so a request cannot slip in between: Acquire either got
// in first (in flight, not idle) or finds the stop in progress and waits
// to wake the instance again.
func (s *Supervisor) stopIdle(ctx context.Context) {
	now := s.now()
	s.mu.Lock()
	if !s.actingLocked() {
		s.mu.Unlock()
		return
	}
	var todo []*inst
	for _, in := range s.insts {
		if in.svc.IdleTimeout <= 0 || !in.live() || in.inFlight > 0 {
			continue
		}
		last := in.lastReq
		if in.startedAt.After(last) {
			last = in.startedAt
		}
		if now.Sub(last) >= time.Duration(in.svc.IdleTimeout)*time.Second {
			todo = append(todo, in)
		}
	}
	s.mu.Unlock()
	if len(todo) == 0 || !s.mayAct() {
		return
	}
	for _, in := range todo {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			// Under the server's lifetime, not the loop's: a hand-over
			// stops the loop but lets a stop under way finish.
			s.idleStop(s.life, in, now)
		}()
	}
}

func (s *Supervisor) idleStop(ctx context.Context, in *inst, decided time.Time) {
	s.mu.Lock()
	// Re-check under the lock that starts the stop.
	last := in.lastReq
	if in.startedAt.After(last) {
		last = in.startedAt
	}
	if !in.live() || in.inFlight > 0 || s.insts[in.key] != in || s.closed || !s.actingLocked() ||
		decided.Sub(last) < time.Duration(in.svc.IdleTimeout)*time.Second {
		s.mu.Unlock()
		return
	}
	o := &op{kind: opStop, done: make(chan struct{})}
	in.op = o
	p := in.proc
	p.stopping = true
	s.mu.Unlock()

	s.log.Info("stopping idle instance", "instance", in.key.String(), "idle", decided.Sub(last).Round(time.Second))
	err := s.terminate(ctx, p)

	s.mu.Lock()
	s.releasePortLocked(p.port, in.key)
	in.proc = nil
	in.op = nil
	in.state = StateIdle
	in.health = HealthUnknown
	o.err = err
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("idle stop", "instance", in.key.String(), "err", err)
	}
	if err := s.persist(context.WithoutCancel(ctx), in); err != nil {
		s.log.Warn("record instance state", "instance", in.key.String(), "err", err)
	}
	s.emit(EventIdle, in, err)
	close(o.done)
}

// listed reports whether List shows the instance. An instance stopped by
// idle_timeout is not: tenement's reap_idle_instances stops it with the
// same stop as `ten stop`, which removes it from the map that its
// /api/instances and `ten ps` list (tenement hypervisor.rs
// reap_idle_instances and stop; cli/src/server.rs list_instances, which
// lists hypervisor.list()). ten keeps its record, unlike
// tenement, so that the next request wakes it with its weight (a weight-0
// instance of a blue/green pair must not come back at 100) and a
// successor server knows it; it shows again once woken. Caller holds s.mu.
func (in *inst) listed() bool {
	return in.state != StateIdle || in.op != nil
}
