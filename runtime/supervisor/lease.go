package supervisor

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tenement/ten/runtime/logs"
)

// Two servers over one data directory (an upgrade overlaps the old and the
// new one) share the tenants, but exactly one of them supervises: it holds
// the row of supervisor_lease, renews it every LeaseInterval, and alone
// restarts, idle-stops, wakes and spawns tenants and writes instance_state.
// Every other server is a follower: it serves requests for the tenants it
// sees in instance_state, never starts or stops a process, answers
// mutations with ErrNotSupervisor, and polls the lease. It re-reads both
// every followInterval (at most LeaseInterval, at most 100ms: a read is
// cheap, and an overlap lasts seconds). It becomes the supervisor when the
// lease is handed to it (HandOver) or its holder is dead: its (pid, start
// time) no longer names a live process, or its heartbeat is older than
// leaseStale.
//
// A hand-over writes the successor as holder with acquired_at = 0; the
// successor sets acquired_at when it takes the lease, which is what
// HandOver waits for.
//
// Taking the lease is one BEGIN IMMEDIATE transaction (read, decide,
// write), so two servers can never both win. A supervisor that finds its
// lease taken (it was stopped, say with SIGSTOP, for longer than
// leaseStale) stops supervising at once; and before it acts on a crash,
// an idle timeout or a wake with a lease not renewed for two intervals, it
// renews it first, so that a server that has just woken up does not act
// on a lease it has lost.

// role is what this server does with the tenants.
type role int

const (
	roleNone     role = iota // not started: methods act directly, as a lone server
	roleOwner                // holds the lease: supervises
	roleFollower             // another server supervises; we serve and watch
)

const (
	leaseStaleIntervals = 5                      // heartbeats missed before a live holder is replaced
	minLeaseStale       = time.Second            // ...but never sooner: a loaded machine stalls
	maxFollowInterval   = 100 * time.Millisecond // a follower's full pass: lease and instances
	handOverPoll        = 10 * time.Millisecond  // how long a handed-over lease may wait for its taker
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

// serverRow is a row of servers.
type serverRow struct {
	id        string
	pid       int
	startTime int64
	addr      string
	heartbeat int64
}

// IsSupervisor reports whether this server holds the supervisor lease and
// supervises (restarts, idle-stops, wakes) the tenants; false once
// Shutdown has begun.
func (s *Supervisor) IsSupervisor() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.role == roleOwner && !s.retiring && !s.closed
}

// Holder names the supervising server as last seen: its id and listen
// address, and whether it is this server. A follower's API forwards
// mutations there.
func (s *Supervisor) Holder() (id, addr string, self bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	self = s.role == roleOwner && !s.retiring && !s.closed
	return s.holder, s.holderAddr, self
}

// ServerID returns this server's id (Options.ServerID, or the generated
// one).
func (s *Supervisor) ServerID() string { return s.opts.ServerID }

// Supervising returns a channel closed once this server becomes the lease
// holder: at Start when the lease is free, or later when it is handed over
// or its holder dies. It stays closed after a HandOver; IsSupervisor says
// whether the server still supervises.
func (s *Supervisor) Supervising() <-chan struct{} { return s.supervising }

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
	if !s.actingLocked() {
		return fmt.Errorf("%s: %w", k, s.notSupervisorErrLocked())
	}
	return nil
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
	if !SameProcess(l.pid, l.startTime) {
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
			var r serverRow
			var addr sql.NullString
			err := c.QueryRowContext(ctx, `SELECT id, pid, proc_start_time, addr, heartbeat_at FROM servers WHERE id = ?`, cand.id).
				Scan(&r.id, &r.pid, &r.startTime, &addr, &r.heartbeat)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read servers: %w", err)
			}
			r.addr = addr.String
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

// liveServer reports whether r is another live server that heartbeats.
func (s *Supervisor) liveServer(r serverRow) bool {
	return r.id != s.opts.ServerID && SameProcess(r.pid, r.startTime) &&
		time.Duration(s.nowMS()-r.heartbeat)*time.Millisecond <= s.leaseStale()
}

// successors lists the other live servers, newest first.
func (s *Supervisor) successors(ctx context.Context) ([]serverRow, error) {
	all, err := s.servers(ctx, `ORDER BY started_at DESC, rowid DESC`)
	if err != nil {
		return nil, err
	}
	var out []serverRow
	for _, r := range all {
		if s.liveServer(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *Supervisor) servers(ctx context.Context, order string) ([]serverRow, error) {
	rows, err := s.opts.DB.QueryContext(ctx,
		`SELECT id, pid, proc_start_time, addr, heartbeat_at FROM servers WHERE id != ? `+order, s.opts.ServerID)
	if err != nil {
		return nil, fmt.Errorf("read servers: %w", err)
	}
	defer rows.Close()
	var out []serverRow
	for rows.Next() {
		var r serverRow
		var addr sql.NullString
		if err := rows.Scan(&r.id, &r.pid, &r.startTime, &addr, &r.heartbeat); err != nil {
			return nil, fmt.Errorf("read servers: %w", err)
		}
		r.addr = addr.String
		out = append(out, r)
	}
	return out, rows.Err()
}

// register records this server in the servers table.
func (s *Supervisor) register(ctx context.Context) error {
	now := s.nowMS()
	if _, err := s.opts.DB.ExecContext(ctx, `
INSERT INTO servers (id, pid, proc_start_time, addr, version, started_at, heartbeat_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
  pid = excluded.pid, proc_start_time = excluded.proc_start_time, addr = excluded.addr,
  version = excluded.version, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,
		s.opts.ServerID, s.pid, s.procStart, nullString(s.opts.Addr), nullString(s.opts.Version),
		s.startedAt.UnixMilli(), now); err != nil {
		return fmt.Errorf("register server: %w", err)
	}
	return nil
}

// heartbeat refreshes this server's row (recreating it if another server
// pruned it while this one was stopped).
func (s *Supervisor) heartbeat(ctx context.Context) error {
	res, err := s.opts.DB.ExecContext(ctx,
		`UPDATE servers SET heartbeat_at = ? WHERE id = ?`, s.nowMS(), s.opts.ServerID)
	if err != nil {
		return fmt.Errorf("server heartbeat: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return s.register(ctx)
	}
	return nil
}

// pruneServers deletes the rows of servers whose process is gone.
func (s *Supervisor) pruneServers(ctx context.Context) error {
	all, err := s.servers(ctx, "")
	if err != nil {
		return err
	}
	for _, r := range all {
		if SameProcess(r.pid, r.startTime) {
			continue
		}
		if _, err := s.opts.DB.ExecContext(ctx,
			`DELETE FROM servers WHERE id = ? AND pid = ? AND proc_start_time = ?`, r.id, r.pid, r.startTime); err != nil {
			return fmt.Errorf("prune servers: %w", err)
		}
		s.log.Info("pruned a dead server's registration", "server", r.id, "pid", r.pid)
	}
	return nil
}

// unregister gives the lease up (if held) and removes this server's row,
// at Shutdown.
func (s *Supervisor) unregister(ctx context.Context) error {
	_, err1 := s.opts.DB.ExecContext(ctx,
		`DELETE FROM supervisor_lease WHERE id = 1 AND holder = ?`, s.opts.ServerID)
	_, err2 := s.opts.DB.ExecContext(ctx, `DELETE FROM servers WHERE id = ?`, s.opts.ServerID)
	return errors.Join(err1, err2)
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

// promote makes a follower that has just taken the lease the supervisor:
// it adopts every instance as Start does (live processes, verified by pid
// and start time, are adopted; dead ones are respawned if configured,
// restored idle otherwise; failed ones stay failed), records itself as
// their owner, starts the supervision loops and spawns the [instances]
// that are not up.
func (s *Supervisor) promote(ctx context.Context) error {
	rows, err := s.loadRows(ctx)
	if err != nil {
		// The lease names us: the next tick renews it and tries again.
		return err
	}
	checks := s.checkRows(rows, true)
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

// checkRows verifies the processes of rows by pid and start time. all=false
// skips rows whose process the follower's view already knows, alive.
func (s *Supervisor) checkRows(rows []row, all bool) procCheck {
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
		out[r.key] = SameProcess(r.pid, r.startTime)
	}
	return out
}

// refreshView makes a follower's instances what instance_state says,
// keeping their in-flight counts: a process is routed to only if the row
// says it is running or unhealthy and it is alive with the recorded start
// time. Nothing is written.
func (s *Supervisor) refreshView(ctx context.Context) error {
	rows, err := s.loadRows(ctx)
	if err != nil {
		return err
	}
	checks := s.checkRows(rows, false)
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

// newServerID makes an id for a server that was given none.
func newServerID() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// finishAdoption does what follows the adoption of one instance outside
// s.mu: index its logs, record it as ours, say so.
func (s *Supervisor) finishAdoption(ctx context.Context, a adoption) error {
	in := a.in
	if a.adopted {
		s.indexer.WatchFiles(in.service, in.id, logs.FilesFromPath(a.logPath))
		s.log.Info("adopted instance", "instance", in.key.String(), "pid", a.pid, "port", a.port, "previous_owner", a.prevOwner)
		s.emit(EventAdopted, in, nil)
	}
	if a.reused && pidAlive(a.pid) {
		s.log.Warn("recorded pid belongs to another process now; not touching it",
			"instance", in.key.String(), "pid", a.pid)
	}
	return s.persist(ctx, in)
}
