package supervisor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tenement/ten/runtime/config"
	"github.com/tenement/ten/runtime/logs"
)

// Spawn starts service:id and waits until it is ready: its port accepts a
// TCP connection within the service's startup_timeout. Otherwise the
// process is killed and the error says why (with the end of its stderr).
// A ready instance whose health path does not answer 2xx is returned as
// unhealthy (see waitReady), and the health loop restarts it. An
// instance that is already up returns
// its snapshot and ErrExists; an idle, stopped or failed one is started
// again.
func (s *Supervisor) Spawn(ctx context.Context, service, id string) (Instance, error) {
	svc, err := s.lookup(service, id)
	if err != nil {
		return Instance{}, err
	}
	k := key{service, id}
	for {
		s.mu.Lock()
		if err := s.mayChangeLocked(k); err != nil {
			s.mu.Unlock()
			return Instance{}, err
		}
		in := s.insts[k]
		fresh := in == nil
		if fresh {
			in = s.newInst(k, svc)
		}
		if o := in.op; o != nil {
			if o.kind == opStop {
				s.mu.Unlock()
				if err := wait(ctx, o); err != nil && ctx.Err() != nil {
					return Instance{}, err
				}
				continue // settled: look again
			}
			snap := in.snapshot()
			s.mu.Unlock()
			return snap, fmt.Errorf("%s: %w (%s)", k, ErrExists, snap.State)
		}
		switch in.state {
		case StateRunning, StateUnhealthy:
			snap := in.snapshot()
			s.mu.Unlock()
			return snap, fmt.Errorf("%s: %w (%s)", k, ErrExists, snap.State)
		}
		if err := s.admitLocked(in); err != nil {
			if fresh {
				delete(s.insts, k)
			}
			s.mu.Unlock()
			return Instance{}, err
		}
		prev := in.state
		if fresh {
			prev = "" // failure forgets it
		}
		if prev == StateFailed {
			in.crashes = nil // an operator asked again: give it a fresh budget
		}
		o := s.startOpLocked(in, opSpawn, prev, nil, 0)
		s.mu.Unlock()
		if err := wait(ctx, o); err != nil {
			return Instance{}, err
		}
		inst, _ := s.Get(service, id)
		return inst, nil
	}
}

// Restart stops service:id and starts it again at once, without backoff,
// and waits until it is ready. A failed instance gets a fresh restart
// budget.
func (s *Supervisor) Restart(ctx context.Context, service, id string) (Instance, error) {
	if _, err := s.lookup(service, id); err != nil {
		return Instance{}, err
	}
	k := key{service, id}
	for {
		s.mu.Lock()
		if err := s.mayChangeLocked(k); err != nil {
			s.mu.Unlock()
			return Instance{}, err
		}
		in := s.insts[k]
		if in == nil {
			s.mu.Unlock()
			return Instance{}, fmt.Errorf("%s: %w", k, ErrNotFound)
		}
		if o := in.op; o != nil {
			s.mu.Unlock()
			if err := wait(ctx, o); err != nil && ctx.Err() != nil {
				return Instance{}, err
			}
			continue
		}
		in.crashes = nil
		in.restarts++
		old := in.proc
		if old != nil {
			old.stopping = true
		}
		o := s.startOpLocked(in, opManual, in.state, old, 0)
		s.mu.Unlock()
		if err := wait(ctx, o); err != nil {
			return Instance{}, err
		}
		inst, _ := s.Get(service, id)
		return inst, nil
	}
}

// Stop stops service:id (SIGTERM to its process group, SIGKILL after
// StopGrace), cancels any restart in progress, and forgets the instance:
// its row is deleted, and its data directory too unless storage_persist.
// Its log files and indexed lines are kept. A later request for it spawns
// it afresh, as in tenement.
func (s *Supervisor) Stop(ctx context.Context, service, id string) error {
	if _, err := s.lookup(service, id); err != nil {
		return err
	}
	k := key{service, id}
	s.mu.Lock()
	if !s.actingLocked() {
		err := s.notSupervisorErrLocked()
		s.mu.Unlock()
		return fmt.Errorf("%s: %w", k, err)
	}
	in := s.insts[k]
	s.mu.Unlock()
	if in == nil {
		return fmt.Errorf("%s: %w", k, ErrNotFound)
	}
	// The clean-up runs while the stop still holds the instance, so a
	// request arriving meanwhile waits and then spawns a new instance,
	// instead of racing the removal of its data directory.
	err := s.stopProcess(ctx, in, "", func(ctx context.Context) error {
		if err := s.indexer.UnwatchFiles(ctx, logs.FilesFromPath(in.logPath)); err != nil {
			s.log.Warn("final log index", "instance", k.String(), "err", err)
		}
		if err := s.deleteRow(ctx, k, false); err != nil {
			return err
		}
		if !in.svc.StoragePersist {
			if err := s.removeInstanceDir(k); err != nil {
				return fmt.Errorf("%s: remove data dir: %w", k, err)
			}
		}
		return nil
	})
	s.emit(EventStopped, in, err)
	return err
}

// stopProcess stops the instance's process on purpose and settles it in
// state to ("" removes it from the map), after running finally (if not
// nil) while the instance is still held. Restarts in progress are
// cancelled first.
func (s *Supervisor) stopProcess(ctx context.Context, in *inst, to State, finally func(context.Context) error) error {
	for {
		s.mu.Lock()
		if s.insts[in.key] != in {
			s.mu.Unlock()
			return fmt.Errorf("%s: %w", in.key, ErrNotFound)
		}
		if !s.actingLocked() && !s.closed {
			err := s.notSupervisorErrLocked()
			s.mu.Unlock()
			return fmt.Errorf("%s: %w", in.key, err)
		}
		o := in.op
		if o == nil {
			break // keep the lock
		}
		o.cancel()
		s.mu.Unlock()
		if err := wait(ctx, o); err != nil && ctx.Err() != nil {
			return err
		}
	}
	o := &op{kind: opStop, done: make(chan struct{})}
	in.op = o
	p := in.proc
	if p != nil {
		p.stopping = true
	}
	s.mu.Unlock()

	var err error
	if p != nil {
		err = s.terminate(ctx, p)
	}
	s.mu.Lock()
	if p != nil {
		s.releasePortLocked(p.port, in.key)
	}
	in.proc = nil
	in.health = HealthUnknown
	s.mu.Unlock()
	if finally != nil {
		err = errors.Join(err, finally(ctx))
	}

	s.mu.Lock()
	in.op = nil
	if to == "" {
		delete(s.insts, in.key)
		in.state = StateStopped
	} else {
		in.state = to
	}
	o.err = err
	s.mu.Unlock()
	if to != "" {
		if perr := s.persist(ctx, in); perr != nil {
			err = errors.Join(err, perr)
		}
	}
	close(o.done)
	return err
}

// newInst registers a new, not yet started instance. Caller holds s.mu.
func (s *Supervisor) newInst(k key, svc *config.Service) *inst {
	in := &inst{
		key:     k,
		svc:     svc,
		state:   StateStopped,
		health:  HealthUnknown,
		weight:  100,
		owner:   s.opts.ServerID,
		logPath: logs.FilesFor(s.dataDir, k.service, k.id).Stdout,
	}
	s.insts[k] = in
	return in
}

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
		s.releasePortLocked(old.port, in.key)
		if in.proc == old {
			in.proc = nil
		}
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
	for attempt := 1; ; attempt++ {
		if err == nil {
			p, err = s.launch(ctx, in)
		}
		if err != nil {
			break
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
			break
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
			err = nil
			continue
		}
		break
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
			s.releasePortLocked(p.port, in.key)
			if in.proc == p {
				in.proc = nil
			}
		}
		in.lastErr = err
		in.health = HealthUnknown
		switch {
		case !s.actingLocked() && !s.closed:
			// Supervision moved to another server meanwhile: it finds this
			// instance dead and handles it as after a restart of the server.
			switch {
			case o.kind == opSpawn && o.prev == "":
				in.state = StateStopped
				if s.insts[in.key] == in {
					delete(s.insts, in.key)
					forget = true
				}
			case o.kind == opSpawn:
				in.state = o.prev
			default:
				in.state = StateRestarting
			}
		case ctx.Err() != nil:
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

// wait blocks until o settles or ctx is done and returns o's error.
func wait(ctx context.Context, o *op) error {
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// instanceDir is {data_dir}/{service}/{id}.
func (s *Supervisor) instanceDir(k key) string {
	return filepath.Join(s.dataDir, k.service, k.id)
}
