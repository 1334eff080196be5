package supervisor

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/tenement/ten/internal/proc"
)

// killGroup signals the process group led by pid (tenants run in their
// own group, pgid = pid). It reports whether the group existed. A pid of
// 0 or 1 names no tenant's group: kill(2) reads -1 as every process and 0
// as the caller's own group, so such a pid (a corrupt row, or a pid seen
// from inside a tenant's PID namespace, where it is 1) is refused.
func killGroup(pid int, sig syscall.Signal) bool {
	if pid <= 1 {
		return false
	}
	return syscall.Kill(-pid, sig) == nil
}

// signal sends sig to p's group, or to p alone if it does not lead a group
// (an adopted process spawned by something else).
func signal(p *process, sig syscall.Signal) error {
	if p.pid <= 1 {
		return fmt.Errorf("refusing to signal pid %d: it is no tenant's", p.pid) // see killGroup
	}
	if pgid, err := syscall.Getpgid(p.pid); err == nil && pgid == p.pid {
		if err := syscall.Kill(-p.pid, sig); err == nil || errors.Is(err, syscall.ESRCH) {
			return nil
		}
	}
	if err := syscall.Kill(p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// terminate stops p: SIGTERM to its process group, SIGKILL after
// StopGrace. It returns once p is gone.
func (s *Supervisor) terminate(ctx context.Context, p *process) error {
	err := s.terminateWithin(ctx, p, s.opts.StopGrace)
	if err == nil {
		s.settled(ctx, p)
	}
	return err
}

func (s *Supervisor) terminateWithin(ctx context.Context, p *process, grace time.Duration) error {
	if s.gone(p) {
		return nil
	}
	if p.adopted && !proc.Same(p.pid, p.startTime) {
		return nil // gone, or the pid now belongs to someone else
	}
	if err := signal(p, syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM pid %d: %w", p.pid, err)
	}
	if s.waitGone(ctx, p, grace) {
		return nil
	}
	s.log.Warn("process ignored SIGTERM, killing", "pid", p.pid, "grace", grace)
	if p.adopted && !proc.Same(p.pid, p.startTime) {
		return nil
	}
	if err := signal(p, syscall.SIGKILL); err != nil {
		return fmt.Errorf("SIGKILL pid %d: %w", p.pid, err)
	}
	if s.waitGone(ctx, p, 5*time.Second) {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("pid %d still alive after SIGKILL", p.pid)
}

// gone reports whether p has exited. For a child, the kernel knows before
// our Wait goroutine has closed done: a zombie, or a pid already reaped.
func (s *Supervisor) gone(p *process) bool {
	return p.exited() || !proc.Alive(p.pid)
}

// waitGone waits up to d for p to exit. Our children are reaped by their
// Wait goroutine; adopted processes are polled.
func (s *Supervisor) waitGone(ctx context.Context, p *process, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.gone(p) {
			return true
		}
		select {
		case <-p.done:
			return true
		case <-t.C:
			return s.gone(p)
		case <-ctx.Done():
			return s.gone(p)
		case <-tick.C:
		}
	}
}
