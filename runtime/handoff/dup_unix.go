//go:build unix

package handoff

import "golang.org/x/sys/unix"

// dup2 makes newfd a copy of oldfd (dup3 where dup2 does not exist).
func dup2(oldfd, newfd int) error { return unix.Dup2(oldfd, newfd) }
