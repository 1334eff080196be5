package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	rt "github.com/tenement/ten/orchestrator/release/releasetest"
)

func TestSaveStream(t *testing.T) {
	data := bytes.Repeat([]byte("ten"), 1000)
	h := sha256.Sum256(data)
	want := hex.EncodeToString(h[:])
	tests := []struct {
		name   string
		body   io.Reader
		expect int64
		max    int64
		errHas string
	}{
		{"complete", bytes.NewReader(data), int64(len(data)), 1 << 20, ""},
		{"unknown size", bytes.NewReader(data), 0, 1 << 20, ""},
		{"short body", bytes.NewReader(data[:100]), int64(len(data)), 1 << 20, "incomplete"},
		{"cut connection", io.MultiReader(bytes.NewReader(data[:100]), iotest.ErrReader(io.ErrUnexpectedEOF)), int64(len(data)), 1 << 20, "connection closed"},
		{"over the cap, size unknown", bytes.NewReader(data), 0, 1000, "larger than"},
		{"over the cap, size announced", bytes.NewReader(data), int64(len(data)), 1000, "more than"},
		{"longer than announced", bytes.NewReader(data), 100, 1 << 20, "more than the announced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "asset")
			var progress bytes.Buffer
			sum, n, err := saveStream(tt.body, dir, "asset", "asset", tt.expect, tt.max, &progress)
			if rt.WantErr(t, err, tt.errHas) {
				return
			}
			if sum != want || n != int64(len(data)) {
				t.Errorf("sum, n = %s, %d; want %s, %d", sum, n, want, len(data))
			}
			got, _ := os.ReadFile(p)
			if !bytes.Equal(got, data) {
				t.Error("file content differs")
			}
		})
	}
}

// TestSaveStreamStaysInDir: a name that climbs out of the directory, or
// reaches out through a symbolic link, creates nothing outside it.
func TestSaveStreamStaysInDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "a", "b")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(base, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../../evil", "link/evil", "/tmp/evil-" + filepath.Base(base)} {
		if _, _, err := saveStream(strings.NewReader("x"), dir, name, name, 0, 1<<20, nil); err == nil {
			t.Errorf("saveStream(%q) succeeded", name)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "evil")); err == nil {
		t.Error("a file was written outside the directory")
	}
	if _, err := os.Stat("/tmp/evil-" + filepath.Base(base)); err == nil {
		os.Remove("/tmp/evil-" + filepath.Base(base))
		t.Error("a file was written at an absolute path")
	}
}

func TestTerminalProgress(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if TerminalProgress(f) != nil {
		t.Error("a regular file got a progress bar")
	}
	if TerminalProgress(nil) != nil {
		t.Error("nil got a progress bar")
	}
}
