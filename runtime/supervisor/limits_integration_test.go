package supervisor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/internal/syncbuf"
	"github.com/tenement/ten/runtime/cgroup"
	"github.com/tenement/ten/runtime/config"
)

// These tests run real tenants in real cgroups of this host (v1 on a
// hybrid host, v2 where the unified hierarchy has the controllers). They
// are skipped where ten could not make a cgroup (not root, no
// controller): TestLimitsRefusedWhereNoCgroupCanBeMade covers that case.

// requireCgroups skips unless cgroups with memory and cpu limits can be
// made here, and removes the base group of dataDir at the end.
func requireCgroups(t *testing.T, dataDir string) *cgroup.Manager {
	t.Helper()
	m, err := cgroup.Detect(dataDir)
	if err == nil {
		err = m.Check(cgroup.Limits{MemoryMB: 1, CPUWeight: 1})
	}
	if err != nil {
		t.Skipf("cgroups cannot be made here: %v", err)
	}
	t.Cleanup(func() { removeBase(dataDir) })
	return m
}

// spawnInGroup spawns web:alice and finds it in a cgroup of its own, the
// one its snapshot names.
func spawnInGroup(t *testing.T, e *env, m *cgroup.Manager) (Instance, *cgroup.Group) {
	t.Helper()
	in, err := e.s.Spawn(context.Background(), "web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	g, ok := m.Find(cgroup.GroupName("web", "alice"), in.PID)
	if !ok || in.Cgroup != g.Path() {
		t.Fatalf("pid %d is not in its group (snapshot cgroup %q)", in.PID, in.Cgroup)
	}
	return in, g
}

// removeBase removes the (empty) per-installation group directories.
func removeBase(dataDir string) {
	for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu"} {
		os.Remove(filepath.Join(root, cgroup.Base(dataDir)))
	}
}

// gone reports whether every directory of g has been removed.
func gone(g *cgroup.Group) bool {
	for _, f := range []string{"memory.stat", "cpu.shares", "cpu.weight"} {
		if _, err := os.Stat(filepath.Dir(g.File(f))); err == nil {
			return false
		}
	}
	return true
}

// limitedEnv starts a supervisor whose service web has the given
// modifications, logging to the returned buffer.
func limitedEnv(t *testing.T, mods ...func(*config.Service)) (*env, *cgroup.Manager, *syncbuf.Buffer) {
	t.Helper()
	dir := t.TempDir()
	m := requireCgroups(t, dir)
	logs := &syncbuf.Buffer{}
	bin := testapp(t)
	cfg := testConfig(dir)
	db := openDB(t, dir)
	e := newEnvAt(t, dir, cfg, db, func(cfg *config.Config, o *Options) {
		cfg.Services["web"] = appService(bin, mods...)
		o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(logs, testLogWriter()), nil))
	})
	if err := e.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e, m, logs
}

func testLogWriter() io.Writer {
	if testing.Verbose() {
		return os.Stderr
	}
	return io.Discard
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestOOMKilledTenantIsRestartedAndReported: a tenant with a 64 MB limit
// that allocates 200 MB is killed by the kernel inside its cgroup; ten
// says why (log line, last_exit "oom", an oom_killed event, the error),
// and the restart policy starts it again, in a new group with the same
// limit.
func TestOOMKilledTenantIsRestartedAndReported(t *testing.T) {
	e, m, logs := limitedEnv(t, func(s *config.Service) { s.MemoryLimitMB = 64 })
	first, g := spawnInGroup(t, e, m)
	limitFile := "memory.max"
	if m.Version() == 1 {
		limitFile = "memory.limit_in_bytes"
	}
	if got := readTrim(t, g.File(limitFile)); got != strconv.Itoa(64<<20) {
		t.Fatalf("%s = %s, want %d", limitFile, got, 64<<20)
	}

	// The request dies with the tenant.
	c := &http.Client{Timeout: 30 * time.Second}
	if resp, err := c.Get("http://" + first.Addr + "/alloc?mb=200"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("the tenant allocated 200 MB under a 64 MB limit: %s", body)
	}

	waitFor(t, 30*time.Second, "oom_killed, then restarted", func() bool {
		return e.events.count(EventOOMKilled, "web:alice") == 1 && e.events.count(EventRestarted, "web:alice") == 1
	})
	now, _ := e.s.Get("web", "alice")
	if now.State != StateRunning || now.PID == first.PID {
		t.Fatalf("after the OOM kill: %+v, want running with a new pid", now)
	}
	if now.LastExit != ExitOOM || now.OOMKills != 1 {
		t.Fatalf("last_exit %q, oom_kills %d; want oom, 1", now.LastExit, now.OOMKills)
	}
	// (Whether an exited event comes too depends on a race with the
	// health checks of the dying tenant, which may restart it first.)
	if ev := e.events.last(EventOOMKilled, "web:alice"); !errors.Is(ev.Err, errOOM) || !strings.Contains(ev.Err.Error(), "limit 64 MB") {
		t.Fatalf("oom_killed event error %v, want out of memory (limit 64 MB)", ev.Err)
	}
	const line = "instance web:alice killed: out of memory (limit 64 MB)"
	if !strings.Contains(logs.String(), line) {
		t.Fatalf("log lacks %q:\n%s", line, logs.String())
	}
	g2, ok := m.Find(cgroup.GroupName("web", "alice"), now.PID)
	if !ok || g2.Path() == g.Path() || readTrim(t, g2.File(limitFile)) != strconv.Itoa(64<<20) {
		t.Fatalf("the restarted pid %d is not in a new group with the limit", now.PID)
	}
	if n, err := g2.OOMKills(); err != nil || n != 0 {
		t.Fatalf("the new group's OOM counter is %d (%v)", n, err)
	}
	waitFor(t, 5*time.Second, "the old group removed", func() bool { return gone(g) })
}

// TestCPUWeightAppliedAndGroupRemovedOnStop reads the cpu weight from the
// running tenant's own group, and checks that stopping the instance
// removes the group.
func TestCPUWeightAppliedAndGroupRemovedOnStop(t *testing.T) {
	e, m, _ := limitedEnv(t, func(s *config.Service) { s.CPUShares = 200 })
	_, g := spawnInGroup(t, e, m)
	file, want := "cpu.weight", "200"
	if m.Version() == 1 {
		file, want = "cpu.shares", "2048" // 200 * 1024 / 100
	}
	if got := readTrim(t, g.File(file)); got != want {
		t.Fatalf("%s = %s, want %s", file, got, want)
	}
	if err := e.s.Stop(context.Background(), "web", "alice"); err != nil {
		t.Fatal(err)
	}
	if !gone(g) {
		t.Fatal("the group outlived the stop")
	}
}

// TestUnlimitedServiceHasNoCgroup: services without limits are not put
// in groups of ten's.
func TestUnlimitedServiceHasNoCgroup(t *testing.T) {
	e, m, _ := limitedEnv(t)
	in, err := e.s.Spawn(context.Background(), "web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Find(cgroup.GroupName("web", "alice"), in.PID); ok || in.Cgroup != "" {
		t.Fatalf("a service without limits got a group (%q)", in.Cgroup)
	}
}

// TestLimitsRefusedWhereNoCgroupCanBeMade runs New as an unprivileged
// user, who cannot create cgroups: a service with limits is refused with
// an error that names it and the way out, unless AllowUnlimited.
func TestLimitsRefusedWhereNoCgroupCanBeMade(t *testing.T) {
	if os.Getenv("SUPERVISOR_TEST_NEW_LIMITED") != "" {
		newLimitedAndReport()
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the check as another user")
	}
	dir, err := os.MkdirTemp("", "ten-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	// nobody cannot reach the test binary where go test built it (under a
	// 0700 directory): run a copy from the shared directory.
	self := filepath.Join(dir, "supervisor.test")
	if err := copyExecutable(self); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		allow bool
		want  string
	}{
		{false, `web (memory_limit_mb = 64, cpu_shares = 200): no cgroup can be made`},
		{true, "started"},
	} {
		cmd := exec.Command(self, "-test.run=^TestLimitsRefusedWhereNoCgroupCanBeMade$")
		cmd.Env = append(os.Environ(), "SUPERVISOR_TEST_NEW_LIMITED="+dir, "SUPERVISOR_TEST_ALLOW="+strconv.FormatBool(tc.allow))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if !strings.Contains(string(out), tc.want) {
			t.Fatalf("allow_unlimited=%v: output %q (%v), want %q", tc.allow, out, err, tc.want)
		}
		if !tc.allow && !strings.Contains(string(out), "--allow-unlimited") {
			t.Fatalf("the error does not say how to go on: %q", out)
		}
	}
}

// copyExecutable copies the running test binary to dst, mode 0755.
func copyExecutable(dst string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// newLimitedAndReport is the unprivileged side of the test above.
func newLimitedAndReport() {
	dir := os.Getenv("SUPERVISOR_TEST_NEW_LIMITED")
	db, err := sql.Open("sqlite", filepath.Join(dir, "x.db"))
	if err != nil {
		fmt.Println(err)
		os.Exit(0)
	}
	cfg := testConfig(dir)
	cfg.Services["web"] = appService("/bin/true", func(s *config.Service) { s.MemoryLimitMB, s.CPUShares = 64, 200 })
	_, err = New(Options{Config: cfg, DB: db, AllowUnlimited: os.Getenv("SUPERVISOR_TEST_ALLOW") == "true",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Println(err)
	} else {
		fmt.Println("started")
	}
	os.Exit(0)
}

// TestNamespaceIsolationWithLimits: a tenant with namespace isolation
// still enters its group as its namespace's pid 1, and ten records its
// host pid.
func TestNamespaceIsolationWithLimits(t *testing.T) {
	e, m, _ := limitedEnv(t, func(s *config.Service) {
		s.Isolation = config.IsolationNamespace
		s.MemoryLimitMB = 64
	})
	in, _ := spawnInGroup(t, e, m)
	// The cgroup helper must not take the namespace's pid 1 from the tenant.
	if got := getInfo(t, in.Addr); got.NsPID != 1 || got.PID != in.PID {
		t.Fatalf("tenant sees pid %d in its namespace (want 1), %d on the host (want %d)", got.NsPID, got.PID, in.PID)
	}
}
