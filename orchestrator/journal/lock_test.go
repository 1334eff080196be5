package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLockInProcess(t *testing.T) {
	j := openTest(t, t.TempDir())
	if _, held, err := j.Holder(); err != nil || held {
		t.Fatalf("Holder before any lock = %v, %v", held, err)
	}
	unlock, err := j.Lock()
	must(t, err)
	b, err := os.ReadFile(filepath.Join(j.Dir(), LockFileName))
	must(t, err)
	if got, want := string(b), fmt.Sprintf("%d ", os.Getpid()); !strings.HasPrefix(got, want) {
		t.Errorf("lock file holds %q, want %q and the time", got, want)
	}

	// A second Lock opens the file anew, so it conflicts like another
	// process would.
	_, err = j.Lock()
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second Lock = %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
	if pid, held, err := j.Holder(); err != nil || !held || pid != os.Getpid() {
		t.Errorf("Holder while locked = %d, %v, %v", pid, held, err)
	}

	must(t, unlock())
	must(t, unlock()) // idempotent
	if b, _ := os.ReadFile(filepath.Join(j.Dir(), LockFileName)); len(b) != 0 {
		t.Errorf("lock file after unlock holds %q", b)
	}
	if _, held, err := j.Holder(); err != nil || held {
		t.Errorf("Holder after unlock = %v, %v", held, err)
	}
	unlock2, err := j.Lock()
	must(t, err)
	must(t, unlock2())
}
