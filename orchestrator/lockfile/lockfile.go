// Package lockfile is the exclusive lock ten-upgrade holds while it changes
// something: an flock(2) on a file that names the holder (its pid and when
// it took the lock), released by the kernel when the holder exits, however
// it exits.
package lockfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrLocked is returned (wrapped in a *LockedError) when another process
// holds the lock.
var ErrLocked = errors.New("the upgrade lock is held by another process")

// LockedError says who holds a lock and what to do.
type LockedError struct {
	Path string
	// Guards says what the lock guards, for the message ("the journal",
	// "the data directory /var/lib/ten"); empty says nothing.
	Guards string
	// PID and StartedAt are the holder's process id and when it took the
	// lock, as it wrote them into the file; zero if it has not yet.
	PID       int
	StartedAt time.Time
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("another ten-upgrade (pid %d", e.PID)
		if !e.StartedAt.IsZero() {
			who += ", started at " + e.StartedAt.UTC().Format(time.RFC3339)
		}
		who += ")"
	}
	what := e.Path
	if e.Guards != "" {
		what = fmt.Sprintf("%s, the lock on %s", e.Path, e.Guards)
	}
	return fmt.Sprintf("%s holds %s: an upgrade or rollback is in progress; "+
		"see it with `ten-upgrade status` and wait for it to end, or stop that process "+
		"(the lock is released when it exits, even if it is killed)", who, what)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Acquire takes an exclusive flock(2) on path without waiting, creating the
// file (0600) if needed, and writes this process's pid and the time into
// it. If another process holds it, Acquire returns a *LockedError
// (errors.Is ErrLocked) naming that process; guards says what the lock
// guards, for that message.
//
// The kernel releases a flock when the last descriptor of the open file is
// closed, so the lock dies with its process: there are no stale locks to
// clear by hand. The descriptor is close-on-exec, so child processes (a
// ten serve started during the upgrade) do not inherit it. The file itself
// is never removed: removing a lock file races with a process that has
// just opened it and would let two holders in.
//
// unlock empties the file and releases the lock; it may be called more
// than once. Each Acquire opens the file anew, so a second Acquire in the
// same process fails like one in another process.
func Acquire(path, guards string) (unlock func() error, err error) {
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	defer w.Close()
	// The lock is held on a read-only descriptor: a file open for writing
	// for the length of an upgrade would keep its file system from being
	// remounted read-only.
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := flock(f, syscall.LOCK_EX); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid, since := readHolder(f)
			return nil, &LockedError{Path: path, Guards: guards, PID: pid, StartedAt: since}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := writeHolder(w); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return sync.OnceValue(func() error {
		// Empty the file while still holding the lock, so that nobody
		// reads our pid after we are gone.
		terr := os.Truncate(path, 0)
		if cerr := f.Close(); cerr != nil {
			return fmt.Errorf("unlock %s: %w", path, cerr)
		}
		if terr != nil {
			return fmt.Errorf("unlock %s: %w", path, terr)
		}
		return nil
	}), nil
}

// Holder reports whether another process holds the lock at path, and its
// pid and start (zero if unknown). It probes with a shared flock that it
// releases at once; an Acquire attempted in that same instant by another
// process fails with ErrLocked, so only status displays should call it.
func Holder(path string) (pid int, since time.Time, held bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, time.Time{}, false, nil
	}
	if err != nil {
		return 0, time.Time{}, false, fmt.Errorf("check lock %s: %w", path, err)
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_SH); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid, since := readHolder(f)
			return pid, since, true, nil
		}
		return 0, time.Time{}, false, fmt.Errorf("check lock %s: %w", path, err)
	}
	return 0, time.Time{}, false, nil // closing f releases the probe
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

// writeHolder writes "PID STARTED_AT\n" into the lock file.
func writeHolder(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	line := strconv.Itoa(os.Getpid()) + " " + time.Now().UTC().Format(time.RFC3339) + "\n"
	_, err := f.WriteAt([]byte(line), 0)
	return err
}

// readHolder reads the pid and start in a lock file; zero for what is not
// there (the holder has not written it yet, or an older ten-upgrade wrote
// only its pid) or garbled.
func readHolder(f *os.File) (int, time.Time) {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 128))
	if err != nil {
		return 0, time.Time{}
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, time.Time{}
	}
	pid, err := strconv.Atoi(fields[0])
	if err != nil || pid <= 0 {
		return 0, time.Time{}
	}
	var since time.Time
	if len(fields) > 1 {
		since, _ = time.Parse(time.RFC3339, fields[1])
	}
	return pid, since
}
