package supervisor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

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
	return s.operate(ctx, service, id, func(k key, svc *config.Service) (start, busy *op, snap Instance, err error) {
		in := s.insts[k]
		fresh := in == nil
		if fresh {
			in = s.newInst(k, svc)
		}
		if o := in.op; o != nil && o.kind == opStop {
			return nil, o, Instance{}, nil
		}
		if in.op != nil || in.state == StateRunning || in.state == StateUnhealthy {
			snap := in.snapshot()
			return nil, nil, snap, fmt.Errorf("%s: %w (%s)", k, ErrExists, snap.State)
		}
		if err := s.admitLocked(in); err != nil {
			if fresh {
				delete(s.insts, k)
			}
			return nil, nil, Instance{}, err
		}
		prev := in.state
		if fresh {
			prev = "" // failure forgets it
		}
		if prev == StateFailed {
			in.crashes = nil // an operator asked again: give it a fresh budget
		}
		return s.startOpLocked(in, opSpawn, prev, nil, 0), nil, Instance{}, nil
	})
}

// Restart stops service:id and starts it again at once, without backoff,
// and waits until it is ready. A failed instance gets a fresh restart
// budget.
func (s *Supervisor) Restart(ctx context.Context, service, id string) (Instance, error) {
	return s.operate(ctx, service, id, func(k key, _ *config.Service) (start, busy *op, snap Instance, err error) {
		in := s.insts[k]
		if in == nil {
			return nil, nil, Instance{}, fmt.Errorf("%s: %w", k, ErrNotFound)
		}
		if in.op != nil {
			return nil, in.op, Instance{}, nil
		}
		in.crashes = nil
		in.restarts++
		old := in.proc
		if old != nil {
			old.stopping = true
		}
		return s.startOpLocked(in, opManual, in.state, old, 0), nil, Instance{}, nil
	})
}

// operate runs an operator's start transition on service:id and waits
// until the instance is up. begin is called with s.mu held, once this
// server may change the instance, and either starts the transition
// (start), or names another one in progress to wait for before it looks
// again (busy), or refuses (snap and err are returned).
func (s *Supervisor) operate(ctx context.Context, service, id string,
	begin func(k key, svc *config.Service) (start, busy *op, snap Instance, err error)) (Instance, error) {
	svc, err := s.lookup(service, id)
	if err != nil {
		return Instance{}, err
	}
	k := key{service, id}
	for {
		if err := s.lockForChange(k); err != nil {
			return Instance{}, err
		}
		start, busy, snap, err := begin(k, svc)
		s.mu.Unlock()
		switch {
		case busy != nil:
			if err := awaitSettled(ctx, busy); err != nil {
				return Instance{}, err
			}
		case err != nil:
			return snap, err
		default:
			return s.awaitStarted(ctx, start, k)
		}
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
	if err := s.notActingLocked(k); err != nil {
		s.mu.Unlock()
		return err
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
		if err := s.notActingLocked(in.key); err != nil && !s.closed {
			s.mu.Unlock()
			return err
		}
		o := in.op
		if o == nil {
			break // keep the lock
		}
		o.cancel()
		s.mu.Unlock()
		if err := awaitSettled(ctx, o); err != nil {
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

// dropProcLocked forgets p, which is gone or going: its port is free
// again and the instance no longer routes to it. Caller holds s.mu.
func (s *Supervisor) dropProcLocked(in *inst, p *process) {
	s.releasePortLocked(p.port, in.key)
	if in.proc == p {
		in.proc = nil
	}
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

// wait blocks until o settles or ctx is done and returns o's error.
func wait(ctx context.Context, o *op) error {
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// awaitSettled waits for another transition on the instance to end, so
// that the caller can look again; o's own failure is not the caller's, so
// only ctx's end is returned.
func awaitSettled(ctx context.Context, o *op) error {
	if err := wait(ctx, o); err != nil && ctx.Err() != nil {
		return err
	}
	return nil
}

// awaitStarted waits for the start transition o of k and returns the instance
// as it came up.
func (s *Supervisor) awaitStarted(ctx context.Context, o *op, k key) (Instance, error) {
	if err := wait(ctx, o); err != nil {
		return Instance{}, err
	}
	inst, _ := s.Get(k.service, k.id)
	return inst, nil
}

// instanceDir is {data_dir}/{service}/{id}.
func (s *Supervisor) instanceDir(k key) string {
	return filepath.Join(s.dataDir, k.service, k.id)
}
