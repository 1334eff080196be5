package testfs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestNames(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b", "a"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
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
