// Package testfs reads files and directories for tests, failing the test
// on any error the test does not expect, so that checks of "nothing
// changed" and "nothing left behind" stay one line each.
package testfs

import (
	"errors"
	"io/fs"
	"os"
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
