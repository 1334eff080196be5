package supervisor

import (
	"os/exec"
	"syscall"
)

func getpgid(pid int) (int, error) { return syscall.Getpgid(pid) }

func lookPath(name string) (string, error) { return exec.LookPath(name) }
