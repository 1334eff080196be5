package supervisor

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tenement/ten/runtime/config"
)

func TestTenantUserAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	tests := []struct{ svcUser, dflt, want string }{
		{"", "tenement", "tenement"},
		{"alice", "tenement", "alice"},
		{"root", "tenement", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		s := &Supervisor{opts: Options{TenantUser: tt.dflt}}
		got, err := s.tenantUser(&config.Service{User: tt.svcUser})
		if err != nil || got != tt.want {
			t.Errorf("user %q, default %q: %q, %v; want %q", tt.svcUser, tt.dflt, got, err, tt.want)
		}
	}
}

func owner(t *testing.T, p string) uint32 {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Uid
}

// Data written while tenants ran as root is handed to the tenant user, but
// a link in it never leads the change outside.
func TestChownTreeStaysInside(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "api_token")
	os.WriteFile(outside, []byte("secret"), 0o600)
	data := filepath.Join(dir, "data")
	os.MkdirAll(filepath.Join(data, "sub"), 0o700)
	os.WriteFile(filepath.Join(data, "sub", "f"), []byte("x"), 0o600)
	if err := os.Symlink(outside, filepath.Join(data, "link")); err != nil {
		t.Fatal(err)
	}
	if err := chownTree(data, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{data, filepath.Join(data, "sub", "f"), filepath.Join(data, "link")} {
		if got := owner(t, p); got != 65534 {
			t.Errorf("%s owned by %d, want 65534", p, got)
		}
	}
	if got := owner(t, outside); got != 0 {
		t.Errorf("the link's target changed owner to %d", got)
	}
}

func TestPrivateFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tenement.db"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "tenement.db-wal"), nil, 0o640)
	os.WriteFile(filepath.Join(dir, "api_token"), nil, 0o600)
	if err := privateFiles(dir, ownFiles...); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"tenement.db": 0o640, "tenement.db-wal": 0o640, "api_token": 0o600} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %o", name, st.Mode(), err, want)
		}
	}
}

// A service directory replaced by a link out of the data directory is not
// followed when a stopped instance's data is removed.
func TestRemoveInstanceDirStaysInDataDir(t *testing.T) {
	data, outside := t.TempDir(), t.TempDir()
	victim := filepath.Join(outside, "id", "keep")
	os.MkdirAll(filepath.Dir(victim), 0o700)
	os.WriteFile(victim, []byte("x"), 0o600)
	if err := os.Symlink(outside, filepath.Join(data, "svc")); err != nil {
		t.Fatal(err)
	}
	s := &Supervisor{dataDir: data}
	if err := s.removeInstanceDir(key{service: "svc", id: "id"}); err == nil {
		t.Error("removal through a link out of the data directory succeeded")
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("file outside the data directory removed: %v", err)
	}
	os.MkdirAll(filepath.Join(data, "web", "a"), 0o700)
	if err := s.removeInstanceDir(key{service: "web", id: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "web", "a")); !os.IsNotExist(err) {
		t.Errorf("instance dir not removed: %v", err)
	}
}
