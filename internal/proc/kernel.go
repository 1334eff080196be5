package proc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Cgroup is one line of /proc/PID/cgroup: the group a process is in, in
// one hierarchy.
type Cgroup struct {
	Hierarchy   string   // "0" for the unified hierarchy (cgroup v2)
	Controllers []string // empty for the unified hierarchy
	Path        string   // relative to the hierarchy's root
}

// Cgroups returns the groups process pid is in, one per hierarchy.
func Cgroups(pid int) ([]Cgroup, error) {
	b, err := os.ReadFile(path(pid, "cgroup"))
	if err != nil {
		return nil, fmt.Errorf("cgroups of pid %d: %w", pid, err)
	}
	return ParseCgroups(b), nil
}

// ParseCgroups reads the format of /proc/PID/cgroup:
// "hierarchy-ID:controller-list:path" lines, "0::path" for the unified
// hierarchy. Malformed lines are skipped.
func ParseCgroups(b []byte) []Cgroup {
	var out []Cgroup
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		c := Cgroup{Hierarchy: parts[0], Path: parts[2]}
		if parts[1] != "" {
			c.Controllers = strings.Split(parts[1], ",")
		}
		out = append(out, c)
	}
	return out
}

// Mountinfo returns this process's mount table in the format of proc(5)
// /proc/PID/mountinfo.
func Mountinfo() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(root, "self", "mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	return b, nil
}

// ErrNoSysctl is returned (wrapped) by Sysctl for a parameter this kernel
// does not have, while it has others of its group: a kernel too old for
// it, not a host without procfs.
var ErrNoSysctl = errors.New("this kernel has no such parameter")

// Sysctl returns the value of the kernel parameter key, in sysctl's
// dotted form ("net.ipv4.tcp_migrate_req").
func Sysctl(key string) (string, error) {
	file := filepath.Join(root, "sys", strings.ReplaceAll(key, ".", "/"))
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		if _, derr := os.Stat(filepath.Dir(file)); derr == nil {
			return "", fmt.Errorf("sysctl %s: %w", key, ErrNoSysctl)
		}
	}
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// CPUModel is the model name of the machine's first CPU, "" when unknown.
func CPUModel() string {
	b, err := os.ReadFile(filepath.Join(root, "cpuinfo"))
	if err != nil {
		return ""
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// MemTotal is the machine's memory as the kernel reports it ("16302512
// kB"), "" when unknown.
func MemTotal() string {
	b, err := os.ReadFile(filepath.Join(root, "meminfo"))
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if f := strings.Fields(first); len(f) > 1 && f[0] == "MemTotal:" {
		return strings.Join(f[1:], " ")
	}
	return ""
}
