package proc

import (
	"errors"
	"os/exec"
	"syscall"
)

// ExitCode is the exit code of a command that ran, from the error of its
// Run or Wait, or minus the signal that killed it; the error is for a
// command that did not run.
func ExitCode(err error) (int, error) {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 0, err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal()), nil
	}
	return ee.ExitCode(), nil
}
