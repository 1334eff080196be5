package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// freshDemoDir empties only a directory an earlier demo made: a mistyped
// --dir must not wipe anything.
func TestFreshDemoDirRemovesOnlyItsOwn(t *testing.T) {
	foreign := t.TempDir()
	keep := filepath.Join(foreign, "notes.txt")
	if err := os.WriteFile(keep, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := freshDemoDir(foreign); err == nil || !strings.Contains(err.Error(), "not made by the demo") {
		t.Fatalf("freshDemoDir on a foreign directory: %v, want a refusal", err)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "keep me" {
		t.Fatalf("the foreign directory was touched: %q, %v", b, err)
	}

	own := filepath.Join(t.TempDir(), "demo")
	if err := freshDemoDir(own); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(own, "serve.log")
	if err := os.WriteFile(old, []byte("last run"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := freshDemoDir(own); err != nil {
		t.Fatalf("freshDemoDir on the demo's own directory: %v", err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the last run's files are still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(own, demoMarker)); err != nil {
		t.Errorf("no marker in the new directory: %v", err)
	}
}
