// Package proc is the one reader of /proc in ten: which process a pid
// names (a pid and its start time), finding processes by environment
// variable, executable or parent, and the few kernel facts ten takes from
// procfs (cgroup membership, mounts, sysctls, the machine's CPU and
// memory). Before it, five places read /proc each their own way and
// disagreed on what "the same process" means; now the supervisor, the
// orchestrator, the proxy drivers, the cgroup code and the test support
// all ask here. It reads through gopsutil where gopsutil answers the
// question, and the files itself where gopsutil has no answer.
package proc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/shirou/gopsutil/v3/process"
)

// SelfExe names the running binary as the kernel keeps it, also after the
// file on disk was replaced or removed: executing it starts this very
// program again.
const SelfExe = "/proc/self/exe"

// root is where procfs is mounted.
const root = "/proc"

// path is a file of process pid in procfs.
func path(pid int, name string) string {
	return filepath.Join(root, strconv.Itoa(pid), name)
}

// ID names one process: a pid can be reused by a stranger once its
// process exits, the pair of pid and start time cannot.
type ID struct {
	PID       int
	StartTime int64 // ms since the epoch, as StartTime returns it
}

// StartTime returns when process pid started, in milliseconds since the
// epoch.
func StartTime(pid int) (int64, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("no process %d", pid)
	}
	// Not process.NewProcess: its existence check goes through
	// os.FindProcess, which opens a pidfd per call that lives until the
	// garbage collector finds it, and this runs on every liveness poll.
	st, err := handle(pid).CreateTime()
	if err != nil {
		return 0, fmt.Errorf("start time of pid %d: %w", pid, err)
	}
	return st, nil
}

// startTimeSlack tolerates the jitter of derived start times: gopsutil
// computes them from the boot time, which the kernel derives from the wall
// clock and which moves when the clock is stepped.
const startTimeSlack = 1000 // ms

// Same reports whether pid is alive and is the process that started at
// startMS (see StartTime). A pid that is alive with another start time has
// been reused by a stranger, which must never be signalled.
//
// An unknown start time (0 or less) is never the same process. Callers
// signal, adopt or wait on what Same confirms, and the one safe answer
// without a start time is "not known to be ours": a live pid alone proves
// nothing once the process that held it may have exited (a row written by
// an older program, a record from before a reboot). Every place that
// learns a pid while its process is certainly alive (it just spawned it,
// or the process itself answered) reads the start time there and then, so
// the rule costs them nothing.
func Same(pid int, startMS int64) bool {
	if pid <= 0 || startMS <= 0 || !Alive(pid) {
		return false
	}
	st, err := StartTime(pid)
	if err != nil {
		return false
	}
	d := st - startMS
	return d >= -startTimeSlack && d <= startTimeSlack
}

// Alive reports whether pid exists and is not a zombie (exited, but not yet
// reaped by its parent, which may be the server that spawned it and is
// still shutting down). A process of another user counts as alive: kill(2)
// answers EPERM for it, and procfs may hide it (hidepid).
func Alive(pid int) bool {
	if pid <= 0 {
		return false // kill(2) reads 0 and -1 as groups of processes
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	s := State(pid)
	return s != 'Z' && s != 'X'
}

// State is the state letter of pid (proc(5): R running, S sleeping, T
// stopped, Z zombie, ...), or 0 when it cannot be read.
func State(pid int) byte {
	b, err := os.ReadFile(path(pid, "stat"))
	if err != nil {
		return 0
	}
	// "pid (comm) state ppid ...": comm may itself hold spaces and
	// parentheses, so the state follows the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// HostPID is this process's pid as the mounted procfs numbers it. Inside a
// PID namespace that still sees the host's /proc (ten's namespace
// isolation mounts no new one), os.Getpid is the namespace's pid (1) while
// this is the host's, the one the supervisor knows the process by.
func HostPID() (int, error) {
	s, err := os.Readlink(filepath.Join(root, "self"))
	if err != nil {
		return 0, fmt.Errorf("read own pid from procfs: %w", err)
	}
	pid, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("own pid from procfs: %w", err)
	}
	return pid, nil
}

// Namespace names the namespace of kind ns ("pid", "mnt", ...) that pid
// is in, as the kernel's link reads ("pid:[4026531836]"): two processes
// share the namespace when the names are equal.
func Namespace(pid int, ns string) (string, error) {
	return os.Readlink(path(pid, filepath.Join("ns", ns)))
}

// handle is gopsutil's view of pid, without NewProcess's pidfd (see
// StartTime).
func handle(pid int) *process.Process {
	return &process.Process{Pid: int32(pid)}
}
