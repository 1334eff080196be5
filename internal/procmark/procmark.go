// Package procmark finds the processes a test or benchmark started by a
// marker variable in their environment. Environments are inherited, so the
// mark reaches every server, tenant and tool started below the marked
// process, whatever becomes of its parent: the cleanup finds them all,
// even after a kill -9 of the process that started them.
//
// ten serve gives its tenants an allowlist of its environment, not all of
// it; the allowlist passes LC_* (the locale categories), so marks are
// named LC_NAME: they reach the tenants too, and programs ignore an LC_
// variable that names no locale category.
package procmark

import (
	"crypto/rand"
	"encoding/hex"
	"syscall"

	"github.com/tenement/ten/internal/proc"
)

// New returns a fresh mark "LC_NAME=random", to add to the environment of
// every process started.
func New(name string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return "LC_" + name + "=" + hex.EncodeToString(b)
}

// Find lists the live (not zombie) processes whose environment holds mark,
// this process excluded.
func Find(mark string) []int {
	ids, _ := proc.FindByEnv(mark) // none found without procfs
	return proc.PIDs(ids)
}

// Kill SIGKILLs every process holding mark and the process groups they
// lead (nginx's workers drop the environment but stay in the master's
// group), and returns the pids it found.
func Kill(mark string) []int {
	own := syscall.Getpgrp()
	pids := Find(mark)
	for _, pid := range pids {
		if pg, err := syscall.Getpgid(pid); err == nil && pg == pid && pg != own {
			syscall.Kill(-pg, syscall.SIGKILL)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return pids
}

// Alive reports whether pid is a running process, not a zombie waiting
// for its parent.
func Alive(pid int) bool { return proc.Alive(pid) }
