package supervisor

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/tenement/ten/internal/proc"
)

// role is what this server does with the tenants.
type role int

const (
	roleNone     role = iota // not started: methods act directly, as a lone server
	roleOwner                // holds the lease: supervises
	roleFollower             // another server supervises; we serve and watch
)

const (
	leaseStaleIntervals = 5           // heartbeats missed before a live holder is replaced
	minLeaseStale       = time.Second // ...but never sooner: a loaded machine stalls
)

var (
	errLeaseLost = errors.New("supervisor lease taken by another server")
	// errNotActing aborts a transition that had not launched a process when
	// this server stopped supervising.
	errNotActing = fmt.Errorf("%w: supervision moved to another server", ErrNotSupervisor)
)

// leaseRow is the row of supervisor_lease.
type leaseRow struct {
	holder    string
	pid       int
	startTime int64
	addr      string
	heartbeat int64 // unix ms
	acquired  int64 // unix ms; 0: handed over, not taken yet
}

// IsSupervisor reports whether this server holds the supervisor lease and
// supervises (restarts, idle-stops, wakes) the tenants; false once
// Shutdown has begun.
func (s *Supervisor) IsSupervisor() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.supervisingLocked()
}

// supervisingLocked: holding the lease is not enough once a hand-over or
// Shutdown has begun. Caller holds s.mu.
func (s *Supervisor) supervisingLocked() bool {
	return s.role == roleOwner && !s.retiring && !s.closed
}

// Holder names the supervising server as last seen: its id and listen
// address, and whether it is this server. A follower's API forwards
// mutations there.
func (s *Supervisor) Holder() (id, addr string, self bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holder, s.holderAddr, s.supervisingLocked()
}

// ServerID returns this server's id (Options.ServerID, or the generated
// one).
func (s *Supervisor) ServerID() string { return s.opts.ServerID }

// Supervising returns a channel closed once this server becomes the lease
// holder: at Start when the lease is free, or later when it is handed over
// or its holder dies. It stays closed after a HandOver; IsSupervisor says
// whether the server still supervises.
func (s *Supervisor) Supervising() <-chan struct{} { return s.supervising }

// actingLocked reports whether this server may start, stop or restart
// processes and write instance state now. Caller holds s.mu.
func (s *Supervisor) actingLocked() bool {
	return s.role == roleNone || (s.role == roleOwner && !s.retiring)
}

// mayChangeLocked says why this server may not start or restart k now:
// it is shut down, or another server supervises. Caller holds s.mu.
func (s *Supervisor) mayChangeLocked(k key) error {
	if s.closed {
		return ErrShutdown
	}
	return s.notActingLocked(k)
}

// lockForChange takes s.mu to change k, unless (error, s.mu not held)
// this server may not change it now.
func (s *Supervisor) lockForChange(k key) error {
	s.mu.Lock()
	if err := s.mayChangeLocked(k); err != nil {
		s.mu.Unlock()
		return err
	}
	return nil
}

// notActingLocked is nil while this server may change k, else says where
// to send the change instead. Caller holds s.mu.
func (s *Supervisor) notActingLocked(k key) error {
	if s.actingLocked() {
		return nil
	}
	return fmt.Errorf("%s: %w", k, s.notSupervisorErrLocked())
}

// notSupervisorErrLocked says where mutations must go. Caller holds s.mu.
func (s *Supervisor) notSupervisorErrLocked() error {
	who := s.holder
	if who == "" {
		who = "(unknown)"
	}
	addr := s.holderAddr
	if addr == "" {
		addr = "an unknown address"
	}
	return fmt.Errorf("%w: this server (%s) is not supervising; send the request to the supervising server %s at %s",
		ErrNotSupervisor, s.opts.ServerID, who, addr)
}

// signalLocked wakes everyone waiting for a change of role or of the
// follower's view. Caller holds s.mu.
func (s *Supervisor) signalLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// awaitChange waits for the next signalLocked after ch was read.
func (s *Supervisor) awaitChange(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.life.Done():
		return ErrShutdown
	}
}

// mayAct reports whether this server may act on a tenant now (restart it,
// stop it when idle, wake it). A supervisor whose lease has not been
// renewed for two intervals renews it first: if it is gone, the server
// becomes a follower and the answer is no. A database error does not
// count as a loss: nobody can take the lease without writing either.
func (s *Supervisor) mayAct() bool {
	s.mu.Lock()
	acting := s.actingLocked() && !s.closed
	check := s.role == roleOwner && s.now().Sub(s.leaseRenewed) >= 2*s.opts.LeaseInterval
	s.mu.Unlock()
	if !acting {
		return false
	}
	if !check {
		return true
	}
	err := s.renewLease(s.leaseCtx)
	if err != nil && !errors.Is(err, errLeaseLost) {
		s.log.Warn("could not renew the supervisor lease", "err", err)
	}
	return !errors.Is(err, errLeaseLost)
}

// leaseStale is how old a live holder's heartbeat may be.
func (s *Supervisor) leaseStale() time.Duration {
	return max(leaseStaleIntervals*s.opts.LeaseInterval, minLeaseStale)
}

func (s *Supervisor) nowMS() int64 { return s.now().UnixMilli() }

// expired reports whether the lease may be taken from its holder.
func (s *Supervisor) expired(l leaseRow) bool {
	if !proc.Same(l.pid, l.startTime) {
		return true
	}
	return time.Duration(s.nowMS()-l.heartbeat)*time.Millisecond > s.leaseStale()
}

// withImmediateTx runs f in a BEGIN IMMEDIATE transaction on one
// connection: the write lock is taken before anything is read, so two
// servers deciding from the same row cannot both write.
func (s *Supervisor) withImmediateTx(ctx context.Context, f func(*sql.Conn) error) (err error) {
	conn, err := s.opts.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			// Never return the connection with a transaction open.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, rerr := conn.ExecContext(rctx, "ROLLBACK"); rerr != nil {
				conn.Raw(func(any) error { return driver.ErrBadConn }) // discard it
			}
		}
	}()
	if err := f(conn); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	done = true
	return nil
}

func readLease(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (leaseRow, bool, error) {
	var l leaseRow
	var addr sql.NullString
	err := q.QueryRowContext(ctx,
		`SELECT holder, pid, proc_start_time, addr, heartbeat_at, acquired_at FROM supervisor_lease WHERE id = 1`).
		Scan(&l.holder, &l.pid, &l.startTime, &addr, &l.heartbeat, &l.acquired)
	if errors.Is(err, sql.ErrNoRows) {
		return leaseRow{}, false, nil
	}
	if err != nil {
		return leaseRow{}, false, fmt.Errorf("read supervisor lease: %w", err)
	}
	l.addr = addr.String
	return l, true, nil
}

// tryAcquire takes the lease if it is free, names this server (handed
// over) or its holder is dead or stale. It reports whether this server
// holds it now.
func (s *Supervisor) tryAcquire(ctx context.Context) (bool, error) {
	// A cheap look first: followers poll, and need not take the write lock
	// to learn that the holder is alive.
	l, ok, err := readLease(ctx, s.opts.DB)
	if err != nil {
		return false, err
	}
	if ok && l.holder != s.opts.ServerID && !s.expired(l) {
		s.setHolder(l)
		return false, nil
	}
	won := false
	var prev leaseRow
	var had bool
	err = s.withImmediateTx(ctx, func(c *sql.Conn) error {
		l, ok, err := readLease(ctx, c)
		if err != nil {
			return err
		}
		prev, had = l, ok
		if ok && l.holder != s.opts.ServerID && !s.expired(l) {
			return nil
		}
		now := s.nowMS()
		acquired := now
		if ok && l.holder == s.opts.ServerID && l.acquired != 0 {
			acquired = 0 // a renewal: keep acquired_at
		}
		if _, err := c.ExecContext(ctx, `
INSERT INTO supervisor_lease (id, holder, pid, proc_start_time, addr, heartbeat_at, acquired_at)
VALUES (1, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
  holder = excluded.holder, pid = excluded.pid, proc_start_time = excluded.proc_start_time,
  addr = excluded.addr, heartbeat_at = excluded.heartbeat_at,
  acquired_at = CASE WHEN excluded.acquired_at = 0 THEN supervisor_lease.acquired_at ELSE excluded.acquired_at END`,
			s.opts.ServerID, s.pid, s.procStart, nullString(s.opts.Addr), now, acquired); err != nil {
			return fmt.Errorf("take supervisor lease: %w", err)
		}
		won = true
		return nil
	})
	if err != nil {
		return false, err
	}
	if !won {
		s.setHolder(prev)
		return false, nil
	}
	switch {
	case !had:
		s.log.Info("took the free supervisor lease")
	case prev.holder == s.opts.ServerID:
		s.log.Info("took the supervisor lease handed to this server")
	default:
		s.log.Warn("took over the supervisor lease from a dead or stalled server",
			"previous", prev.holder, "previous_pid", prev.pid,
			"heartbeat_age", time.Duration(s.nowMS()-prev.heartbeat)*time.Millisecond)
	}
	s.mu.Lock()
	s.leaseRenewed = s.now()
	s.holder, s.holderAddr = s.opts.ServerID, s.opts.Addr
	s.mu.Unlock()
	return true, nil
}

func (s *Supervisor) setHolder(l leaseRow) {
	s.mu.Lock()
	s.holder, s.holderAddr = l.holder, l.addr
	s.mu.Unlock()
}

// renewLease heartbeats the lease this server holds; errLeaseLost (and a
// switch to follower) if another server holds it now.
func (s *Supervisor) renewLease(ctx context.Context) error {
	now := s.now()
	res, err := s.opts.DB.ExecContext(ctx,
		`UPDATE supervisor_lease SET heartbeat_at = ? WHERE id = 1 AND holder = ?`, now.UnixMilli(), s.opts.ServerID)
	if err != nil {
		return fmt.Errorf("renew supervisor lease: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		s.lostLease()
		return errLeaseLost
	}
	s.mu.Lock()
	if now.After(s.leaseRenewed) {
		s.leaseRenewed = now
	}
	s.mu.Unlock()
	return nil
}

// lostLease turns a supervisor whose lease was taken into a follower at
// once: its loops stop and transitions in progress are cancelled. Their
// results are not written (a follower writes nothing): the new supervisor
// adopted the state it found.
func (s *Supervisor) lostLease() {
	s.mu.Lock()
	if s.role != roleOwner {
		s.mu.Unlock()
		return
	}
	s.role = roleFollower
	s.retiring = false
	s.stopSupLoopsLocked()
	for _, in := range s.insts {
		if o := in.op; o != nil && o.cancel != nil {
			o.cancel()
		}
	}
	s.signalLocked()
	s.mu.Unlock()
	l, _, _ := readLease(s.leaseCtx, s.opts.DB)
	if l.holder != "" {
		s.setHolder(l)
	}
	s.log.Error("lost the supervisor lease to another server; no longer supervising", "holder", l.holder)
}

// leaseLoop heartbeats this server's registration, renews the lease of a
// supervisor and prunes dead registrations, every LeaseInterval, until the
// end of Shutdown. (Followers poll the lease in followLoop.)
func (s *Supervisor) leaseLoop(ctx context.Context) {
	every(ctx, s.opts.LeaseInterval, func() {
		s.leaseTick(ctx)
		s.leasePolls.Add(1)
	})
}

func (s *Supervisor) leaseTick(ctx context.Context) {
	if err := s.heartbeat(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("heartbeat", "err", err)
	}
	s.mu.Lock()
	owner := s.role == roleOwner
	s.mu.Unlock()
	if owner {
		if err := s.renewLease(ctx); err != nil && !errors.Is(err, errLeaseLost) && ctx.Err() == nil {
			s.log.Warn("could not renew the supervisor lease", "err", err)
		}
	}
	if err := s.pruneServers(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("prune servers", "err", err)
	}
}

// becomeOwnerLocked records that this server holds the lease and starts
// the supervision loops. Caller holds s.mu.
func (s *Supervisor) becomeOwnerLocked() {
	s.role = roleOwner
	s.retiring = false
	s.holder, s.holderAddr = s.opts.ServerID, s.opts.Addr
	s.startSupLoopsLocked()
	s.signalLocked()
}

// announceOwner closes Supervising and emits lease_acquired.
func (s *Supervisor) announceOwner() {
	s.supervisingOnce.Do(func() { close(s.supervising) })
	s.emitLease(EventLeaseAcquired, s.opts.ServerID)
}

// emitLease reports a lease event.
func (s *Supervisor) emitLease(kind EventKind, holder string) {
	if s.opts.OnEvent == nil {
		return
	}
	s.opts.OnEvent(Event{Kind: kind, Instance: Instance{Owner: holder}, Time: s.now()})
}

// startSupLoopsLocked starts the health and idle loops of a supervisor.
// Caller holds s.mu.
func (s *Supervisor) startSupLoopsLocked() {
	if s.supCancel != nil || s.closed {
		return
	}
	ctx, cancel := context.WithCancel(s.life)
	s.supCancel = cancel
	for _, f := range []func(context.Context){s.healthLoop, s.idleLoop} {
		s.supWG.Add(1)
		go func() {
			defer s.supWG.Done()
			f(ctx)
		}()
	}
}

// stopSupLoopsLocked cancels them; supWG says when they are gone. Caller
// holds s.mu.
func (s *Supervisor) stopSupLoopsLocked() {
	if s.supCancel != nil {
		s.supCancel()
		s.supCancel = nil
	}
}
