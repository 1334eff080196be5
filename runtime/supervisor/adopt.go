package supervisor

import (
	"context"
	"errors"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/runtime/logs"
)

// recover rebuilds the instance table from the database when the server
// starts as the supervisor. For each row of a configured service:
//
//   - a process that is alive with the recorded pid AND start time is
//     adopted: not restarted, not signalled; it is watched by polling
//     (it is not our child) and its logs keep being indexed;
//   - a recorded pid that is alive with another start time belongs to a
//     stranger now (pid reuse) and is left alone; the row counts as dead;
//   - a dead instance listed in [instances] is left for spawnConfigured;
//     others are restored as idle, to be woken by their next request
//     (failed ones stay failed), keeping their weight and restart count.
//
// Rows of services no longer configured are left untouched: without the
// service's configuration there is nothing safe to do with them. A
// follower that takes the lease over does the same (see promote).
func (s *Supervisor) recover(ctx context.Context) error {
	rows, checks, err := s.loadChecked(ctx, true)
	if err != nil {
		return err
	}
	s.mu.Lock()
	adopted := s.adoptRowsLocked(rows, checks, false)
	s.mu.Unlock()
	for _, a := range adopted {
		if err := s.finishAdoption(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// adoption is what adoptRowsLocked did with one row, for the work that
// follows outside s.mu.
type adoption struct {
	in        *inst
	adopted   bool // a live process, now ours to watch
	reused    bool // the recorded pid is alive, but another process
	pid, port int
	logPath   string
	prevOwner string
}

// adoptRowsLocked takes ownership of the instances in rows, as described
// at recover; alive says which recorded processes are still the same
// process. At Start (update false) instances already known (spawned
// through the API before Start) are kept as they are; at a promotion the
// follower's instances are updated in place, so that requests in flight
// still count, and the ones no longer recorded are dropped. Caller holds
// s.mu.
func (s *Supervisor) adoptRowsLocked(rows []row, alive procCheck, update bool) []adoption {
	configured := map[key]bool{}
	for svc, ids := range s.cfg.Instances {
		for _, id := range ids {
			configured[key{svc, id}] = true
		}
	}
	if update {
		s.ports = map[int]key{}
	}
	seen := map[key]bool{}
	var out []adoption
	for _, r := range rows {
		svc := s.cfg.Services[r.service]
		if svc == nil {
			s.log.Warn("instance of an unconfigured service left alone", "instance", r.key.String(), "pid", r.pid)
			continue
		}
		if !storedName(r.id) {
			s.log.Warn("instance with an invalid id left alone", "instance", r.key.String())
			continue
		}
		seen[r.key] = true
		in := s.insts[r.key]
		if in != nil && (!update || in.op != nil) {
			continue // spawned through the API before Start
		}
		if in == nil {
			in = s.newInst(r.key, svc)
		}
		in.weight = r.weight
		in.restarts = r.restarts
		in.owner = s.opts.ServerID
		in.healthFails = 0
		if r.logPath != "" {
			in.logPath = r.logPath
		}
		live := r.pid > 0 && alive[r.key]
		switch {
		case live:
			p := in.proc
			if p == nil || p.pid != r.pid || p.startTime != r.startTime || p.exited() {
				p = &process{pid: r.pid, port: r.port, startTime: r.startTime, adopted: true, done: make(chan struct{})}
			}
			if r.port > 0 {
				s.ports[r.port] = r.key
			}
			in.proc = p
			in.adopted = p.adopted
			in.state = StateRunning
			if r.status == StateUnhealthy {
				in.state = StateUnhealthy
			}
			in.health = HealthUnknown
			in.startedAt = r.startedAt
			in.lastReq = s.now() // idle timing restarts with the new owner
			in.lastErr = nil
		case r.status == StateFailed:
			in.proc = nil
			in.state = StateFailed
			in.lastErr = errors.New("failed before the server restarted")
		case configured[r.key]:
			// spawnConfigured starts it; until then it is simply stopped.
			in.proc = nil
			in.state = StateStopped
		default:
			in.proc = nil
			in.state = StateIdle
		}
		if !live {
			in.health = HealthUnknown
		}
		out = append(out, adoption{
			in: in, adopted: live, reused: r.pid > 0 && !live,
			pid: r.pid, port: r.port, logPath: in.logPath, prevOwner: r.owner,
		})
	}
	if update {
		for k, in := range s.insts {
			if !seen[k] && in.op == nil {
				delete(s.insts, k)
			}
		}
	}
	return out
}

// livenessLoop polls processes that are not our children (adopted ones,
// and those a follower routes to), which cannot be waited for, and
// handles their exit: a supervisor like a crash, a follower by no longer
// routing to them.
func (s *Supervisor) livenessLoop(ctx context.Context) {
	every(ctx, s.opts.LivenessInterval, s.checkLiveness)
}

// checkLiveness handles the exit of every watched process that is gone.
func (s *Supervisor) checkLiveness() {
	s.findAdoptedCgroups()
	s.mu.Lock()
	var watch []*inst
	var procs []*process
	for _, in := range s.insts {
		if p := in.proc; p != nil && p.adopted && !p.stopping && !p.exited() {
			watch = append(watch, in)
			procs = append(procs, p)
		}
	}
	s.mu.Unlock()
	for i, in := range watch {
		p := procs[i]
		if proc.Same(p.pid, p.startTime) {
			continue
		}
		p.exitErr = s.afterExit(in, p, nil, nil)
		p.markExited()
		s.onExit(in, p)
	}
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
	if a.reused && proc.Alive(a.pid) {
		s.log.Warn("recorded pid belongs to another process now; not touching it",
			"instance", in.key.String(), "pid", a.pid)
	}
	return s.persist(ctx, in)
}
