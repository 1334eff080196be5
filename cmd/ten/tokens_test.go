package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tenement/ten/internal/testfs"
	"github.com/tenement/ten/runtime/names"
)

// TestTokenGenRefusesInvalidTenant: `ten token-gen --tenant ""` used to
// mint an admin token and revoke the old one. Now an empty or invalid
// tenant is refused with exit status 2 and a message stating the rule,
// and neither the database nor the saved admin token changes.
func TestTokenGenRefusesInvalidTenant(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := writeConfig(t, "[settings]\ndata_dir = \""+data+"\"\n\n[service.api]\ncommand = \"./api\"\n")
	if code, _, stderr := runTen(t, "--config", cfg, "token-gen"); code != 0 {
		t.Fatalf("token-gen: exit %d: %s", code, stderr)
	}
	snapshot := func() map[string][]byte {
		out := map[string][]byte{}
		entries, err := os.ReadDir(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(data, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = b
		}
		return out
	}
	before := snapshot()
	for _, tenant := range []string{"", "a/b", "-x", "web:alice", "../upgrade", strings.Repeat("a", 64)} {
		code, out, stderr := runTen(t, "--config", cfg, "token-gen", "--tenant", tenant)
		if code != 2 || out != "" || !strings.Contains(stderr, "--tenant") || !strings.Contains(stderr, names.Rule) {
			t.Errorf("token-gen --tenant %q = %d %q %q, want exit 2 naming the rule", tenant, code, out, stderr)
		}
	}
	after := snapshot()
	for name, b := range before {
		if !bytes.Equal(b, after[name]) {
			t.Errorf("%s changed after refused token-gen runs", name)
		}
	}
	if len(after) != len(before) {
		t.Errorf("files in the data dir: %d, before %d", len(after), len(before))
	}
	if code, out, stderr := runTen(t, "--config", cfg, "token-gen", "--tenant", "alice"); code != 0 || !strings.Contains(out, "for tenant alice") {
		t.Errorf("token-gen --tenant alice = %d %q %q", code, out, stderr)
	}
}

// TestStateFilesPrivateWhenCreatedByTokenGenAndMigrate: the first command
// to touch a data directory may be token-gen or migrate rather than serve;
// the database it creates is 0600 (its directory 0700) all the same, even
// with a permissive umask.
func TestStateFilesPrivateWhenCreatedByTokenGenAndMigrate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	for _, tc := range []struct {
		name string
		args func(data string) []string
	}{
		{"token-gen", func(data string) []string {
			return []string{"--config", writeConfig(t, "[settings]\ndata_dir = \""+data+"\"\n\n[service.api]\ncommand = \"./api\"\n"), "token-gen"}
		}},
		{"migrate", func(data string) []string {
			return []string{"migrate", "--db", filepath.Join(data, "tenement.db")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			if code, _, stderr := runTen(t, tc.args(data)...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			entries, err := os.ReadDir(data)
			if err != nil {
				t.Fatal(err)
			}
			check := map[string]fs.FileMode{data: 0o700}
			for _, e := range entries {
				check[filepath.Join(data, e.Name())] = 0o600
			}
			if len(check) < 2 {
				t.Fatalf("no files in %s", data)
			}
			testfs.Perms(t, check)
		})
	}
}
