package journal

import (
	"path/filepath"

	"github.com/tenement/ten/orchestrator/lockfile"
)

// LockFileName is the lock file inside the state directory.
const LockFileName = "lock"

// ErrLocked is returned (wrapped in a *LockedError) when another process
// holds the lock.
var ErrLocked = lockfile.ErrLocked

// LockedError says who holds the lock and what to do.
type LockedError = lockfile.LockedError

// Lock takes the journal's lock, {state_dir}/lock, without waiting (see
// lockfile.Acquire). If another process holds it, Lock returns a
// *LockedError (errors.Is ErrLocked) naming that process.
func (j *Journal) Lock() (unlock func() error, err error) {
	return lockfile.Acquire(filepath.Join(j.dir, LockFileName), "")
}

// Holder reports whether another process holds the journal's lock, and
// its pid (0 if unknown); see lockfile.Holder.
func (j *Journal) Holder() (pid int, held bool, err error) {
	pid, _, held, err = lockfile.Holder(filepath.Join(j.dir, LockFileName))
	return pid, held, err
}
