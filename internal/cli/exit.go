// Package cli holds what ten's and ten-upgrade's command lines share: how
// a command's exit status reaches the process.
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// ExitError carries an exit status that is part of a command's contract
// (`ten config --check`, `ten-upgrade check`) up to Run. Err, when set,
// is printed; without it the command has already said what it had to.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Run executes root with args and returns the process exit status: 0, an
// ExitError's code, or otherCode for any other error. Errors are printed
// to stderr as "NAME: error", NAME being root's.
func Run(root *cobra.Command, args []string, stdout, stderr io.Writer, otherCode int) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(stderr, root.Name()+":", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, root.Name()+":", err)
	return otherCode
}
