package fsutil

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t testing.TB, path, content string, perm os.FileMode) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(content), perm))
	must(t, os.Chmod(path, perm))
}

func read(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t testing.TB, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

// noTemps fails if dir holds a temporary file of ours.
func noTemps(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// withRename replaces rename for the duration of the test.
func withRename(t *testing.T, f func(string, string) error) {
	old := rename
	rename = f
	t.Cleanup(func() { rename = old })
}

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name     string
		existing string // "" means no file
		perm     os.FileMode
	}{
		{"new file", "", 0o600},
		{"replace", "old content that is longer", 0o644},
		{"executable", "old", 0o755},
		{"exact mode despite umask", "", 0o777},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if tt.existing != "" {
				write(t, path, tt.existing, 0o640)
			}
			must(t, WriteFile(path, []byte("new"), tt.perm))
			if got := read(t, path); got != "new" {
				t.Errorf("content %q", got)
			}
			if got := mode(t, path).Perm(); got != tt.perm {
				t.Errorf("mode %v, want %v", got, tt.perm)
			}
			noTemps(t, dir)
		})
	}
	if err := WriteFile(filepath.Join(t.TempDir(), "missing", "f"), nil, 0o600); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

func TestCopyFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	write(t, src, strings.Repeat("binary", 100000), 0o700)
	dst := filepath.Join(dir, "dst")
	write(t, dst, "old", 0o600)
	sum, err := CopyFile(src, dst, 0o751)
	must(t, err)
	if want := sha256Hex(read(t, src)); sum != want {
		t.Errorf("CopyFile returned sha256 %s, want %s", sum, want)
	}
	if read(t, dst) != read(t, src) {
		t.Error("content differs")
	}
	if got := mode(t, dst).Perm(); got != 0o751 {
		t.Errorf("mode %v, want 0751", got)
	}
	noTemps(t, dir)
}

// A failed copy leaves dst as it was and no temporary file.
func TestCopyFileFailure(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) (src, dst string)
		want  string
	}{
		{"missing source", func(t *testing.T, dir string) (string, string) {
			return filepath.Join(dir, "nope"), filepath.Join(dir, "dst")
		}, "no such file"},
		{"read fails mid-copy", func(t *testing.T, dir string) (string, string) {
			src := filepath.Join(dir, "srcdir") // open succeeds, read fails
			must(t, os.Mkdir(src, 0o755))
			return src, filepath.Join(dir, "dst")
		}, "is a directory"},
		{"rename fails", func(t *testing.T, dir string) (string, string) {
			src := filepath.Join(dir, "src")
			write(t, src, "new", 0o644)
			dst := filepath.Join(dir, "dst") // a non-empty directory cannot be replaced
			must(t, os.MkdirAll(filepath.Join(dst, "x"), 0o755))
			return src, dst
		}, "dst"},
		{"injected rename error", func(t *testing.T, dir string) (string, string) {
			withRename(t, func(string, string) error { return syscall.EIO })
			src := filepath.Join(dir, "src")
			write(t, src, "new", 0o644)
			return src, filepath.Join(dir, "dst")
		}, "input/output error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src, dst := tt.setup(t, dir)
			var before string
			if fi, err := os.Stat(dst); err == nil && fi.Mode().IsRegular() {
				before = read(t, dst)
			}
			_, err := CopyFile(src, dst, 0o644)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CopyFile = %v, want an error containing %q", err, tt.want)
			}
			noTemps(t, dir)
			if fi, err := os.Stat(dst); err == nil && fi.Mode().IsRegular() && read(t, dst) != before {
				t.Errorf("dst changed to %q", read(t, dst))
			}
		})
	}
	t.Run("existing destination kept", func(t *testing.T) {
		dir := t.TempDir()
		src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
		write(t, src, "new", 0o644)
		write(t, dst, "old", 0o644)
		withRename(t, func(string, string) error { return syscall.EIO })
		if _, err := CopyFile(src, dst, 0o644); err == nil {
			t.Fatal("CopyFile succeeded")
		}
		if got := read(t, dst); got != "old" {
			t.Errorf("dst = %q, want old", got)
		}
		noTemps(t, dir)
	})
}

func TestSyncDir(t *testing.T) {
	must(t, SyncDir(t.TempDir()))
	if err := SyncDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("SyncDir of a missing directory succeeded")
	}
}

func TestBackupBinary(t *testing.T) {
	tests := []struct {
		name        string
		bak, bak1   string // existing backups; "" for none
		wantBak1    string // "" for none
		wantRotated bool
	}{
		{"first backup", "", "", "", false},
		{"previous backup rotated", "v0", "", "v0", true},
		{"older backup replaced", "v0", "v-1", "v0", true},
		{"rotation interrupted earlier", "", "v0", "v0", false},
		// The backup was made and the process died before recording it:
		// doing it again must not rotate the real previous backup away.
		{"already backed up", "v1", "v0", "v0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			installed := filepath.Join(dir, "ten")
			write(t, installed, "v1", 0o751)
			if tt.bak != "" {
				write(t, installed+".bak", tt.bak, 0o755)
			}
			if tt.bak1 != "" {
				write(t, installed+".bak.1", tt.bak1, 0o755)
			}
			bak, rotated, err := BackupBinary(installed)
			must(t, err)
			if bak != installed+".bak" {
				t.Errorf("backup path %s", bak)
			}
			if rotated != tt.wantRotated {
				t.Errorf("rotated = %v, want %v", rotated, tt.wantRotated)
			}
			if got := read(t, bak); got != "v1" {
				t.Errorf(".bak = %q, want v1", got)
			}
			if tt.bak != "v1" { // a new copy has the installed mode
				if got := mode(t, bak).Perm(); got != 0o751 {
					t.Errorf(".bak mode %v, want 0751", got)
				}
			}
			got1, err := os.ReadFile(installed + ".bak.1")
			switch {
			case tt.wantBak1 == "" && !errors.Is(err, fs.ErrNotExist):
				t.Errorf(".bak.1 = %q, %v; want none", got1, err)
			case tt.wantBak1 != "" && string(got1) != tt.wantBak1:
				t.Errorf(".bak.1 = %q, %v; want %q", got1, err, tt.wantBak1)
			}
			if got := read(t, installed); got != "v1" {
				t.Errorf("installed changed to %q", got)
			}
			noTemps(t, dir)
		})
	}
	t.Run("missing binary", func(t *testing.T) {
		if _, _, err := BackupBinary(filepath.Join(t.TempDir(), "ten")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		if _, _, err := BackupBinary(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestSameContent(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("x", 200000)
	tests := []struct {
		a, b string
		same bool
	}{
		{"", "", true},
		{"abc", "abc", true},
		{big, big, true},
		{big, big[:len(big)-1] + "y", false},
		{"abc", "abd", false},
		{"abc", "abcd", false},
	}
	for i, tt := range tests {
		a, b := filepath.Join(dir, fmt.Sprint(i, "a")), filepath.Join(dir, fmt.Sprint(i, "b"))
		write(t, a, tt.a, 0o644)
		write(t, b, tt.b, 0o644)
		if got, err := sameContent(a, b); err != nil || got != tt.same {
			t.Errorf("case %d: sameContent = %v, %v; want %v", i, got, err, tt.same)
		}
	}
	if got, err := sameContent(filepath.Join(dir, "0a"), filepath.Join(dir, "missing")); err != nil || got {
		t.Errorf("missing b: %v, %v", got, err)
	}
}

func TestPromote(t *testing.T) {
	dir := t.TempDir()
	installed, staged := filepath.Join(dir, "ten"), filepath.Join(dir, ".ten.new")
	write(t, installed, "v1", 0o755)
	write(t, staged, "v2", 0o751)
	must(t, Promote(staged, installed))
	if got := read(t, installed); got != "v2" {
		t.Errorf("installed = %q", got)
	}
	if got := mode(t, installed).Perm(); got != 0o751 {
		t.Errorf("mode %v, want the staged 0751", got)
	}
	if _, err := os.Stat(staged); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("staged still there: %v", err)
	}

	// Into a fresh path (first install), and from another directory.
	other := filepath.Join(t.TempDir(), "staged")
	write(t, other, "v3", 0o755)
	must(t, Promote(other, filepath.Join(dir, "fresh")))

	for _, tt := range []struct {
		name, staged, installed, want string
	}{
		{"missing staged", filepath.Join(dir, "nope"), installed, "no such file"},
		{"staged is a directory", t.TempDir(), installed, "not a regular file"},
		{"installed is a directory", mkfile(t, dir, "s1"), t.TempDir(), "is a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Promote(tt.staged, tt.installed)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Promote = %v, want %q", err, tt.want)
			}
			if got := read(t, installed); got != "v2" {
				t.Errorf("installed changed to %q", got)
			}
		})
	}
}

func mkfile(t *testing.T, dir, name string) string {
	p := filepath.Join(dir, name)
	write(t, p, name, 0o755)
	return p
}

// A reader stat()ing and reading the installed path while it is promoted
// 100 times never finds it missing or partial, and sees every version.
func TestPromoteNeverMissing(t *testing.T) {
	dir := t.TempDir()
	installed := filepath.Join(dir, "ten")
	write(t, installed, "v0", 0o755)

	var (
		stop   atomic.Bool
		reads  atomic.Int64
		mu     sync.Mutex
		bad    []string
		seen   = map[string]bool{}
		wg     sync.WaitGroup
		record = func(s string) { mu.Lock(); bad = append(bad, s); mu.Unlock() }
	)
	wg.Go(func() {
		for !stop.Load() {
			if _, err := os.Stat(installed); err != nil {
				record(err.Error())
			}
			b, err := os.ReadFile(installed)
			if err != nil {
				record(err.Error())
			} else if !strings.HasPrefix(string(b), "v") || strings.Contains(string(b), "staged") {
				record(fmt.Sprintf("content %q", b))
			} else {
				mu.Lock()
				seen[string(b)] = true
				mu.Unlock()
			}
			reads.Add(1)
		}
	})
	for reads.Load() < 1 { // the reader has read v0
		runtime.Gosched()
	}
	const promotions = 100
	for i := 1; i <= promotions; i++ {
		staged := filepath.Join(dir, ".ten.new")
		write(t, staged, fmt.Sprint("v", i), 0o755)
		if err := Promote(staged, installed); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatal(err)
		}
		// Wait until the reader has begun and finished a pass after this
		// promotion, so that it reads every version and is busy around
		// every rename.
		for n := reads.Load(); reads.Load() < n+2; {
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()

	if len(bad) > 0 {
		t.Errorf("%d of %d passes found the installed path missing or wrong; first: %s", len(bad), reads.Load(), bad[0])
	}
	if len(seen) != promotions+1 {
		t.Errorf("the reader saw %d versions, want %d", len(seen), promotions+1)
	}
	if got := read(t, installed); got != fmt.Sprint("v", promotions) {
		t.Errorf("installed = %q", got)
	}
}

func TestPromoteNotWritable(t *testing.T) {
	for _, tt := range []struct {
		errno syscall.Errno
		want  []string
	}{
		{syscall.EROFS, []string{"read-only filesystem", "remount it read-write"}},
		{syscall.EACCES, []string{"permission denied", "run ten-upgrade as a user that can write"}},
		{syscall.EPERM, []string{"permission denied", "lsattr"}},
	} {
		t.Run(tt.errno.Error(), func(t *testing.T) {
			dir := t.TempDir()
			installed, staged := filepath.Join(dir, "ten"), filepath.Join(dir, ".ten.new")
			write(t, installed, "v1", 0o755)
			write(t, staged, "v2", 0o755)
			withRename(t, func(o, n string) error { return &os.LinkError{Op: "rename", Old: o, New: n, Err: tt.errno} })
			err := Promote(staged, installed)
			var nw *NotWritableError
			if !errors.As(err, &nw) || !errors.Is(err, ErrNotWritable) || !errors.Is(err, tt.errno) {
				t.Fatalf("Promote = %#v, want a *NotWritableError wrapping %v", err, tt.errno)
			}
			if nw.Path != installed || nw.Dir != dir {
				t.Errorf("error names %s in %s", nw.Path, nw.Dir)
			}
			for _, s := range append(tt.want, "cannot replace "+installed, "--installed") {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q does not contain %q", err, s)
				}
			}
			if read(t, installed) != "v1" || read(t, staged) != "v2" {
				t.Error("files changed")
			}
		})
	}
	t.Run("EXDEV", func(t *testing.T) {
		dir := t.TempDir()
		staged := mkfile(t, dir, "staged")
		withRename(t, func(o, n string) error { return &os.LinkError{Op: "rename", Old: o, New: n, Err: syscall.EXDEV} })
		err := Promote(staged, filepath.Join(dir, "ten"))
		if !errors.Is(err, syscall.EXDEV) || !strings.Contains(err.Error(), "another filesystem") {
			t.Errorf("Promote = %v", err)
		}
	})
}

// On a real read-only filesystem (a tmpfs remounted read-only; needs
// CAP_SYS_ADMIN), Promote and BackupBinary fail with a *NotWritableError
// and change nothing.
func TestReadOnlyFilesystem(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux mounts")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs (needs CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	installed, staged := filepath.Join(dir, "ten"), filepath.Join(dir, ".ten.new")
	write(t, installed, "v1", 0o755)
	write(t, staged, "v2", 0o755)
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount read-only: %v", err)
	}

	err := Promote(staged, installed)
	if !errors.Is(err, ErrNotWritable) || !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), "cannot replace "+installed) {
		t.Errorf("Promote = %v", err)
	}
	_, _, err = BackupBinary(installed)
	if !errors.Is(err, ErrNotWritable) || !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), "cannot back up "+installed) {
		t.Errorf("BackupBinary = %v", err)
	}
	if read(t, installed) != "v1" || read(t, staged) != "v2" {
		t.Error("files changed")
	}
}

// As a user that cannot write the directory (not root), the errors are
// real EACCES.
func TestPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write any directory; TestPromoteNotWritable covers the error with an injected EACCES")
	}
	dir := t.TempDir()
	installed, staged := filepath.Join(dir, "ten"), filepath.Join(dir, ".ten.new")
	write(t, installed, "v1", 0o755)
	write(t, staged, "v2", 0o755)
	must(t, os.Chmod(dir, 0o555))
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if err := Promote(staged, installed); !errors.Is(err, ErrNotWritable) || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Promote = %v", err)
	}
	if _, _, err := BackupBinary(installed); !errors.Is(err, ErrNotWritable) {
		t.Errorf("BackupBinary = %v", err)
	}
}

func TestPruneBackups(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	type file struct {
		name string
		age  int // hours before base
		dir  bool
	}
	files := []file{
		{"tenement-1.db", 5, false},
		{"tenement-2.db", 4, false},
		{"tenement-3.db", 3, false},
		{"tenement-4b.db", 1, false}, // same time as 4a: the name sorting last is newer
		{"tenement-4a.db", 1, false},
		{"tenement-old.db", 100, true}, // a directory: never removed
		{"journal.db", 200, false},     // does not match
		{".tenement-5.db.tmp-1", 200, false},
	}
	tests := []struct {
		keep int
		left []string // matching regular files left
	}{
		{1, []string{"tenement-4b.db"}},
		{2, []string{"tenement-4a.db", "tenement-4b.db"}},
		{4, []string{"tenement-2.db", "tenement-3.db", "tenement-4a.db", "tenement-4b.db"}},
		{5, []string{"tenement-1.db", "tenement-2.db", "tenement-3.db", "tenement-4a.db", "tenement-4b.db"}},
		{50, []string{"tenement-1.db", "tenement-2.db", "tenement-3.db", "tenement-4a.db", "tenement-4b.db"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("keep ", tt.keep), func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range files {
				p := filepath.Join(dir, f.name)
				if f.dir {
					must(t, os.Mkdir(p, 0o700))
				} else {
					write(t, p, f.name, 0o600)
				}
				ts := base.Add(-time.Duration(f.age) * time.Hour)
				must(t, os.Chtimes(p, ts, ts))
			}
			must(t, PruneBackups(dir, "tenement-*.db", tt.keep))
			var left []string
			entries, err := os.ReadDir(dir)
			must(t, err)
			for _, e := range entries {
				left = append(left, e.Name())
			}
			want := append([]string{".tenement-5.db.tmp-1", "journal.db"}, tt.left...)
			want = append(want, "tenement-old.db")
			if fmt.Sprint(left) != fmt.Sprint(want) {
				t.Errorf("left %v\nwant %v", left, want)
			}
		})
	}
	for _, tt := range []struct {
		name, pattern string
		keep          int
		want          string
	}{
		{"keep 0", "*.db", 0, "keep must be at least 1"},
		{"negative keep", "*.db", -1, "keep must be at least 1"},
		{"bad pattern", "[", 3, "syntax error in pattern"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "a.db"), "x", 0o600)
			err := PruneBackups(dir, tt.pattern, tt.keep)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("PruneBackups = %v, want %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "a.db")); err != nil {
				t.Errorf("file removed: %v", err)
			}
		})
	}
	if err := PruneBackups(filepath.Join(t.TempDir(), "missing"), "*", 1); err == nil {
		t.Error("PruneBackups of a missing directory succeeded")
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
