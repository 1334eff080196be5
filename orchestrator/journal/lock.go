package journal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// LockFileName is the lock file inside the state directory.
const LockFileName = "lock"

// ErrLocked is returned (wrapped in a *LockedError) when another process
// holds the lock.
var ErrLocked = errors.New("the upgrade lock is held by another process")

// LockedError says who holds the lock and what to do.
type LockedError struct {
	Path string
	// PID is the holder's process id as it wrote it into the lock file; 0
	// if it has not written it yet.
	PID int
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("another ten-upgrade (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s holds %s: an upgrade or rollback is in progress; "+
		"see it with `ten-upgrade status` and wait for it to end, or stop that process "+
		"(the lock is released when it exits, even if it is killed)", who, e.Path)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Lock takes an exclusive flock(2) on {state_dir}/lock without waiting, and
// writes this process's pid into the file. If another process holds it,
// Lock returns a *LockedError (errors.Is ErrLocked) naming that process's
// pid.
//
// The kernel releases a flock when the last descriptor of the open file is
// closed, so the lock dies with its process, however it dies: there are no
// stale locks to clear by hand. The descriptor is close-on-exec, so child
// processes (a ten serve started during the upgrade) do not inherit it.
// The file itself is never removed: removing a lock file races with a
// process that has just opened it and would let two holders in.
//
// unlock empties the file and releases the lock; it may be called more
// than once. Each call to Lock opens the file anew, so a second Lock in the
// same process fails like one in another process.
func (j *Journal) Lock() (unlock func() error, err error) {
	path := filepath.Join(j.dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := flock(f, syscall.LOCK_EX); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Path: path, PID: readPID(f)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := writePID(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return sync.OnceValue(func() error {
		// Empty the file while still holding the lock, so that nobody
		// reads our pid after we are gone.
		terr := f.Truncate(0)
		if cerr := f.Close(); cerr != nil {
			return fmt.Errorf("unlock %s: %w", path, cerr)
		}
		if terr != nil {
			return fmt.Errorf("unlock %s: %w", path, terr)
		}
		return nil
	}), nil
}

// Holder reports whether another process holds the lock, and its pid (0
// if unknown). It probes with a shared flock that it releases at once; a
// Lock attempted in that same instant by another process fails with
// ErrLocked, so only status displays should call it.
func (j *Journal) Holder() (pid int, held bool, err error) {
	path := filepath.Join(j.dir, LockFileName)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("check lock %s: %w", path, err)
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_SH); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return readPID(f), true, nil
		}
		return 0, false, fmt.Errorf("check lock %s: %w", path, err)
	}
	return 0, false, nil // closing f releases the probe
}

// flock tries to take a lock of kind how on f without waiting, retrying
// when interrupted by a signal.
func flock(f *os.File, how int) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how|syscall.LOCK_NB)
			if !errors.Is(ferr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// readPID reads the pid in a lock file; 0 if there is none (the holder
// has not written it yet) or it is garbled.
func readPID(f *os.File) int {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 64))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
