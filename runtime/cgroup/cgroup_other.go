//go:build !linux

package cgroup

import (
	"fmt"
	"os/exec"
	"runtime"
)

// Manager is not available outside Linux.
type Manager struct{}

// Group is not available outside Linux.
type Group struct{}

// Detect fails: cgroups are a Linux facility.
func Detect(string) (*Manager, error) {
	return nil, fmt.Errorf("%w: cgroups need Linux, this is %s", ErrUnavailable, runtime.GOOS)
}

func (*Manager) Version() int                          { return 0 }
func (*Manager) Check(Limits) error                    { return ErrUnavailable }
func (*Manager) Create(string, Limits) (*Group, error) { return nil, ErrUnavailable }
func (*Manager) Find(string, int) (*Group, bool)       { return nil, false }
func (*Group) Path() string                            { return "" }
func (*Group) Version() int                            { return 0 }
func (*Group) File(string) string                      { return "" }
func (*Group) Prepare(*exec.Cmd) (func(), error)       { return nil, ErrUnavailable }
func (*Group) OOMKills() (uint64, error)               { return 0, ErrUnavailable }
func (*Group) Contains(int) bool                       { return false }
func (*Group) Remove() error                           { return nil }
