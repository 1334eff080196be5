//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/internal/syncbuf"
)

func TestLimitsConversions(t *testing.T) {
	for _, tc := range []struct {
		weight int
		shares uint64
	}{
		{100, 1024}, // both defaults
		{200, 2048},
		{1, 10}, // 1*1024/100
		{10000, 102400},
	} {
		if got := (Limits{CPUWeight: tc.weight}).CPUShares(); got != tc.shares {
			t.Errorf("weight %d: cpu.shares %d, want %d", tc.weight, got, tc.shares)
		}
	}
	if got := (Limits{MemoryMB: 64}).MemoryBytes(); got != 64<<20 {
		t.Errorf("64 MB = %d bytes", got)
	}
	for _, tc := range []struct {
		l    Limits
		want bool
	}{{Limits{}, false}, {Limits{MemoryMB: 1}, true}, {Limits{CPUWeight: 1}, true}} {
		if tc.l.Set() != tc.want {
			t.Errorf("%+v.Set() = %v", tc.l, !tc.want)
		}
	}
}

func TestBaseDependsOnDataDir(t *testing.T) {
	a, b := Base("/srv/a"), Base("/srv/b")
	if a == b || !strings.HasPrefix(a, "ten/") || len(a) != len("ten/")+8 {
		t.Fatalf("Base: %q, %q", a, b)
	}
	if Base("/srv/a/") != a {
		t.Fatalf("Base is not about the cleaned path")
	}
}

func TestCheckName(t *testing.T) {
	for _, n := range []string{"", ".", "..", "a/b", "x\x00"} {
		if checkName(n) == nil {
			t.Errorf("checkName(%q) accepted", n)
		}
	}
	if err := checkName("web:alice"); err != nil {
		t.Fatal(err)
	}
}

func TestParseMountinfo(t *testing.T) {
	const info = `25 30 0:22 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
27 25 0:24 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
29 25 0:26 / /sys/fs/cgroup/systemd rw,relatime master:3 - cgroup cgroup rw,xattr,name=systemd
`
	if ms := parseMountinfo([]byte(info)); ms.unified != "/sys/fs/cgroup/unified" || ms.v1["memory"] != "/sys/fs/cgroup/memory" || ms.v1["cpu"] != "/sys/fs/cgroup/cpu" {
		t.Fatalf("parsed %+v", ms)
	}
}

func TestDetectChoosesHierarchy(t *testing.T) {
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644)
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "cgroup.controllers"), []byte("\n"), 0o644)
	v1 := t.TempDir()
	for _, c := range []string{"memory", "cpu"} {
		os.MkdirAll(filepath.Join(v1, c), 0o755)
	}
	v1Map := map[string]string{"memory": filepath.Join(v1, "memory"), "cpu": filepath.Join(v1, "cpu")}
	for _, tc := range []struct {
		name    string
		ms      mounts
		version int
		why     string
	}{
		{"v2 with controllers", mounts{unified: full, v1: v1Map}, 2, ""},
		{"hybrid: empty v2, v1 controllers", mounts{unified: empty, v1: v1Map}, 1, ""},
		{"v1 only", mounts{v1: v1Map}, 1, ""},
		{"empty v2, no v1", mounts{unified: empty, v1: map[string]string{}}, 0, "not memory and cpu"},
		{"nothing", mounts{v1: map[string]string{}}, 0, "no cgroup v2 mount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := detect(tc.ms, "ten/x")
			if tc.version == 0 {
				if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tc.why) {
					t.Fatalf("err = %v, want ErrUnavailable saying %q", err, tc.why)
				}
				return
			}
			if err != nil || m.Version() != tc.version {
				t.Fatalf("got %+v, %v; want version %d", m, err, tc.version)
			}
		})
	}
}

func TestFlatKey(t *testing.T) {
	for _, tc := range []struct {
		file string
		n    uint64
		ok   bool
	}{
		{"low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n", 2, true}, // v2 memory.events
		{"oom_kill_disable 0\nunder_oom 0\noom_kill 1\n", 1, true},                // v1 memory.oom_control
		{"oom_kill_disable 0\nunder_oom 0\n", 0, false},                           // v1 before Linux 4.13
	} {
		n, ok := flatKey([]byte(tc.file), "oom_kill")
		if n != tc.n || ok != tc.ok {
			t.Errorf("%q: %d %v, want %d %v", tc.file, n, ok, tc.n, tc.ok)
		}
	}
}

func TestContainsIn(t *testing.T) {
	const path = "/ten/abcd1234/web:alice"
	for _, tc := range []struct {
		name    string
		file    string
		version int
		want    bool
	}{
		{"v2 in", "0::" + path + "\n", 2, true},
		{"v2 out", "0::/user.slice\n", 2, false},
		{"v1 both", "4:memory:" + path + "\n1:cpu:" + path + "\n0::/\n", 1, true},
		{"v1 co-mounted", "4:memory:" + path + "\n1:cpu,cpuacct:" + path + "\n", 1, true},
		{"v1 memory only", "4:memory:" + path + "\n1:cpu:/\n", 1, false},
	} {
		if got := containsIn(proc.ParseCgroups([]byte(tc.file)), tc.version, path); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestV2CreateWritesLimitFiles runs the v2 creation against a directory
// laid out like a unified hierarchy: the library enables the controllers
// in every ancestor and writes memory.max and cpu.weight.
func TestV2CreateWritesLimitFiles(t *testing.T) {
	root := t.TempDir()
	base := "ten/abcd1234"
	for _, d := range []string{root, filepath.Join(root, "ten"), filepath.Join(root, base)} {
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), nil, 0o644)
	}
	m := &Manager{version: 2, unified: root, base: base}
	g, err := m.Create("web:alice", Limits{MemoryMB: 64, CPUWeight: 200})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory.max": strconv.Itoa(64 << 20),
		"cpu.weight": "200",
	} {
		b, err := os.ReadFile(g.File(file))
		if err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("%s = %q (%v), want %s", file, b, err, want)
		}
	}
	for _, d := range []string{root, filepath.Join(root, "ten"), filepath.Join(root, base)} {
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.subtree_control"))
		if !strings.Contains(string(b), "+memory") || !strings.Contains(string(b), "+cpu") {
			t.Errorf("%s/cgroup.subtree_control = %q, want +memory +cpu", d, b)
		}
	}
	if !strings.HasPrefix(g.Path(), "/"+base+"/web:alice.") {
		t.Fatalf("Path = %q", g.Path())
	}
}

// hostManager returns the manager of this host, or skips when the host
// cannot make cgroups (not root, no controllers).
func hostManager(t *testing.T) *Manager {
	t.Helper()
	m, err := Detect(t.TempDir())
	if err != nil {
		t.Skipf("no cgroups here: %v", err)
	}
	if err := m.Check(Limits{MemoryMB: 1, CPUWeight: 1}); err != nil {
		t.Skipf("no cgroups here: %v", err)
	}
	t.Cleanup(func() {
		for _, d := range m.dirs("") {
			os.Remove(d) // the per-test base; "ten" itself is shared
		}
	})
	return m
}

// TestHostGroupLimitsAndEntry creates a group on this host's hierarchy
// (v1 on a hybrid host), starts a process through Prepare, and checks that
// the process's very first view of itself is inside the group, and that
// Remove kills what is left and deletes the group.
func TestHostGroupLimitsAndEntry(t *testing.T) {
	m := hostManager(t)
	g, err := m.Create("web:alice", Limits{MemoryMB: 64, CPUWeight: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	want := map[string]string{"memory.max": strconv.Itoa(64 << 20), "cpu.weight": "200"}
	if m.Version() == 1 {
		want = map[string]string{"memory.limit_in_bytes": strconv.Itoa(64 << 20), "cpu.shares": "2048"}
	}
	for file, v := range want {
		b, err := os.ReadFile(g.File(file))
		if err != nil || strings.TrimSpace(string(b)) != v {
			t.Errorf("%s = %q (%v), want %s", file, b, err, v)
		}
	}

	// The shell's first command reads where it is: no instruction of the
	// tenant runs before it is in the group.
	cmd := exec.Command("/bin/sh", "-c", "cat /proc/self/cgroup; exec sleep 60")
	out := &syncbuf.Buffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	done, err := g.Prepare(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done()
	pid := cmd.Process.Pid
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), g.Path()) {
		if time.Now().After(deadline) {
			t.Fatalf("the process did not report its group %s; output %q", g.Path(), out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !g.Contains(pid) {
		t.Fatalf("pid %d (the tenant's, after exec) is not in %s", pid, g.Path())
	}
	// Another server finds the group from the pid.
	if found, ok := m.Find("web:alice", pid); !ok || found.Path() != g.Path() {
		t.Fatalf("Find: %v %v, want %s", found, ok, g.Path())
	}
	if _, ok := m.Find("web:bob", pid); ok {
		t.Fatal("Find matched another instance's name")
	}
	// A new group for the instance leaves the busy one alone, and a
	// leftover empty one is swept by the next Create.
	g2, err := m.Create("web:alice", Limits{MemoryMB: 64})
	if err != nil {
		t.Fatal(err)
	}
	g3, err := m.Create("web:alice", Limits{MemoryMB: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer g3.Remove()
	if _, err := os.Stat(g.dirs[0]); err != nil {
		t.Fatalf("the busy group was swept: %v", err)
	}
	if _, err := os.Stat(g2.dirs[0]); !os.IsNotExist(err) {
		t.Fatalf("the empty leftover %s was not swept (%v)", g2.Path(), err)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("Remove left the process running")
	}
	for _, d := range g.dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still exists (%v)", d, err)
		}
	}
}

// TestUnifiedCloneIntoCgroup exercises the v2 entry path (clone3 with
// CLONE_INTO_CGROUP) on this host's unified hierarchy even where it has no
// controllers to limit with, as on a hybrid host: placement needs none.
func TestUnifiedCloneIntoCgroup(t *testing.T) {
	ms, err := readMounts()
	if err != nil || ms.unified == "" || os.Geteuid() != 0 {
		t.Skip("no unified hierarchy, or not root")
	}
	base := fmt.Sprintf("ten-test-%d", os.Getpid())
	dir := filepath.Join(ms.unified, base, "web:alice")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Skipf("cannot create a group in %s: %v", ms.unified, err)
	}
	defer os.Remove(filepath.Join(ms.unified, base))
	g := &Group{version: 2, dirs: []string{dir}, mount: "/" + base + "/web:alice"}
	defer g.Remove()
	cmd := exec.Command("/bin/cat", "/proc/self/cgroup")
	done, err := g.Prepare(cmd)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.Output()
	done()
	if err != nil {
		t.Fatal(err)
	}
	if !containsIn(proc.ParseCgroups(out), 2, g.Path()) {
		t.Fatalf("/proc/self/cgroup of the child:\n%s\nwant 0::%s", out, g.Path())
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
}

func TestExecHelperFailsClearly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"x"}, "want PROCS-FILE"},
		{[]string{filepath.Join(t.TempDir(), "missing", "cgroup.procs"), "--", "/bin/true", "true"}, "join cgroup"},
	} {
		cmd := exec.Command(proc.SelfExe)
		cmd.Args = append([]string{helperArg0}, tc.args...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 127 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: %v, %q; want exit 127 saying %q", tc.args, err, out, tc.want)
		}
	}
}
