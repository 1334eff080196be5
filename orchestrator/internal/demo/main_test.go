package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// freshDir empties only a directory an earlier demo made: a mistyped
// --dir must not wipe anything.
func TestFreshDirRemovesOnlyItsOwn(t *testing.T) {
	foreign := t.TempDir()
	keep := filepath.Join(foreign, "notes.txt")
	if err := os.WriteFile(keep, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := freshDir(foreign); err == nil || !strings.Contains(err.Error(), "not made by the demo") {
		t.Fatalf("freshDir on a foreign directory: %v, want a refusal", err)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "keep me" {
		t.Fatalf("the foreign directory was touched: %q, %v", b, err)
	}

	own := filepath.Join(t.TempDir(), "demo")
	if err := freshDir(own); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(own, "serve.log")
	if err := os.WriteFile(old, []byte("last run"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := freshDir(own); err != nil {
		t.Fatalf("freshDir on the demo's own directory: %v", err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the last run's files are still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(own, marker)); err != nil {
		t.Errorf("no marker in the new directory: %v", err)
	}
}
