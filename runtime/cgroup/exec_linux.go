//go:build linux

package cgroup

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"syscall"
)

// helperArg0 is the argv[0] under which this binary, started by
// Group.Prepare on cgroup v1, joins a group and execs the tenant command.
// No command line of ten's starts with it.
const helperArg0 = "ten-cgroup-exec"

// init runs the helper before anything else of the program (main, flag
// parsing, a test's TestMain): any binary that links this package, ten
// or a test binary, can serve as its own helper through /proc/self/exe.
func init() {
	if len(os.Args) > 0 && os.Args[0] == helperArg0 {
		os.Exit(execHelper(os.Args[1:]))
	}
}

// execHelper does: for each cgroup.procs file before "--", write our pid
// to it; then exec args after "--" (path, argv...). It returns only on
// failure, with the status the tenant's exit then shows; the reason goes
// to stderr, which is the tenant's stderr log.
func execHelper(args []string) int {
	i := slices.Index(args, "--")
	if i < 0 || len(args) < i+3 {
		fmt.Fprintln(os.Stderr, "ten: cgroup helper: want PROCS-FILE... -- PATH ARGV0 [ARG...]")
		return 127
	}
	pid := []byte(strconv.Itoa(os.Getpid()))
	for _, f := range args[:i] {
		if err := writeProcs(f, pid); err != nil {
			fmt.Fprintf(os.Stderr, "ten: join cgroup: %v\n", err)
			return 127
		}
	}
	err := syscall.Exec(args[i+1], args[i+2:], os.Environ())
	fmt.Fprintf(os.Stderr, "ten: exec %s: %v\n", args[i+1], err)
	return 127
}

func writeProcs(file string, pid []byte) error {
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(pid); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", file, err)
	}
	return f.Close()
}
