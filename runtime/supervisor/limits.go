package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync/atomic"

	"github.com/tenement/ten/runtime/cgroup"
	"github.com/tenement/ten/runtime/config"
)

// limiter enforces memory_limit_mb and cpu_shares: every process of a
// service with limits runs in a cgroup of its own (see package cgroup),
// created before the process starts and removed once it is gone.
type limiter struct {
	// cg is nil when no configured service has limits, or when limits
	// cannot be enforced and the operator allowed that.
	cg *cgroup.Manager

	passes atomic.Int64 // storage measurement passes, for tests
}

// limitsOf returns the cgroup limits of svc.
func limitsOf(svc *config.Service) cgroup.Limits {
	return cgroup.Limits{MemoryMB: svc.MemoryLimitMB, CPUWeight: svc.CPUShares}
}

// newLimiter finds the cgroup hierarchy if any service has limits, and
// checks that groups can be made with the controllers they need. If not,
// it fails and names the services and the fix, unless allowUnlimited:
// then those services run without limits, with a warning (tenement's
// behaviour; ten fails loudly by default, since an operator who set a
// limit believes it holds).
func newLimiter(cfg *config.Config, dataDir string, allowUnlimited bool, log *slog.Logger) (*limiter, error) {
	var limited []string
	need := cgroup.Limits{}
	for _, name := range cfg.ServiceNames() {
		svc := cfg.Services[name]
		l := limitsOf(svc)
		if !l.Set() {
			continue
		}
		limited = append(limited, fmt.Sprintf("%s (%s)", name, describeLimits(l)))
		need.MemoryMB = max(need.MemoryMB, l.MemoryMB)
		need.CPUWeight = max(need.CPUWeight, l.CPUWeight)
	}
	if len(limited) == 0 {
		return &limiter{}, nil
	}
	m, err := cgroup.Detect(dataDir)
	if err == nil {
		err = m.Check(need)
	}
	if err == nil {
		log.Info("resource limits enforced with cgroups", "cgroup_version", m.Version(), "services", strings.Join(limited, ", "))
		return &limiter{cg: m}, nil
	}
	if allowUnlimited {
		log.Warn("resource limits are NOT enforced (--allow-unlimited)", "services", strings.Join(limited, ", "), "reason", err)
		return &limiter{}, nil
	}
	return nil, fmt.Errorf("services with resource limits: %s: no cgroup can be made: %w; run ten as root on a host with the cgroup memory and cpu controllers, remove memory_limit_mb and cpu_shares, or pass --allow-unlimited to run these services without limits",
		strings.Join(limited, ", "), err)
}

func describeLimits(l cgroup.Limits) string {
	var parts []string
	if l.MemoryMB > 0 {
		parts = append(parts, fmt.Sprintf("memory_limit_mb = %d", l.MemoryMB))
	}
	if l.CPUWeight > 0 {
		parts = append(parts, fmt.Sprintf("cpu_shares = %d", l.CPUWeight))
	}
	return strings.Join(parts, ", ")
}

// enforceLimits refuses to start an instance over an enforced storage
// quota, then creates its group and arranges for cmd to start
// in it. started must be called once cmd.Start has returned, with whether
// it succeeded: a group whose process never started is removed. g is nil
// for an instance without limits (or when they are not enforced).
func (s *Supervisor) enforceLimits(in *inst, cmd *exec.Cmd) (g *cgroup.Group, started func(ok bool), err error) {
	if err := s.checkStorageQuota(in); err != nil {
		return nil, nil, err
	}
	l := limitsOf(in.svc)
	if s.lim.cg == nil || !l.Set() {
		return nil, func(bool) {}, nil
	}
	g, err = s.lim.cg.Create(cgroup.GroupName(in.service, in.id), l)
	if err != nil {
		return nil, nil, err
	}
	done, err := g.Prepare(cmd)
	if err != nil {
		s.removeCgroup(in, g)
		return nil, nil, err
	}
	return g, func(ok bool) {
		done()
		if !ok {
			s.removeCgroup(in, g)
		}
	}, nil
}

// settled returns once the group of p, a process this server has just
// stopped, is gone: for a child, once its Wait goroutine has run
// afterExit; an adopted process's group is removed here, since no Wait of
// ours sees it exit. So a stop (or a shutdown) leaves no group behind.
func (s *Supervisor) settled(ctx context.Context, p *process) {
	if !p.adopted {
		select {
		case <-p.done:
		case <-ctx.Done():
		}
		return
	}
	s.mu.Lock()
	g := p.cgroup
	s.mu.Unlock()
	if g != nil {
		if err := g.Remove(); err != nil {
			s.log.Warn("remove cgroup", "pid", p.pid, "cgroup", g.Path(), "err", err)
		}
	}
}

func (s *Supervisor) removeCgroup(in *inst, g *cgroup.Group) {
	if err := g.Remove(); err != nil {
		s.log.Warn("remove cgroup", "instance", in.key.String(), "cgroup", g.Path(), "err", err)
	}
}

// findAdoptedCgroups attaches to each adopted process the group it is in
// (none if it was started before limits were configured). The snapshot
// then shows it, and the exit or stop of the process reads and removes
// it. Processes without a group are looked at again each time: cheap, one
// small /proc read each.
func (s *Supervisor) findAdoptedCgroups() {
	if s.lim.cg == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.insts {
		p := in.proc
		if p == nil || !p.adopted || p.cgroup != nil || !limitsOf(in.svc).Set() {
			continue
		}
		if g, ok := s.lim.cg.Find(cgroup.GroupName(in.service, in.id), p.pid); ok {
			p.cgroup = g
		}
	}
}

// errOOM is wrapped by the exit error of a process the kernel's OOM
// killer stopped.
var errOOM = errors.New("out of memory")
