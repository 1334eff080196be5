package supervisor

import (
	"cmp"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Values of Instance.LastExit besides "exit N" and "signal NAME".
const (
	ExitOOM     = "oom"     // killed by the kernel's OOM killer at the memory limit
	ExitUnknown = "unknown" // an adopted process: not our child, its status is lost
)

// afterExit runs once process p of in has exited and its process group
// has been killed, before anyone is told: it reads the group's OOM kill
// counter, removes the group, records how the process ended, and returns
// the exit error to keep (err, or an out-of-memory error). st is nil for
// an adopted process.
//
// Only the server that supervises settles the group: a server that has
// handed supervision over (or is shutting down without stopping its
// tenants) leaves the group, and the counter in it, to its successor.
func (s *Supervisor) afterExit(in *inst, p *process, st *os.ProcessState, err error) error {
	s.mu.Lock()
	settle := s.actingLocked() && (!s.closed || p.stopping)
	g := p.cgroup // an adopted process's, if findAdoptedCgroups saw it alive
	s.mu.Unlock()

	cause := exitCause(st)
	oom := false
	if g != nil && settle {
		n, rerr := g.OOMKills()
		switch {
		case rerr != nil:
			s.log.Warn("read OOM kill counter", "instance", in.key.String(), "cgroup", g.Path(), "err", rerr)
		case n > 0:
			oom = true
		}
		s.removeCgroup(in, g)
	}
	if oom {
		cause = ExitOOM
		err = fmt.Errorf("killed: %w (limit %d MB)", errOOM, in.svc.MemoryLimitMB)
		s.log.Error(fmt.Sprintf("instance %s killed: out of memory (limit %d MB)", in.key, in.svc.MemoryLimitMB),
			"instance", in.key.String(), "pid", p.pid, "cgroup", g.Path())
	}
	s.mu.Lock()
	in.lastExit = cause
	if oom {
		in.oomKills++
	}
	s.mu.Unlock()
	if oom {
		s.emit(EventOOMKilled, in, err)
	}
	return err
}

// exitCause names how a child ended: "exit N" or "signal NAME".
func exitCause(st *os.ProcessState) string {
	if st == nil {
		return ExitUnknown
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal " + cmp.Or(unix.SignalName(ws.Signal()), fmt.Sprint(int(ws.Signal())))
	}
	return fmt.Sprintf("exit %d", st.ExitCode())
}
