package handoff

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// listenFDsStart is the first inherited descriptor in both the systemd and
// our own handoff convention: 0-2 are stdio.
const listenFDsStart = 3

// Environment of a handoff child. They are ours, not systemd's, because
// LISTEN_PID would have to name the child before it exists.
const (
	envListenFDs   = "TEN_LISTEN_FDS"
	envListenNames = "TEN_LISTEN_FDNAMES"
	envReadyFD     = "TEN_READY_FD"
	envParentPID   = "TEN_HANDOFF_PARENT"
	envStderrFD    = "TEN_HANDOFF_STDERR_FD"
)

// Inherited is what a server process received from whoever started it.
type Inherited struct {
	// Listeners by name ("http" unless the sender named them otherwise).
	Listeners map[string]net.Listener
	// FromSystemd is set when the listeners came from socket activation.
	FromSystemd bool
	// ParentPID is the pid of the server handing over to us, 0 if none.
	ParentPID int

	ready  *os.File
	stderr *os.File // the parent's own stderr, taken over once ready
}

// HTTP returns the listener to serve: the one named "http", else the only
// one passed (systemd names a socket after its unit unless the unit sets
// FileDescriptorName=http), else nil.
func (in *Inherited) HTTP() net.Listener {
	if in == nil {
		return nil
	}
	if ln, ok := in.Listeners["http"]; ok {
		return ln
	}
	if len(in.Listeners) == 1 {
		for _, ln := range in.Listeners {
			return ln
		}
	}
	return nil
}

// Receive collects listeners passed by a handing-over parent or by systemd
// socket activation, and clears the variables so that tenants spawned later
// do not see them. It returns an empty Inherited when there are none.
func Receive() (*Inherited, error) {
	in := &Inherited{Listeners: map[string]net.Listener{}}

	if n := os.Getenv(envListenFDs); n != "" {
		count, err := strconv.Atoi(n)
		if err != nil || count < 0 {
			return nil, fmt.Errorf("%s=%q: not a count of descriptors", envListenFDs, n)
		}
		names := splitNames(os.Getenv(envListenNames), count)
		if err := collect(in, count, names); err != nil {
			return nil, err
		}
		if fd := os.Getenv(envReadyFD); fd != "" {
			n, err := strconv.Atoi(fd)
			if err != nil {
				return nil, fmt.Errorf("%s=%q: not a descriptor", envReadyFD, fd)
			}
			in.ready = os.NewFile(uintptr(n), "handoff-ready")
		}
		if fd := os.Getenv(envStderrFD); fd != "" {
			if n, err := strconv.Atoi(fd); err == nil {
				syscall.CloseOnExec(n)
				in.stderr = os.NewFile(uintptr(n), "handoff-stderr")
			}
		}
		in.ParentPID, _ = strconv.Atoi(os.Getenv(envParentPID))
		for _, k := range []string{envListenFDs, envListenNames, envReadyFD, envParentPID, envStderrFD} {
			os.Unsetenv(k)
		}
		return in, nil
	}

	// systemd socket activation: only honoured when meant for this process.
	if pid, _ := strconv.Atoi(os.Getenv("LISTEN_PID")); pid == os.Getpid() {
		count, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
		if err != nil || count < 0 {
			return nil, fmt.Errorf("LISTEN_FDS=%q: not a count of descriptors", os.Getenv("LISTEN_FDS"))
		}
		names := splitNames(os.Getenv("LISTEN_FDNAMES"), count)
		if err := collect(in, count, names); err != nil {
			return nil, err
		}
		in.FromSystemd = true
		for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
			os.Unsetenv(k)
		}
	}
	return in, nil
}

func collect(in *Inherited, count int, names []string) error {
	for i := 0; i < count; i++ {
		fd := listenFDsStart + i
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), names[i])
		ln, err := net.FileListener(f)
		f.Close() // FileListener dups the descriptor
		if err != nil {
			return fmt.Errorf("inherited descriptor %d (%s) is not a listening socket: %w", fd, names[i], err)
		}
		in.Listeners[names[i]] = ln
	}
	return nil
}

// splitNames pairs descriptors with names; unnamed ones are "http" for the
// first and "fdN" after it, so a plain single-socket unit just works.
func splitNames(s string, count int) []string {
	given := strings.Split(s, ":")
	names := make([]string, count)
	for i := range names {
		switch {
		case s != "" && i < len(given) && given[i] != "":
			names[i] = given[i]
		case i == 0:
			names[i] = "http"
		default:
			names[i] = fmt.Sprintf("fd%d", listenFDsStart+i)
		}
	}
	return names
}

// Ready tells the parent that handed over its sockets that this process is
// serving. It is a no-op when there is no parent.
func (in *Inherited) Ready() error {
	if in == nil || in.ready == nil {
		return nil
	}
	defer func() { in.ready.Close(); in.ready = nil }()
	if _, err := in.ready.Write([]byte{1}); err != nil {
		return fmt.Errorf("signal ready to parent %d: %w", in.ParentPID, err)
	}
	if in.stderr != nil {
		// Our stderr is a pipe to the parent, which is about to exit:
		// write to its stderr (a log file, journald) directly from now on.
		err := dup2(int(in.stderr.Fd()), 2)
		in.stderr.Close()
		in.stderr = nil
		if err != nil {
			return fmt.Errorf("take over the parent's stderr: %w", err)
		}
	}
	return nil
}
