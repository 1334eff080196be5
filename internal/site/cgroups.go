package site

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenement/ten/runtime/cgroup"
)

// RequireCgroups skips the test unless groups with limits can be made here
// for an installation on dataDir, and removes that installation's (empty)
// base groups at the end.
func RequireCgroups(t testing.TB, dataDir string, limits cgroup.Limits) *cgroup.Manager {
	t.Helper()
	m, err := cgroup.Detect(dataDir)
	if err == nil {
		err = m.Check(limits)
	}
	if err != nil {
		t.Skipf("cgroups cannot be made here: %v", err)
	}
	t.Cleanup(func() {
		for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu"} {
			os.Remove(filepath.Join(root, cgroup.Base(dataDir)))
		}
	})
	return m
}

// ReadTrimmed is a file's content without the surrounding space, as a
// cgroup file holds one value.
func ReadTrimmed(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
