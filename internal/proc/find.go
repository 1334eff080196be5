package proc

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/shirou/gopsutil/v3/process"
)

// FindByEnv lists the live processes, this one excluded, whose environment
// holds the variable kv ("NAME=value") exactly. Environments are inherited,
// so a variable set on a process finds it and everything started below it
// after a crash of whatever started them. The finders fail only when the
// process table cannot be listed (no procfs).
func FindByEnv(kv string) ([]ID, error) {
	return find(func(p *process.Process) bool {
		env, err := p.Environ()
		return err == nil && slices.Contains(env, kv)
	})
}

// FindByExe lists the live processes, this one excluded, running the
// executable at exe, also after exe was renamed or replaced: the kernel
// then reports the old name with " (deleted)", or the new one.
func FindByExe(exe string) ([]ID, error) {
	return find(func(p *process.Process) bool {
		got, err := p.Exe()
		return err == nil && strings.TrimSuffix(got, " (deleted)") == exe
	})
}

// Children lists the live processes whose parent is ppid.
func Children(ppid int) ([]ID, error) {
	return find(func(p *process.Process) bool {
		pp, err := p.Ppid()
		return err == nil && int(pp) == ppid
	})
}

// find lists the live processes, this one excluded, that match, with the
// start time that names each. A process whose start time cannot be read
// has exited since it matched.
func find(match func(*process.Process) bool) ([]ID, error) {
	pids, err := process.Pids()
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	var out []ID
	for _, p := range pids {
		pid := int(p)
		if pid == self || !match(handle(pid)) || !Alive(pid) {
			continue
		}
		if st, err := StartTime(pid); err == nil {
			out = append(out, ID{PID: pid, StartTime: st})
		}
	}
	return out, nil
}

// PIDs returns the pids of ids.
func PIDs(ids []ID) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = id.PID
	}
	return out
}
