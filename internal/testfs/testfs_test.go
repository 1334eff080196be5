package testfs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

func TestNames(t *testing.T) {
	dir := t.TempDir()
	WriteFiles(t, dir, map[string]string{"b": "b", "a": "a"})
	tests := []struct {
		name string
		dir  string
		want []string
	}{
		{"sorted", dir, []string{"a", "b"}},
		{"missing", filepath.Join(dir, "missing"), nil},
		{"a file", filepath.Join(dir, "a"), nil},
		{"below a file", filepath.Join(dir, "a", "x"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Names(t, tt.dir); !slices.Equal(got, tt.want) {
				t.Errorf("Names = %q, want %q", got, tt.want)
			}
		})
	}
	if got := string(Read(t, filepath.Join(dir, "a"))); got != "a" {
		t.Errorf("Read = %q", got)
	}
}

// recorder is a testing.TB that keeps what Errorf and Fatal report.
type recorder struct {
	testing.TB
	errors []string
	fatal  bool
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// Fatal records that the test stops, and stops the goroutine as
// testing.T's does.
func (r *recorder) Fatal(args ...any) {
	r.fatal = true
	runtime.Goexit()
}

func TestPerms(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		want   map[string]fs.FileMode
		errors []string
		fatal  bool
	}{
		{"exact", map[string]fs.FileMode{dir: 0o700, file: 0o600}, nil, false},
		{"looser than wanted", map[string]fs.FileMode{file: 0o400}, []string{file + " is 0600, want 0400"}, false},
		{"missing", map[string]fs.FileMode{filepath.Join(dir, "missing"): 0o600}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Perms(r, tt.want)
			}()
			<-done
			if !slices.Equal(r.errors, tt.errors) || r.fatal != tt.fatal {
				t.Errorf("Perms reported %q (fatal %v), want %q (fatal %v)", r.errors, r.fatal, tt.errors, tt.fatal)
			}
		})
	}
}

func TestWriteFiles(t *testing.T) {
	root := t.TempDir()
	WriteFiles(t, root, map[string]string{"top": "1", "a/b/deep": "2"})
	for name, want := range map[string]string{"top": "1", "a/b/deep": "2"} {
		if got := string(Read(t, filepath.Join(root, filepath.FromSlash(name)))); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	Perms(t, map[string]fs.FileMode{filepath.Join(root, "top"): 0o600, filepath.Join(root, "a", "b", "deep"): 0o600})
	if got := Names(t, filepath.Join(root, "a")); !slices.Equal(got, []string{"b"}) {
		t.Errorf("a holds %q", got)
	}
}
