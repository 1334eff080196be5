package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplace checks that Replace keeps the mode of the file it replaces
// and gives a new file 0644, whatever the umask.
func TestReplace(t *testing.T) {
	tests := []struct {
		name     string
		existing os.FileMode // 0: no file yet
		want     os.FileMode
	}{
		{"new file", 0, 0o644},
		{"group-readable file", 0o640, 0o640},
		{"private file", 0o600, 0o600},
		{"executable", 0o755, 0o755},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "ten.conf")
			if tt.existing != 0 {
				write(t, path, "old", tt.existing)
			}
			must(t, Replace(path, []byte("new")))
			if got := read(t, path); got != "new" {
				t.Errorf("content = %q", got)
			}
			if got := mode(t, path).Perm(); got != tt.want {
				t.Errorf("mode = %v, want %v", got, tt.want)
			}
			noTemps(t, dir)
		})
	}
}

// TestStage checks that a staged file is complete beside its target and
// that only Commit changes the target; Discard and a failed Commit leave
// it as it was, with no temporary file.
func TestStage(t *testing.T) {
	tests := []struct {
		name    string
		finish  func(*Staged) error
		rename  func(string, string) error // nil: the real one
		want    string
		wantErr string
	}{
		{"commit", (*Staged).Commit, nil, "new", ""},
		{"discard", func(s *Staged) error { s.Discard(); return nil }, nil, "old", ""},
		{"commit fails", (*Staged).Commit, func(string, string) error { return errors.New("disk on fire") }, "old", "disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "Caddyfile")
			write(t, path, "old", 0o640)
			s, err := Stage(path, []byte("new"))
			must(t, err)
			if filepath.Dir(s.Path) != dir || read(t, s.Path) != "new" || mode(t, s.Path).Perm() != 0o640 {
				t.Fatalf("staged %s: want %q with mode 0640 beside the target", s.Path, "new")
			}
			if read(t, path) != "old" {
				t.Fatal("staging changed the target")
			}
			if tt.rename != nil {
				withRename(t, tt.rename)
			}
			err = tt.finish(s)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if got := read(t, path); got != tt.want {
				t.Errorf("target = %q, want %q", got, tt.want)
			}
			noTemps(t, dir)
		})
	}
}

func TestStageMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "ten.conf")
	if _, err := Stage(path, []byte("x")); err == nil || !strings.Contains(err.Error(), "write "+path) {
		t.Fatalf("Stage = %v, want an error naming %s", err, path)
	}
}
