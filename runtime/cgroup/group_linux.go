//go:build linux

package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tenement/ten/internal/proc"
)

// Group is the cgroup of one instance.
type Group struct {
	version int
	dirs    []string // v2: the group; v1: its memory then its cpu directory
	mount   string   // path relative to each hierarchy's root, as /proc/PID/cgroup shows it
}

// Path is the group's path as /proc/PID/cgroup shows it, e.g.
// "/ten/1a2b3c4d/web:alice.m3x1k2".
func (g *Group) Path() string { return g.mount }

// Version is 2 or 1.
func (g *Group) Version() int { return g.version }

// File returns the path of a control file of the group: on v1, a
// "memory." file is in the memory hierarchy and any other in the cpu one.
func (g *Group) File(name string) string {
	if g.version == 1 && !strings.HasPrefix(name, "memory.") && !strings.HasPrefix(name, "cgroup.") {
		return filepath.Join(g.dirs[1], name)
	}
	return filepath.Join(g.dirs[0], name)
}

// Prepare arranges for cmd's process to start inside the group, before it
// runs an instruction of its own. On v2 the kernel places it there at
// clone time (clone3 with CLONE_INTO_CGROUP). On v1 there is no such
// flag: cmd is rewritten to start this binary as a helper that writes its
// own pid into the group and then execs the tenant command, so the pid is
// the tenant's and nothing of the tenant runs outside the group. Call the
// returned function after cmd.Start.
func (g *Group) Prepare(cmd *exec.Cmd) (func(), error) {
	if cmd.Err != nil {
		return func() {}, nil // Start reports it
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if g.version == 2 {
		fd, err := unix.Open(g.dirs[0], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open cgroup %s: %w", g.dirs[0], err)
		}
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = fd
		return func() { unix.Close(fd) }, nil
	}
	args := []string{helperArg0}
	for _, d := range g.dirs {
		args = append(args, filepath.Join(d, "cgroup.procs"))
	}
	args = append(args, "--", cmd.Path)
	cmd.Args = append(args, cmd.Args...)
	cmd.Path = proc.SelfExe // this very binary, even if replaced on disk since
	if c := cmd.SysProcAttr.Credential; c != nil {
		// The helper runs as the tenant's user: let it (and only it) enter
		// the group. The limit files stay root's.
		for _, d := range g.dirs {
			if err := os.Chown(filepath.Join(d, "cgroup.procs"), int(c.Uid), int(c.Gid)); err != nil {
				return nil, fmt.Errorf("cgroup for user %d: %w", c.Uid, err)
			}
		}
	}
	return func() {}, nil
}

// OOMKills returns how many processes of the group the kernel's OOM
// killer has killed: oom_kill of memory.events (v2) or of
// memory.oom_control (v1, Linux 4.13 and later).
func (g *Group) OOMKills() (uint64, error) {
	name := "memory.events"
	if g.version == 1 {
		name = "memory.oom_control"
	}
	b, err := os.ReadFile(g.File(name))
	if err != nil {
		return 0, err
	}
	n, ok := flatKey(b, "oom_kill")
	if !ok {
		return 0, fmt.Errorf("%s has no oom_kill counter", g.File(name))
	}
	return n, nil
}

// flatKey reads key from a cgroup "flat keyed" file ("key value" lines).
func flatKey(b []byte, key string) (uint64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// Contains reports whether process pid is in the group (in both
// hierarchies on v1).
func (g *Group) Contains(pid int) bool {
	cgs, err := proc.Cgroups(pid)
	return err == nil && containsIn(cgs, g.version, g.mount)
}

// containsIn reports whether the groups of a process (see proc.Cgroups)
// put it at path: in the unified hierarchy on v2, in both the memory and
// the cpu hierarchies on v1.
func containsIn(cgs []proc.Cgroup, version int, path string) bool {
	need := map[string]bool{"memory": true, "cpu": true}
	for _, c := range cgs {
		if c.Path != path {
			continue
		}
		if version == 2 && c.Hierarchy == "0" && len(c.Controllers) == 0 {
			return true
		}
		for _, ctl := range c.Controllers {
			delete(need, ctl)
		}
	}
	return version == 1 && len(need) == 0
}

// procs returns the pids in the group.
func (g *Group) procs() []int {
	var out []int
	for _, d := range g.dirs {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for f := range strings.FieldsSeq(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

// Remove kills what is left in the group (a daemon the tenant started in
// another session, say) and deletes the group. A group already gone is
// not an error.
func (g *Group) Remove() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := g.procs()
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w: %v", g.mount, errNotEmpty, pids)
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond) // a killed process leaves the group when reaped
	}
	var errs []error
	for _, d := range g.dirs {
		if err := removeDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeDir removes an empty cgroup directory, retrying while the kernel
// still holds it.
func removeDir(d string) error {
	var err error
	for i := range 20 {
		err = unix.Rmdir(d)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		time.Sleep(time.Duration(i+1) * 5 * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup %s: %w", d, err)
}
