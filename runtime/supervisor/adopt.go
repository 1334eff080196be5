package supervisor

import (
	"context"
	"errors"
	"time"

	"github.com/tenement/ten/runtime/logs"
)

// recover rebuilds the instance table from the database when the server
// starts. For each row of a configured service:
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
// service's configuration there is nothing safe to do with them.
func (s *Supervisor) recover(ctx context.Context) error {
	rows, err := s.loadRows(ctx)
	if err != nil {
		return err
	}
	configured := map[key]bool{}
	for svc, ids := range s.cfg.Instances {
		for _, id := range ids {
			configured[key{svc, id}] = true
		}
	}
	for _, r := range rows {
		svc := s.cfg.Services[r.service]
		if svc == nil {
			s.log.Warn("instance of an unconfigured service left alone", "instance", r.key.String(), "pid", r.pid)
			continue
		}
		if validName(r.id) != nil {
			s.log.Warn("instance with an invalid id left alone", "instance", r.key.String())
			continue
		}
		s.mu.Lock()
		if s.insts[r.key] != nil {
			s.mu.Unlock()
			continue // spawned through the API before Start
		}
		in := s.newInst(r.key, svc)
		in.weight = r.weight
		in.restarts = r.restarts
		if r.logPath != "" {
			in.logPath = r.logPath
		}
		alive := r.pid > 0 && SameProcess(r.pid, r.startTime)
		switch {
		case alive:
			p := &process{pid: r.pid, port: r.port, startTime: r.startTime, adopted: true, done: make(chan struct{})}
			if r.port > 0 {
				s.ports[r.port] = r.key
			}
			in.proc = p
			in.adopted = true
			in.state = StateRunning
			if r.status == StateUnhealthy {
				in.state = StateUnhealthy
			}
			in.health = HealthUnknown
			in.startedAt = r.startedAt
			in.lastReq = s.now() // idle timing restarts with the new owner
		case r.status == StateFailed:
			in.state = StateFailed
			in.lastErr = errors.New("failed before the server restarted")
		case configured[r.key]:
			// spawnConfigured starts it; until then it is simply stopped.
			// Forget this in-memory record so Spawn treats it as known.
			in.state = StateStopped
		default:
			in.state = StateIdle
		}
		adopted := in.adopted
		s.mu.Unlock()

		if r.pid > 0 && !alive && pidAlive(r.pid) {
			s.log.Warn("recorded pid belongs to another process now; not touching it",
				"instance", r.key.String(), "pid", r.pid)
		}
		if adopted {
			s.indexer.WatchFiles(r.service, r.id, logs.FilesFromPath(in.logPath))
			s.log.Info("adopted instance", "instance", r.key.String(), "pid", r.pid, "port", r.port, "previous_owner", r.owner)
			s.emit(EventAdopted, in, nil)
		}
		if err := s.persist(ctx, in); err != nil {
			return err
		}
	}
	return nil
}

// livenessLoop polls adopted processes, which are not our children and so
// cannot be waited for, and handles their exit like a crash.
func (s *Supervisor) livenessLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.LivenessInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		var watch []*inst
		var procs []*process
		for _, in := range s.insts {
			if p := in.proc; p != nil && p.adopted && !p.stopping {
				watch = append(watch, in)
				procs = append(procs, p)
			}
		}
		s.mu.Unlock()
		for i, in := range watch {
			p := procs[i]
			if SameProcess(p.pid, p.startTime) {
				continue
			}
			p.markExited()
			s.onExit(in, p)
		}
	}
}
