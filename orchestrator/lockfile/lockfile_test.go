package lockfile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLockedErrorMessage(t *testing.T) {
	at := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		e    LockedError
		want string
	}{
		{LockedError{Path: "/s/lock", PID: 1234, StartedAt: at}, "another ten-upgrade (pid 1234, started at 2026-12-02T07:00:00Z) holds /s/lock:"},
		{LockedError{Path: "/s/lock", PID: 1234}, "another ten-upgrade (pid 1234) holds /s/lock:"},
		{LockedError{Path: "/s/lock"}, "another process holds /s/lock:"},
		{LockedError{Path: "/d/upgrade/install.lock", Guards: "the data directory /d", PID: 7}, "holds /d/upgrade/install.lock, the lock on the data directory /d:"},
	} {
		msg := tt.e.Error()
		for _, s := range []string{tt.want, "ten-upgrade status", "released when it exits"} {
			if !strings.Contains(msg, s) {
				t.Errorf("message %q does not contain %q", msg, s)
			}
		}
	}
}

// TestAcquireNamesTheHolder: a second Acquire (a new open file, as in
// another process) is refused with the holder's pid and start time;
// Holder sees the same; after unlock the lock is free and the file empty.
func TestAcquireNamesTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "install.lock")
	before := time.Now().Add(-time.Second)
	unlock, err := Acquire(path, "the data directory /d")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(path, "the data directory /d")
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("second Acquire = %v, want ErrLocked", err)
	}
	if le.PID != os.Getpid() || le.StartedAt.Before(before) || le.StartedAt.After(time.Now()) || le.Guards != "the data directory /d" {
		t.Errorf("LockedError = %+v, want pid %d started now", le, os.Getpid())
	}
	if !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())+", started at ") {
		t.Errorf("message %q does not name the holder", err)
	}
	if pid, since, held, err := Holder(path); err != nil || !held || pid != os.Getpid() || !since.Equal(le.StartedAt) {
		t.Errorf("Holder = %d, %v, %v, %v", pid, since, held, err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Errorf("lock file after unlock holds %q", b)
	}
	if _, _, held, err := Holder(path); err != nil || held {
		t.Errorf("Holder after unlock = %v, %v", held, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file mode %v, %v; want 0600", fi.Mode(), err)
	}
}

// TestReadHolderOldFormat: a lock file written by an older ten-upgrade
// holds only the pid.
func TestReadHolderOldFormat(t *testing.T) {
	for _, tt := range []struct {
		content string
		pid     int
		since   bool
	}{
		{"1234\n", 1234, false},
		{"1234 2026-12-02T07:00:00Z\n", 1234, true},
		{"", 0, false},
		{"garbage\n", 0, false},
	} {
		f, err := os.CreateTemp(t.TempDir(), "lock")
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(tt.content)
		pid, since := readHolder(f)
		f.Close()
		if pid != tt.pid || since.IsZero() == tt.since {
			t.Errorf("%q: pid %d since %v", tt.content, pid, since)
		}
	}
}
