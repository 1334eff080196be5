//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/tenement/ten/runtime/config"
)

// checkIsolation fails early, with a message that says what to do, for an
// isolation level this server cannot provide.
func checkIsolation(level string) error { return checkIsolationAs(level, os.Geteuid()) }

// checkIsolationAs is checkIsolation for a server running as euid.
//
// Namespace isolation is the default, as in tenement (runtime/mod.rs:43-45).
// Without root, tenement's spawn fails when unshare(2) is refused
// (runtime/namespace.rs pre_exec); ten fails the same spawns, earlier and
// with the fix in the message, and never falls back to running the tenant
// unisolated (Supervisor.Start also logs each such service once).
func checkIsolationAs(level string, euid int) error {
	switch level {
	case "", config.IsolationProcess:
		return nil
	case config.IsolationNamespace:
		if euid != 0 {
			return errors.New(`isolation "namespace" (the default) needs root (CAP_SYS_ADMIN) to create PID and mount namespaces; run ten as root, or set isolation = "process" for the service to run its tenants without namespaces`)
		}
		return nil
	default:
		return fmt.Errorf("isolation %q is not supported; use \"process\" or \"namespace\"", level)
	}
}

// applyIsolation gives a namespace-isolated tenant its own PID namespace
// (it is pid 1 there and sees only its descendants as processes it can
// signal) and its own mount namespace. The mount namespace is created with
// Unshareflags rather than Cloneflags because then the Go runtime also
// makes every mount in it private: mounts the tenant makes cannot
// propagate back to the host. The network is shared: the tenant listens
// on a host port.
//
// Unlike tenement, no fresh /proc is mounted (that needs code to run in the
// child between fork and exec, which os/exec does not offer), so the
// tenant still reads the host's /proc.
func applyIsolation(attr *syscall.SysProcAttr, level string) error {
	if level == config.IsolationNamespace {
		attr.Cloneflags |= syscall.CLONE_NEWPID
		attr.Unshareflags |= syscall.CLONE_NEWNS
	}
	return nil
}
