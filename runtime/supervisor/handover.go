package supervisor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// HandOver gives the supervisor lease to the newest other live server
// (its process alive with the recorded start time, its heartbeat fresh)
// and returns its id. Before the lease is written, this server stops
// supervising: no more health restarts, idle stops or wakes, restarts
// waiting for their backoff are dropped and transitions under way finish
// (bounded by ctx), so that the two servers never both act on a tenant.
// Afterwards this server is a follower until Shutdown(ctx, false): it
// keeps serving requests for the tenants, which keep running.
//
// ErrNoSuccessor if there is no such server (nothing changed: the caller
// may Shutdown(ctx, true)); ErrNotSupervisor if this server does not hold
// the lease. Once handed over, HandOver returns the same successor again.
func (s *Supervisor) HandOver(ctx context.Context) (string, error) {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return "", ErrShutdown
	case s.handedTo != "":
		id := s.handedTo
		s.mu.Unlock()
		return id, nil
	case s.role != roleOwner:
		err := s.notSupervisorErrLocked()
		s.mu.Unlock()
		return "", err
	case s.retiring:
		s.mu.Unlock()
		return "", errors.New("supervisor: a hand-over is already in progress")
	}
	s.mu.Unlock()

	cands, err := s.successors(ctx)
	if err != nil {
		return "", err
	}
	if len(cands) == 0 {
		return "", ErrNoSuccessor
	}

	// Stop acting: no transition starts from here on (every start checks
	// actingLocked), the loops stop, and starts still waiting for their
	// backoff are dropped; the successor handles those instances as after
	// a restart of the server.
	s.mu.Lock()
	if s.closed || s.role != roleOwner || s.retiring {
		s.mu.Unlock()
		return "", fmt.Errorf("supervisor: state changed during hand-over")
	}
	s.retiring = true
	s.stopSupLoopsLocked()
	for _, in := range s.insts {
		if o := in.op; o != nil && o.cancel != nil && !o.launched {
			o.cancel()
		}
	}
	s.signalLocked()
	s.mu.Unlock()
	s.supWG.Wait()

	if err := s.settleOps(ctx); err != nil {
		s.resume()
		return "", fmt.Errorf("hand-over: waiting for transitions: %w", err)
	}
	succ, err := s.writeLeaseTo(ctx, cands)
	if errors.Is(err, errLeaseLost) {
		s.lostLease()
		return "", err
	}
	if err != nil {
		s.resume()
		return "", err
	}

	s.mu.Lock()
	s.role = roleFollower
	s.retiring = false
	s.handedTo = succ.id
	s.holder, s.holderAddr = succ.id, succ.addr
	s.signalLocked()
	s.mu.Unlock()
	s.log.Info("handed the supervisor lease over", "successor", succ.id, "successor_addr", succ.addr)
	s.emitLease(EventLeaseHandedOver, succ.id)
	if !s.awaitTaken(ctx, succ.id) && ctx.Err() == nil {
		// It was alive a moment ago. If it died, the lease is free for the
		// next server; either way this one supervises no more.
		s.log.Warn("the successor has not taken the lease yet", "successor", succ.id)
	}
	return succ.id, nil
}

// awaitTaken waits until the successor has taken the lease handed to it
// (it polls every followInterval), so that when HandOver returns the
// tenants are supervised again. It gives up after leaseStale.
func (s *Supervisor) awaitTaken(ctx context.Context, id string) bool {
	limit := time.NewTimer(s.leaseStale())
	defer limit.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		l, ok, err := readLease(ctx, s.opts.DB)
		if err == nil && (!ok || l.holder != id || l.acquired != 0) {
			return ok && l.holder == id
		}
		select {
		case <-ctx.Done():
			return false
		case <-limit.C:
			return false
		case <-tick.C:
		}
	}
}

// settleOps waits until no instance has a transition in progress.
func (s *Supervisor) settleOps(ctx context.Context) error {
	for {
		s.mu.Lock()
		var ops []*op
		for _, in := range s.insts {
			if in.op != nil {
				ops = append(ops, in.op)
			}
		}
		s.mu.Unlock()
		if len(ops) == 0 {
			return nil
		}
		for _, o := range ops {
			select {
			case <-o.done:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// resume undoes the start of a hand-over that did not happen: the loops
// start again, and an instance that crashed meanwhile (left for a
// successor that did not come) is restarted now.
func (s *Supervisor) resume() {
	s.mu.Lock()
	s.retiring = false
	var failed []*inst
	if s.role == roleOwner && !s.closed {
		s.startSupLoopsLocked()
		for _, in := range s.insts {
			if in.op == nil && in.proc == nil && in.state == StateRestarting {
				cause := in.lastErr
				if cause == nil {
					cause = errors.New("exited during a hand-over")
				}
				if !s.scheduleRestartLocked(in, cause) {
					failed = append(failed, in)
				}
			}
		}
	}
	s.signalLocked()
	s.mu.Unlock()
	for _, in := range failed {
		s.emit(EventFailed, in, in.lastErr)
		if err := s.persist(s.life, in); err != nil {
			s.log.Warn("record instance state", "instance", in.key.String(), "err", err)
		}
	}
}

// writeLeaseTo gives the lease to the first candidate still alive, in one
// transaction that also checks that this server still holds it.
func (s *Supervisor) writeLeaseTo(ctx context.Context, cands []serverRow) (serverRow, error) {
	var succ serverRow
	err := s.withImmediateTx(ctx, func(c *sql.Conn) error {
		l, ok, err := readLease(ctx, c)
		if err != nil {
			return err
		}
		if !ok || l.holder != s.opts.ServerID {
			return errLeaseLost
		}
		for _, cand := range cands {
			r, err := scanServer(c.QueryRowContext(ctx, `SELECT `+serverCols+` FROM servers WHERE id = ?`, cand.id))
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read servers: %w", err)
			}
			if !s.liveServer(r) {
				continue
			}
			// acquired_at 0: handed over, not taken yet (see awaitTaken).
			if _, err := c.ExecContext(ctx, `
UPDATE supervisor_lease SET holder = ?, pid = ?, proc_start_time = ?, addr = ?, heartbeat_at = ?, acquired_at = 0
WHERE id = 1`, r.id, r.pid, r.startTime, nullString(r.addr), s.nowMS()); err != nil {
				return fmt.Errorf("hand supervisor lease over: %w", err)
			}
			succ = r
			return nil
		}
		return ErrNoSuccessor
	})
	return succ, err
}
