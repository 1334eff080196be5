package store

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tenement/ten/internal/testfs"
)

// TestOpenCreatesPrivateFiles: with a permissive umask (0), a database
// created by Open is 0600, its -wal and -shm files too, and a directory it
// creates is 0700. Before, they were created 0644 (0755).
func TestOpenCreatesPrivateFiles(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data", "nested")
	path := filepath.Join(dir, FileName)
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO config (key, value) VALUES ('k', 'v')`); err != nil {
		t.Fatal(err)
	}
	testfs.Perms(t, map[string]fs.FileMode{dir: 0o700, filepath.Dir(dir): 0o700, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600})
	loose, err := LoosePermissions(path)
	if err != nil || len(loose) != 0 {
		t.Errorf("LoosePermissions = %v, %v; want none", loose, err)
	}
}

// TestOpenKeepsExistingMode: Open does not change the mode of an existing
// database (the operator may have chosen it); serve warns instead.
func TestOpenKeepsExistingMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %04o, want 0640 kept", fi.Mode().Perm())
	}
}

func TestWarnLoosePermissions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	for suffix, mode := range map[string]fs.FileMode{"": 0o644, "-wal": 0o600, "-shm": 0o660} {
		if err := os.WriteFile(path+suffix, nil, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path+suffix, mode); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	WarnLoosePermissions(path, slog.New(slog.NewTextHandler(&buf, nil)))
	out := buf.String()
	if n := strings.Count(out, "level=WARN"); n != 2 {
		t.Fatalf("%d warnings, want 2 (database and -shm):\n%s", n, out)
	}
	for _, want := range []string{"path=" + path + " ", "mode=0644", "path=" + path + "-shm", "mode=0660", `fix="chmod 600 ` + path} {
		if !strings.Contains(out, want) {
			t.Errorf("warning lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, path+"-wal") {
		t.Errorf("warned about the 0600 -wal file:\n%s", out)
	}
}
