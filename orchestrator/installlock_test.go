package orchestrator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenement/ten/orchestrator/lockfile"
)

func TestLockPaths(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "ten")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "ten-link")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	dataLink := filepath.Join(dir, "data-link")
	if err := os.Symlink(data, dataLink); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ got, want string }{
		{binaryLockPath(bin), filepath.Join(dir, "bin", ".ten.lock")},
		{binaryLockPath(link), filepath.Join(dir, "bin", ".ten.lock")},
		{dataDirLockPath(data), filepath.Join(data, "upgrade", "install.lock")},
		{dataDirLockPath(dataLink), filepath.Join(data, "upgrade", "install.lock")},
		{dataDirLockPath(data + "/"), filepath.Join(data, "upgrade", "install.lock")},
	} {
		if tt.got != tt.want {
			t.Errorf("lock path %s, want %s", tt.got, tt.want)
		}
	}
}

// TestRunRefusesWhileTheDataDirIsLocked: the lock follows the data
// directory, not --state-dir: with the data directory's lock held (as by
// a ten-upgrade working with another state directory), run exits 2 naming
// the holder and creates nothing in its own state directory.
func TestRunRefusesWhileTheDataDirIsLocked(t *testing.T) {
	data := t.TempDir()
	if err := os.Mkdir(filepath.Join(data, "upgrade"), 0o700); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockfile.Acquire(dataDirLockPath(data), "")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	for _, resume := range []bool{false, true} {
		s2 := filepath.Join(t.TempDir(), "s2")
		rep := Run(context.Background(), RunOptions{
			Check:    CheckOptions{DataDir: data, Getenv: func(string) string { return "" }, Cwd: data},
			StateDir: s2, Resume: resume,
		})
		want := fmt.Sprintf("another ten-upgrade (pid %d, started at ", os.Getpid())
		if rep.ExitCode != 2 || rep.Result != ResultRefused || !strings.Contains(rep.Error, want) || !strings.Contains(rep.Error, "the data directory "+data) {
			t.Errorf("resume %v: exit %d %s %q; want 2 naming pid and start", resume, rep.ExitCode, rep.Result, rep.Error)
		}
		if _, err := os.Stat(s2); err == nil {
			t.Errorf("resume %v: the refused run created %s", resume, s2)
		}
	}
	st, err := Status(context.Background(), StatusOptions{Check: CheckOptions{DataDir: data, Getenv: func(string) string { return "" }, Cwd: data}, StateDir: filepath.Join(t.TempDir(), "s2")})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Locked || st.LockHolder != os.Getpid() {
		t.Errorf("status with another state directory: locked %v by %d; want pid %d", st.Locked, st.LockHolder, os.Getpid())
	}
}

// TestRunRefusesWhileTheBinaryIsLocked: two installations (two data
// directories) that share one installed binary share its lock.
func TestRunRefusesWhileTheBinaryIsLocked(t *testing.T) {
	in := newInstallation(t, "ten-1.0.0")
	unlock, err := lockfile.Acquire(binaryLockPath(in.installed), "")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	co := in.options()
	co.Binary = tenBinary(t, "ten-1.1.0-expand")
	co.TempDir = t.TempDir()
	state := filepath.Join(t.TempDir(), "state")
	rep := Run(context.Background(), RunOptions{Check: co, StateDir: state, Strategy: "restart"})
	want := fmt.Sprintf("another ten-upgrade (pid %d, started at ", os.Getpid())
	if rep.ExitCode != 2 || !strings.Contains(rep.Error, want) || !strings.Contains(rep.Error, "the binary "+in.installed) {
		t.Fatalf("exit %d %s %q; want 2 naming pid and start", rep.ExitCode, rep.Result, rep.Error)
	}
	if len(rep.Steps) != 0 || rep.ID != 0 {
		t.Errorf("an upgrade was journaled: id %d, steps %v", rep.ID, rep.Steps)
	}
	if kept, _ := filepath.Glob(filepath.Join(state, "candidates", "*")); len(kept) != 0 {
		t.Errorf("candidate kept after a refusal: %v", kept)
	}
}
