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
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
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
	want := []byte("\x00" + mark + "\x00")
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(append(append([]byte{0}, env...), 0), want) || !Alive(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
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
func Alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may itself
	// contain parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}
