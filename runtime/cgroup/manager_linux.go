//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tenement/ten/internal/proc"
)

// Manager creates the groups of one installation on this host.
type Manager struct {
	version int    // 2 or 1
	unified string // v2: mount point of the unified hierarchy
	v1Root  string // v1: the directory holding the memory and cpu mounts
	base    string // Base(dataDir), relative to each hierarchy's root
}

// Version is 2 (unified hierarchy) or 1 (memory and cpu v1 hierarchies).
func (m *Manager) Version() int { return m.version }

// mounts are the cgroup file systems of /proc/self/mountinfo: the unified
// mount point, and the v1 mount point of each controller.
type mounts struct {
	unified string
	v1      map[string]string
}

// readMounts reads this process's mounts.
func readMounts() (mounts, error) {
	b, err := proc.Mountinfo()
	if err != nil {
		return mounts{}, err
	}
	return parseMountinfo(b), nil
}

// parseMountinfo reads the format of proc(5) /proc/PID/mountinfo:
// "36 35 98:0 /root /mnt rw,noatime master:1 - cgroup cgroup rw,memory".
func parseMountinfo(b []byte) mounts {
	m := mounts{v1: map[string]string{}}
	for line := range strings.SplitSeq(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		switch qf[0] {
		case "cgroup2":
			if m.unified == "" {
				m.unified = pf[4]
			}
		case "cgroup":
			for _, opt := range strings.Split(qf[2], ",") {
				if _, seen := m.v1[opt]; !seen {
					m.v1[opt] = pf[4]
				}
			}
		}
	}
	return m
}

// Detect finds the hierarchy ten can use on this host for the installation
// over dataDir: the unified one if it offers the memory and cpu
// controllers, else the v1 memory and cpu hierarchies. It creates nothing;
// Check does. The error wraps ErrUnavailable and says why.
func Detect(dataDir string) (*Manager, error) {
	ms, err := readMounts()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return detect(ms, Base(dataDir))
}

func detect(ms mounts, base string) (*Manager, error) {
	var why []string
	if ms.unified != "" {
		b, err := os.ReadFile(filepath.Join(ms.unified, "cgroup.controllers"))
		have := strings.Fields(string(b))
		switch {
		case err != nil:
			why = append(why, fmt.Sprintf("cgroup v2 at %s: %v", ms.unified, err))
		case slices.Contains(have, "memory") && slices.Contains(have, "cpu"):
			return &Manager{version: 2, unified: ms.unified, base: base}, nil
		default:
			why = append(why, fmt.Sprintf("cgroup v2 at %s offers controllers [%s], not memory and cpu", ms.unified, strings.Join(have, " ")))
		}
	} else {
		why = append(why, "no cgroup v2 mount")
	}
	mem, cpu := ms.v1["memory"], ms.v1["cpu"]
	switch {
	case mem == "" || cpu == "":
		why = append(why, "no cgroup v1 memory and cpu hierarchies")
	case filepath.Base(mem) != "memory" || filepath.Dir(cpu) != filepath.Dir(mem):
		// The library addresses a v1 controller as {root}/{name}; a cpu
		// hierarchy co-mounted elsewhere has a {root}/cpu symlink on every
		// common distribution.
		if _, err := os.Stat(filepath.Join(filepath.Dir(mem), "cpu", "cpu.shares")); err != nil || filepath.Base(mem) != "memory" {
			why = append(why, fmt.Sprintf("cgroup v1 memory at %s and cpu at %s: want both under one directory", mem, cpu))
			break
		}
		return &Manager{version: 1, v1Root: filepath.Dir(mem), base: base}, nil
	default:
		return &Manager{version: 1, v1Root: filepath.Dir(mem), base: base}, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnavailable, strings.Join(why, "; "))
}

// hierarchy is the v1 subset ten uses: memory and cpu, nothing else.
func (m *Manager) hierarchy() ([]cgroup1.Subsystem, error) {
	return []cgroup1.Subsystem{cgroup1.NewMemory(m.v1Root), cgroup1.NewCpu(m.v1Root)}, nil
}

func (m *Manager) relPath(name string) string { return "/" + m.base + "/" + name }

// dirs returns the directories of group name: one on v2, memory and cpu
// on v1.
func (m *Manager) dirs(name string) []string {
	if m.version == 2 {
		return []string{filepath.Join(m.unified, m.base, name)}
	}
	return []string{
		filepath.Join(m.v1Root, "memory", m.base, name),
		filepath.Join(m.v1Root, "cpu", m.base, name),
	}
}

// Check makes sure groups with limits l can be created: the base
// directory exists (it is created) and offers the controllers l needs.
// The error wraps ErrUnavailable and names what is missing.
func (m *Manager) Check(l Limits) error {
	if m.version == 2 {
		// Creating the base with the controllers enabled is the test.
		mgr, err := cgroup2.NewManager(m.unified, "/"+m.base, v2Resources(l, true))
		if err != nil {
			return fmt.Errorf("%w: create %s: %v (ten needs root, or a delegated cgroup, to create cgroups)",
				ErrUnavailable, filepath.Join(m.unified, m.base), err)
		}
		have, err := mgr.Controllers()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		for _, c := range l.controllers() {
			if !slices.Contains(have, c) {
				return fmt.Errorf("%w: controller %s is not enabled in %s", ErrUnavailable, c, filepath.Join(m.unified, m.base))
			}
		}
		return nil
	}
	for _, d := range m.dirs("") {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("%w: create %s: %v (ten needs root to create cgroups)", ErrUnavailable, d, err)
		}
	}
	return nil
}

// v2Resources are the v2 files for l. base: the values only enable the
// controllers (memory.max and cpu.weight of the base stay as they are).
func v2Resources(l Limits, base bool) *cgroup2.Resources {
	r := &cgroup2.Resources{}
	if l.MemoryMB > 0 {
		r.Memory = &cgroup2.Memory{}
		if !base {
			r.Memory.Max = ptr(l.MemoryBytes())
		}
	}
	if l.CPUWeight > 0 {
		r.CPU = &cgroup2.CPU{}
		if !base {
			r.CPU.Weight = ptr(uint64(min(max(l.CPUWeight, 1), 10000)))
		}
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// Create makes a new group for a process of name (see GroupName) with
// limits l. Empty groups of name left by processes that died while no
// server watched them are removed first.
func (m *Manager) Create(name string, l Limits) (*Group, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	m.sweep(name)
	g := m.group(name + "." + strconv.FormatInt(time.Now().UnixNano(), 36))
	if m.version == 2 {
		if _, err := cgroup2.NewManager(m.unified, g.mount, v2Resources(l, false)); err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", g.dirs[0], err)
		}
		return g, nil
	}
	res := &specs.LinuxResources{}
	if l.MemoryMB > 0 {
		res.Memory = &specs.LinuxMemory{Limit: ptr(l.MemoryBytes())}
		// With swap accounting, bound memory+swap too: otherwise a
		// tenant over its limit swaps instead of being stopped.
		if _, err := os.Stat(filepath.Join(m.v1Root, "memory", "memory.memsw.limit_in_bytes")); err == nil {
			res.Memory.Swap = ptr(l.MemoryBytes())
		}
	}
	if l.CPUWeight > 0 {
		res.CPU = &specs.LinuxCPU{Shares: ptr(l.CPUShares())}
	}
	if _, err := cgroup1.New(cgroup1.StaticPath(g.mount), res, cgroup1.WithHiearchy(m.hierarchy)); err != nil {
		g.Remove()
		return nil, fmt.Errorf("create cgroup %s: %w", g.mount, err)
	}
	return g, nil
}

// group is the Group of directory name under the base.
func (m *Manager) group(dir string) *Group {
	return &Group{version: m.version, dirs: m.dirs(dir), mount: m.relPath(dir)}
}

// sweep removes the empty groups of name. A group with processes is left
// alone: it may be a live process's that another server adopted.
func (m *Manager) sweep(name string) {
	entries, err := os.ReadDir(filepath.Dir(m.dirs(name)[0]))
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), name+".") {
			continue
		}
		g := m.group(e.Name())
		if len(g.procs()) == 0 {
			g.Remove()
		}
	}
}

// Find returns the group of name that process pid is in, for a process
// another server started, or false if it is in none (it was started
// before limits were configured).
func (m *Manager) Find(name string, pid int) (*Group, bool) {
	cgs, err := proc.Cgroups(pid)
	if err != nil || checkName(name) != nil {
		return nil, false
	}
	prefix := m.relPath(name) + "."
	for _, c := range cgs {
		if !strings.HasPrefix(c.Path, prefix) || strings.Contains(c.Path[len(prefix):], "/") {
			continue
		}
		g := m.group(filepath.Base(c.Path))
		if containsIn(cgs, m.version, g.mount) {
			return g, true
		}
	}
	return nil, false
}

// errNotEmpty: processes are still in the group after SIGKILL.
var errNotEmpty = errors.New("processes remain in the cgroup")
