package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/tenement/ten/runtime/logs"
)

// startOpLocked begins a transition that (after terminating old, if any,
// and waiting delay) launches a process and waits for it to be ready.
// Caller holds s.mu.
func (s *Supervisor) startOpLocked(in *inst, kind opKind, prev State, old *process, delay time.Duration) *op {
	ctx, cancel := context.WithCancel(s.life)
	o := &op{kind: kind, prev: prev, old: old, done: make(chan struct{}), ctx: ctx, cancel: cancel}
	in.op = o
	switch kind {
	case opSpawn:
		in.state = StateStarting
	default:
		in.state = StateRestarting
	}
	in.health = HealthUnknown
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		s.runStart(ctx, in, o, delay)
	}()
	return o
}

// runStart performs a start transition and settles the instance.
func (s *Supervisor) runStart(ctx context.Context, in *inst, o *op, delay time.Duration) {
	var err error
	s.mu.Lock()
	old := o.old
	s.mu.Unlock()
	if old != nil {
		// Not cut short by a cancelled transition: the old process still
		// deserves its grace period.
		if terr := s.terminate(context.WithoutCancel(ctx), old); terr != nil {
			s.log.Warn("stop before restart", "instance", in.key.String(), "err", terr)
		}
		s.mu.Lock()
		s.dropProcLocked(in, old)
		s.mu.Unlock()
	}
	if delay > 0 {
		s.log.Info("restarting after backoff", "instance", in.key.String(), "delay", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			err = ctx.Err()
		}
	}
	if err == nil {
		// The last moment to find that this server no longer supervises
		// (a hand-over, a lost lease): after it, the process exists and the
		// transition runs to its end.
		s.mu.Lock()
		if !s.actingLocked() && !s.closed {
			err = errNotActing
		} else {
			o.launched = true
		}
		s.mu.Unlock()
	}
	var p *process
	var healthErr error
	if err == nil {
		p, healthErr, err = s.launchReady(ctx, in)
	}

	type event struct {
		kind EventKind
		err  error
	}
	var events []event
	forget := false
	s.mu.Lock()
	if err == nil && p.exited() {
		// It died between the readiness check and now, and its exit was
		// ignored because this transition owned the instance.
		err = fmt.Errorf("exited right after becoming ready: %v", p.exitErr)
		s.releasePortLocked(p.port, in.key)
	}
	switch {
	case err == nil:
		now := s.now()
		in.proc = p
		in.state = StateRunning
		in.health = HealthHealthy
		in.healthFails = 0
		in.startedAt = now
		in.lastReq = now // the idle clock starts at spawn
		in.adopted = false
		in.owner = s.opts.ServerID
		in.lastErr = nil
		events = append(events, event{EventReady, nil})
		if healthErr != nil {
			// The first of the failed checks that restart it (tenement
			// hypervisor.rs check_health: the third failure in a row makes it
			// unhealthy and run_health_checks restarts it).
			in.state, in.health, in.healthFails, in.lastErr = StateUnhealthy, HealthUnhealthy, 1, healthErr
			events = append(events, event{EventUnhealthy, healthErr})
		}
		switch {
		case o.kind == opRestart || o.kind == opManual:
			events = append(events, event{EventRestarted, nil})
		case o.prev == StateIdle:
			events = append(events, event{EventWoken, nil})
		}
	default:
		if p != nil {
			s.dropProcLocked(in, p)
		}
		in.lastErr = err
		in.health = HealthUnknown
		// When supervision moved to another server meanwhile, that server
		// finds this instance dead and handles it as after a restart of
		// the server; this one settles it as below, but restarts nothing.
		moved := !s.actingLocked() && !s.closed
		switch {
		case !moved && ctx.Err() != nil:
			// Cancelled by Stop or Shutdown, which settle it themselves.
			in.state = StateStopped
		case o.kind == opSpawn && o.prev == "":
			// A first start that failed leaves nothing behind: the caller
			// gets the error, and a later request may try again.
			in.state = StateStopped
			if s.insts[in.key] == in {
				delete(s.insts, in.key)
				forget = true
			}
		case o.kind == opSpawn:
			in.state = o.prev // e.g. a wake that failed stays idle
		case moved:
			in.state = StateRestarting
		default:
			// A restart that did not come up is one more crash.
			in.op = nil
			if !s.scheduleRestartLocked(in, err) {
				events = append(events, event{EventFailed, in.lastErr})
			}
		}
	}
	if in.op == o {
		in.op = nil
	}
	if err != nil {
		o.err = fmt.Errorf("%s: %w", in.key, err)
	}
	s.mu.Unlock()

	// Record before releasing the waiters: when Spawn returns, the
	// database says what it says.
	bg := context.WithoutCancel(ctx)
	if forget {
		if derr := s.deleteRow(bg, in.key, true); derr != nil {
			s.log.Warn("forget instance", "instance", in.key.String(), "err", derr)
		}
		// Keep what it said on the way out: it explains the failure.
		if uerr := s.indexer.UnwatchFiles(bg, logs.FilesFromPath(in.logPath)); uerr != nil {
			s.log.Warn("final log index", "instance", in.key.String(), "err", uerr)
		}
	} else if perr := s.persist(bg, in); perr != nil {
		s.log.Warn("record instance state", "instance", in.key.String(), "err", perr)
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("instance did not start", "instance", in.key.String(), "err", err)
	}
	if err == nil {
		s.log.Info("instance ready", "instance", in.key.String(), "pid", p.pid, "port", p.port)
	}
	for _, e := range events {
		s.emit(e.kind, in, e.err)
	}
	close(o.done)
}

// launchReady launches in's process and waits until it is ready; healthErr
// is its first health check. A start that fails is killed, and retried on
// another port when someone else took the tenant's.
func (s *Supervisor) launchReady(ctx context.Context, in *inst) (p *process, healthErr, err error) {
	for attempt := 1; ; attempt++ {
		p, err = s.launch(ctx, in)
		if err != nil {
			return p, nil, err
		}
		s.emit(EventSpawned, in, nil)
		err = s.waitReady(ctx, in, p)
		if err == nil {
			// Up is up even if /health fails (see waitReady): probe it
			// once now, so that the instance starts out as what it is.
			// A tenant that died meanwhile never served: what accepted
			// was another process on its port (see below).
			if healthErr = s.probe(ctx, in.svc, p); healthErr != nil && p.exited() {
				err = fmt.Errorf("exited during startup (%v)%s", p.exitErr, s.stderrTail(in))
			}
		}
		if err == nil {
			return p, healthErr, nil
		}
		diedByItself := p.exited()
		s.mu.Lock()
		p.stopping = true
		s.mu.Unlock()
		// A start that failed is killed without the full grace: it is
		// broken or too slow, and a caller is waiting for the answer.
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if terr := s.terminateWithin(kctx, p, min(s.opts.StopGrace, time.Second)); terr != nil {
			s.log.Warn("kill failed start", "instance", in.key.String(), "pid", p.pid, "err", terr)
		}
		cancel()
		// The allocated port was free when we chose it, but ports
		// 30000-40000 overlap the kernel's ephemeral range: an outgoing
		// connection of any program may take it before the tenant binds.
		// A tenant that died while someone else holds its port, or
		// held it a moment ago, gets another port, not a failure.
		if attempt < maxPortRetries && diedByItself && in.svc.Port == 0 && portTaken(p.port, s.stderrTail(in)) {
			s.log.Warn("port taken by another process during start; retrying on another port",
				"instance", in.key.String(), "port", p.port)
			s.mu.Lock()
			s.releasePortLocked(p.port, in.key)
			s.mu.Unlock()
			continue
		}
		return p, healthErr, err
	}
}
