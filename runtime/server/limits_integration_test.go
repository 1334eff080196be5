package server_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	tensite "github.com/tenement/ten/internal/site"
	"github.com/tenement/ten/runtime/api"
	"github.com/tenement/ten/runtime/cgroup"
	"github.com/tenement/ten/runtime/supervisor"
)

// These tests run `ten serve` with real cgroups (v1 on a hybrid host).
// They are skipped where no cgroup can be made; the refusal to start
// there is covered in package supervisor.

const limitsConfig = `
[settings]
health_check_interval = 1
backoff_base_ms = 100

[service.web]
command = "@APP@"
workdir = "{data_dir}/{name}/{id}"
memory_limit_mb = 64
cpu_shares = 200
storage_quota_mb = 5
`

// hostCgroups skips unless cgroups can be made for dataDir here, and
// removes the installation's base group at the end.
func hostCgroups(t *testing.T, dataDir string) *cgroup.Manager {
	t.Helper()
	return tensite.RequireCgroups(t, dataDir, cgroup.Limits{MemoryMB: 64, CPUWeight: 200})
}

// limitFiles are the files that hold memory_limit_mb = 64 and
// cpu_shares = 200 on the host's cgroup version, with their values.
func limitFiles(m *cgroup.Manager) map[string]string {
	if m.Version() == 1 {
		return map[string]string{"memory.limit_in_bytes": strconv.Itoa(64 << 20), "cpu.shares": "2048"}
	}
	return map[string]string{"memory.max": strconv.Itoa(64 << 20), "cpu.weight": "200"}
}

func checkLimits(t *testing.T, m *cgroup.Manager, pid int) *cgroup.Group {
	t.Helper()
	g, ok := m.Find(cgroup.GroupName("web", "alice"), pid)
	if !ok {
		t.Fatalf("pid %d is in no group of web:alice", pid)
	}
	for f, want := range limitFiles(m) {
		if got := tensite.ReadTrimmed(t, g.File(f)); got != want {
			t.Errorf("%s of pid %d = %s, want %s", f, pid, got, want)
		}
	}
	return g
}

func metricLine(t *testing.T, s *server, prefix string) string {
	t.Helper()
	_, body, _ := s.request(t, "GET", "", "/metrics", nil, nil)
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// TestLimitsEndToEnd: through `ten serve`, a tenant with a 64 MB limit
// that allocates 200 MB is killed and restarted, and ten says why in its
// log, /api/instances, /metrics and `ten ps`; its cpu weight is in its
// group; writing past its storage quota is reported the same ways and by
// GET /api/instances/{instance}/storage.
func TestLimitsEndToEnd(t *testing.T) {
	e := newEnv(t, limitsConfig)
	m := hostCgroups(t, e.dataDir)
	token := e.adminToken(t)
	s := e.startServer(t)
	e.mustCLI(t, s, "spawn", "web", "--id", "alice")
	first := s.instances(t, token)["web:alice"]
	g := checkLimits(t, m, first.PID)
	if first.Cgroup != g.Path() || first.StorageQuotaBytes != 5<<20 {
		t.Fatalf("/api/instances: cgroup %q (want %q), quota %d", first.Cgroup, g.Path(), first.StorageQuotaBytes)
	}

	// Straight to the tenant: the router would retry the request on the
	// restarted tenant, which would die again.
	if resp, err := httpClient.Get("http://" + first.Listen + "/alloc?mb=200"); err == nil {
		resp.Body.Close()
		t.Fatalf("the tenant allocated 200 MB under a 64 MB limit: %s", resp.Status)
	}
	var now api.Instance
	waitFor(t, "restart after the OOM kill", 30*time.Second, func() bool {
		now = s.instances(t, token)["web:alice"]
		return now.State == "running" && now.PID != 0 && now.PID != first.PID
	})
	if now.LastExit != supervisor.ExitOOM || now.OOMKills != 1 {
		t.Fatalf("/api/instances after the OOM kill: last_exit %q, oom_kills %d", now.LastExit, now.OOMKills)
	}
	checkLimits(t, m, now.PID)
	if !strings.Contains(s.out.String(), "instance web:alice killed: out of memory (limit 64 MB)") {
		t.Fatalf("the server did not say why:\n%s", s.out.String())
	}
	if got := metricLine(t, s, "tenement_instance_oom_kills_total{"); got != `tenement_instance_oom_kills_total{id="alice",process="web"} 1` {
		t.Fatalf("oom metric: %q", got)
	}
	if ps := e.mustCLI(t, s, "ps"); !strings.Contains(ps, "LAST EXIT") || !strings.Contains(ps, " oom ") {
		t.Fatalf("ten ps does not show the OOM kill:\n%s", ps)
	}

	if code, body, _ := s.request(t, "GET", "alice.web.localhost", "/write?mb=20&file=big", nil, nil); code != 200 {
		t.Fatalf("write: %d %s", code, body)
	}
	waitFor(t, "storage over quota in /api/instances", 10*time.Second, func() bool {
		in := s.instances(t, token)["web:alice"]
		return in.StorageOverQuota && in.StorageUsedBytes >= 20<<20
	})
	hdr := map[string][]string{"Authorization": {"Bearer " + token}}
	code, body, _ := s.request(t, "GET", "", "/api/instances/web:alice/storage", nil, hdr)
	var info supervisor.StorageInfo
	if err := json.Unmarshal([]byte(body), &info); code != 200 || err != nil || !info.OverQuota || info.QuotaBytes != 5<<20 || info.UsedBytes < 20<<20 {
		t.Fatalf("storage route: %d %s", code, body)
	}
	if got := metricLine(t, s, "tenement_instance_storage_over_quota{"); got != `tenement_instance_storage_over_quota{id="alice",process="web"} 1` {
		t.Fatalf("storage metric: %q", got)
	}
	if !strings.Contains(s.out.String(), "instance web:alice is over its storage quota (5 MB)") {
		t.Fatalf("no over-quota error in the log:\n%s", s.out.String())
	}
	if ps := e.mustCLI(t, s, "ps"); !strings.Contains(ps, "/5M OVER") {
		t.Fatalf("ten ps does not show the storage:\n%s", ps)
	}
	code, body, _ = s.request(t, "GET", "", "/api/instances/web:nobody/storage", nil, hdr)
	if code != 404 {
		t.Fatalf("storage of an unknown instance: %d %s", code, body)
	}
}

// TestHandoffKeepsTenantsInTheirCgroups: after an in-place upgrade the
// tenant is the same process, in the same group with the same limits; the
// new server reports its group and removes it when it stops the instance
// (the process is not its child: no Wait of its own sees it go).
func TestHandoffKeepsTenantsInTheirCgroups(t *testing.T) {
	e := newEnv(t, limitsConfig+"\n[instances]\nweb = [\"alice\"]\n")
	m := hostCgroups(t, e.dataDir)
	token := e.adminToken(t)
	old := e.startServer(t)
	var before api.Instance
	waitFor(t, "web:alice running", 20*time.Second, func() bool {
		before = old.instances(t, token)["web:alice"]
		return before.State == "running" && before.PID != 0
	})
	g := checkLimits(t, m, before.PID)
	newPID := old.handoff(t)
	if h := health(t, old); h.PID != newPID {
		t.Fatalf("/health after handoff: pid %d, want %d", h.PID, newPID)
	}
	var after api.Instance
	waitFor(t, "the new server to report the tenant's group", 10*time.Second, func() bool {
		after = old.instances(t, token)["web:alice"]
		return after.Cgroup != ""
	})
	if after.PID != before.PID || after.Cgroup != before.Cgroup {
		t.Fatalf("after handoff: pid %d cgroup %q; before: pid %d cgroup %q", after.PID, after.Cgroup, before.PID, before.Cgroup)
	}
	if g2 := checkLimits(t, m, before.PID); g2.Path() != g.Path() {
		t.Fatalf("the tenant moved from %s to %s", g.Path(), g2.Path())
	}

	e.mustCLI(t, old, "stop", "web:alice")
	waitFor(t, "the group removed after the stop", 10*time.Second, func() bool {
		_, err := os.Stat(filepath.Dir(g.File("memory.stat")))
		return os.IsNotExist(err)
	})

	// The new server holds the old one's output pipe: stop it too.
	syscall.Kill(newPID, syscall.SIGTERM)
	waitGone(t, newPID, 30*time.Second)
}
