package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/tenement/ten/runtime/config"
)

// A tenant running as ten's own user could read api_token and tenement.db
// and connect to ten.sock: every file of ten's is 0600, which keeps out
// other users only. So when ten runs as root, instances run as another
// user: the service's user, or Options.TenantUser.

// tenantUser is the user an instance of svc runs as: "" means ten's own.
func (s *Supervisor) tenantUser(svc *config.Service) (string, error) {
	name := svc.User
	if os.Geteuid() != 0 {
		if name == "" {
			return "", nil
		}
		cur, err := user.Current()
		if err == nil && cur.Username == name {
			return "", nil
		}
		return "", fmt.Errorf("user = %q: ten must run as root to start instances as another user", name)
	}
	if name == "" {
		name = s.opts.TenantUser
	}
	if name == "root" {
		name = ""
	}
	return name, nil
}

// runAs makes the instance whose data directory is dir run as the
// service's user: the process's credentials (no supplementary groups), its
// data directory owned by that user, and the directories above it
// traversable (mode 0711: no listing) so that the user can reach it.
func (s *Supervisor) runAs(attr *syscall.SysProcAttr, svc *config.Service, service, dir string) error {
	name, err := s.tenantUser(svc)
	if err != nil || name == "" {
		return err
	}
	uid, gid, err := lookupUser(name, name == s.opts.TenantUser && svc.User == "")
	if err != nil {
		return err
	}
	// Once the data directory can be traversed, only the modes of ten's
	// own files keep tenants out: make sure none is open to others
	// (SQLite gives -wal and -shm the database's mode). Group bits are the
	// operator's choice (a backup agent in the group) and stay.
	if err := privateFiles(s.dataDir, ownFiles...); err != nil {
		return err
	}
	for _, d := range []string{s.dataDir, filepath.Join(s.dataDir, service)} {
		if err := allowTraverse(d); err != nil {
			return err
		}
	}
	if err := chownTree(dir, uid, gid); err != nil {
		return fmt.Errorf("give data dir to user %s: %w", name, err)
	}
	attr.Credential = &syscall.Credential{Uid: uid, Gid: gid}
	return nil
}

// createUserMu serializes creating the default user between spawns.
var createUserMu sync.Mutex

// lookupUser returns name's uid and primary gid. The default tenant user
// is created (a system user without a login shell or home) when missing;
// a user the configuration names must exist.
func lookupUser(name string, create bool) (uid, gid uint32, err error) {
	createUserMu.Lock()
	defer createUserMu.Unlock()
	u, err := user.Lookup(name)
	var unknown user.UnknownUserError
	if errors.As(err, &unknown) && create {
		out, cerr := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
		if cerr != nil {
			return 0, 0, fmt.Errorf("tenant user %q does not exist and useradd failed (%v: %s): create it (useradd --system %s) or set user for the service",
				name, cerr, strings.TrimSpace(string(out)), name)
		}
		u, err = user.Lookup(name)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("user %q: %w", name, err)
	}
	id, err1 := strconv.ParseUint(u.Uid, 10, 32)
	g, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("user %q: %w", name, err)
	}
	return uint32(id), uint32(g), nil
}

// ownFiles are ten's files at the top of the data directory that hold
// secrets or state.
var ownFiles = []string{"tenement.db", "tenement.db-wal", "tenement.db-shm", "tenement.db-journal", "api_token"}

// privateFiles removes the permissions for others from the named files
// in dir that exist.
func privateFiles(dir string, names ...string) error {
	for _, name := range names {
		p := filepath.Join(dir, name)
		st, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if st.Mode().IsRegular() && st.Mode().Perm()&0o007 != 0 {
			if err := os.Chmod(p, st.Mode().Perm()&0o770); err != nil {
				return fmt.Errorf("keep %s from tenants: %w", p, err)
			}
		}
	}
	return nil
}

// allowTraverse adds search permission for everyone to dir; reading
// (listing) stays with the owner.
func allowTraverse(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if mode := st.Mode().Perm(); mode&0o011 != 0o011 {
		if err := os.Chmod(dir, mode|0o011); err != nil {
			return fmt.Errorf("let tenants reach their data: %w", err)
		}
	}
	return nil
}

// chownTree gives dir and, when it was not the user's yet (data written
// while instances ran as root), everything in it to uid:gid. Links are
// changed themselves, never followed, and the walk stays inside dir.
func chownTree(dir string, uid, gid uint32) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid == uid && sys.Gid == gid {
		return nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return root.Lchown(p, int(uid), int(gid))
	})
}
