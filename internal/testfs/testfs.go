// Package testfs reads and writes files and directories for tests,
// failing the test on any error the test does not expect, so that setting
// up a tree and checks of "nothing changed", "nothing left behind" and "no
// looser permissions" stay one line each.
package testfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Names lists the entries of dir in name order. A directory that does not
// exist, or a path that is not a directory, lists nothing (nil), so that a
// test of a failed write can compare a directory before and after; any
// other error fails the test.
func Names(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// Read returns the content of the file at path, or fails the test.
func Read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Perms fails the test unless each path in want has exactly the
// permission bits want gives it; a path that cannot be stat'ed fails it
// at once.
func Perms(t testing.TB, want map[string]fs.FileMode) {
	t.Helper()
	for p, mode := range want {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s is %04o, want %04o", p, fi.Mode().Perm(), mode)
		}
	}
}

// WriteFiles writes each of files, a slash-separated path below root and
// its content, creating the directories it needs. The files are 0600: a
// test that checks modes must not get the ones it wants from here.
func WriteFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
