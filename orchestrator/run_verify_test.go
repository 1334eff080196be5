package orchestrator

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	tensite "github.com/tenement/ten/internal/site"
	"github.com/tenement/ten/runtime/store"
)

// TestRunResumeRefusesAChangedCandidate kills ten-upgrade at three points,
// replaces the copy of the candidate the next step would use (the kept
// candidate, the staged binary, the installed binary) with another file,
// and checks that run --resume refuses with nothing done, saying what
// changed and what to do; a rollback then returns to 1.0.0.
func TestRunResumeRefusesAChangedCandidate(t *testing.T) {
	s := newSite(t, fromVariant)
	s.start()
	pids := s.waitTenants()
	from, to := tenBinary(t, fromVariant), tenBinary(t, toVariant)
	staged := filepath.Join(filepath.Dir(s.Bin), ".ten.new")
	kept := func() string {
		m, _ := filepath.Glob(filepath.Join(s.DataDir, "upgrade", "candidates", "ten-*"))
		if len(m) != 1 {
			t.Fatalf("kept candidates: %v", m)
		}
		return m[0]
	}
	for _, tc := range []struct {
		killAt string // fault point
		file   func() string
		what   string
	}{
		{"before:" + StepBackupBinary, kept, "the verified candidate"},
		{"before:" + StepSwitch, func() string { return staged }, "the staged binary"},
		{"before:" + StepWatch, func() string { return s.Bin }, "the installed binary"},
	} {
		t.Run(tc.killAt, func(t *testing.T) {
			s.t = t
			r := s.upgrade([]string{FaultEnv + "=" + tc.killAt}, "run", "--binary", to, "--yes", "--json", "--watch", "500ms")
			if r.code != -int(syscall.SIGKILL) {
				t.Fatalf("killed at %s: want death by SIGKILL, got %s", tc.killAt, r)
			}
			changed := tc.file()
			copyFile(t, from, changed+".tmp", 0o755)
			if err := os.Rename(changed+".tmp", changed); err != nil {
				t.Fatal(err)
			}
			before := hashFile(t, changed)
			installed := hashFile(t, s.Bin)

			r = s.upgrade(nil, "run", "--resume", "--yes", "--json", "--watch", "500ms")
			s.want(r, 2, ResultRefused)
			if !containsAll(r.rep.Error, tc.what+" "+changed+" changed since it was verified", "nothing was done", "ten-upgrade rollback") {
				t.Errorf("error = %q", r.rep.Error)
			}
			if hashFile(t, changed) != before || hashFile(t, s.Bin) != installed {
				t.Error("the refused resume changed files")
			}
			s.want(s.upgrade(nil, "rollback", "--yes", "--json"), 0, ResultRolledBack)
			s.waitVersion(fromVersion, 10*time.Second)
			s.oneServer()
			s.samePIDs(pids)
			if !s.installedIs(from) {
				t.Error("the installed binary is not ten 1.0.0 after the rollback")
			}
		})
	}
}

// TestRunFaultStagedChanged replaces the staged binary while ten-upgrade is
// stopped just before the switch: the switch refuses to start it, and the
// upgrade rolls back.
func TestRunFaultStagedChanged(t *testing.T) {
	f, _ := newFaultRun(t, nil)
	s := f.s
	staged := filepath.Join(filepath.Dir(s.Bin), ".ten.new")
	during := func(cmd *exec.Cmd) {
		tensite.WaitFor(t, "ten-upgrade to stop before the switch", 30*time.Second, func() bool { return procState(cmd.Process.Pid) == 'T' })
		copyFile(t, tenBinary(t, fromVariant), staged+".tmp", 0o755)
		if err := os.Rename(staged+".tmp", staged); err != nil {
			syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
			t.Fatal(err)
		}
		syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
	}
	r, _ := f.run([]string{FaultEnv + "=pause:" + StepSwitch}, during,
		"run", "--binary", tenBinary(t, toVariant), "--yes", "--json", "--watch", "1s")
	f.wantRolledBack(r, StepSwitch, "the staged binary "+staged+" changed since it was verified")
}

// TestRunLockFollowsTheInstallation: while one ten-upgrade watches the new
// server with its journal in s1, a second one with its journal in s2 is
// refused (exit 2) naming the first (pid, start); the first then commits.
func TestRunLockFollowsTheInstallation(t *testing.T) {
	s := newSite(t, fromVariant)
	s.start()
	to := tenBinary(t, toVariant)
	s1, s2 := filepath.Join(s.Dir, "s1"), filepath.Join(s.Dir, "s2")
	var second result
	during := func(cmd *exec.Cmd) {
		tensite.WaitFor(t, "the first ten-upgrade to stop before its watch", 60*time.Second, func() bool { return procState(cmd.Process.Pid) == 'T' })
		defer syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
		second = s.upgrade(nil, "run", "--state-dir", s2, "--binary", to, "--yes", "--json")
		want := fmt.Sprintf("another ten-upgrade (pid %d, started at ", cmd.Process.Pid)
		if second.code != 2 || second.rep.Result != ResultRefused || !containsAll(second.rep.Error, want, "the data directory "+s.DataDir) {
			t.Errorf("the second run: %s", second)
		}
	}
	first := s.upgradeAsync([]string{FaultEnv + "=pause:" + StepWatch}, during,
		"run", "--state-dir", s1, "--binary", to, "--yes", "--json", "--watch", "500ms")
	s.want(first, 0, ResultCommitted)
	s.waitVersion(toVersion, 10*time.Second)
	s.oneServer()
}

// TestRunRollbackRefusesAChangedDatabaseBackup: a rollback past the point
// of no return restores the database backup only if it is still the file
// the upgrade took (its SHA-256 is journaled); a changed one is refused
// and the rollback stops, and goes on once the backup is put back.
func TestRunRollbackRefusesAChangedDatabaseBackup(t *testing.T) {
	s := newSite(t, fromVariant)
	s.start()
	r := s.upgrade(nil, "run", "--binary", tenBinary(t, "ten-1.2.0-contract"), "--yes", "--json", "--watch", "1s", "--strategy", "restart")
	s.want(r, 0, ResultCommitted)
	backups, _ := filepath.Glob(filepath.Join(s.DataDir, "upgrade", "backups", "tenement-*.db"))
	if len(backups) != 1 {
		t.Fatalf("backups: %v", backups)
	}
	backup := backups[0]
	good, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), backup, store.Options{NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), `INSERT INTO deploy_log (process, instance_id, action, detail, timestamp) VALUES ('api', 'x', 'planted', '', '2026-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	rb := s.upgrade(nil, "rollback", "--yes", "--json")
	if rb.code != 3 || !containsAll(rb.rep.Error, "the database backup "+backup+" changed since", "refusing to restore it") {
		t.Fatalf("rollback with a changed backup: %s", rb)
	}
	for _, sfx := range []string{"-wal", "-shm"} {
		os.Remove(backup + sfx)
	}
	if err := os.WriteFile(backup, good, 0o600); err != nil {
		t.Fatal(err)
	}
	s.want(s.upgrade(nil, "rollback", "--yes", "--json"), 0, ResultRolledBack)
	s.waitVersion(fromVersion, 10*time.Second)
	s.oneServer()
}
