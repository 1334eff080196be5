// Package cgroup puts tenant processes in cgroups of their own, with a
// memory limit and a CPU weight, on cgroup v2 (the unified hierarchy) or,
// where v2 has no controllers (a hybrid host whose memory and cpu
// controllers are mounted as v1 hierarchies), on cgroup v1.
//
// The file formats, the creation of a group with its limits, the enabling
// of controllers in the parents (v2) and the removal are left to
// github.com/containerd/cgroups/v3, the library containerd and its
// runtimes use; this package decides where groups live, how a process
// enters its group before it runs its first instruction (Group.Prepare),
// and reads the OOM kill counter.
//
// Groups live at a fixed place, so that every server over one data
// directory (an upgrade runs two) finds the same group for an instance:
//
//	v2: {unified mount}/ten/{hash}/{service}:{id}.{n}
//	v1: {memory mount}/ten/{hash}/{service}:{id}.{n}, and the same under the cpu mount
//
// where {hash} is the first 8 hex digits of the SHA-256 of the absolute
// data directory, so two installations on one host do not share groups,
// and {n} is unique per process: the group of a process that has exited
// and the group of its replacement are never the same directory, so the
// removal of the one cannot touch the other, whatever the order. A server
// adopting a process finds its group from /proc/PID/cgroup (Find).
package cgroup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Limits are the resource limits of one instance; zero means unset.
type Limits struct {
	MemoryMB  int // memory.max (v2), memory.limit_in_bytes (v1)
	CPUWeight int // cpu.weight 1-10000 (v2); cpu.shares = weight*1024/100 (v1)
}

// Set reports whether any limit is set.
func (l Limits) Set() bool { return l.MemoryMB > 0 || l.CPUWeight > 0 }

// MemoryBytes is the memory limit in bytes.
func (l Limits) MemoryBytes() int64 { return int64(l.MemoryMB) << 20 }

// CPUShares is the v1 cpu.shares equivalent of the weight, as tenement
// documents it: 100 (the v2 default weight) is 1024 (the v1 default).
// The kernel's minimum is 2.
func (l Limits) CPUShares() uint64 { return max(uint64(l.CPUWeight)*1024/100, 2) }

// controllers returns the controllers the limits need.
func (l Limits) controllers() []string {
	var c []string
	if l.MemoryMB > 0 {
		c = append(c, "memory")
	}
	if l.CPUWeight > 0 {
		c = append(c, "cpu")
	}
	return c
}

// ErrUnavailable is wrapped by every error that says no cgroup can be made
// on this host (not root, no controller, not Linux).
var ErrUnavailable = errors.New("cgroups unavailable")

// Base returns the directory, relative to each hierarchy's root, under
// which the groups of the installation with data directory dataDir live.
func Base(dataDir string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(dataDir)))
	return "ten/" + hex.EncodeToString(sum[:4])
}

// GroupName is the name of instance service:id's groups, before ".{n}".
func GroupName(service, id string) string { return service + ":" + id }

// checkName refuses names that would leave the base directory: service
// and instance names are validated by the supervisor, but a group path is
// written as root.
func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return fmt.Errorf("cgroup name %q: want a single path element", name)
	}
	return nil
}
