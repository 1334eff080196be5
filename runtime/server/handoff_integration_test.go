package server_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/internal/procmark"
	tensite "github.com/tenement/ten/internal/site"
	"github.com/tenement/ten/runtime/api"
	"github.com/tenement/ten/runtime/handoff"
)

var overlapConfig = settings + tensite.APIServices + `
[instances]
api = ["a", "b", "c"]
`

// tenantPIDs waits until the three configured tenants run and returns
// their pids by id.
func tenantPIDs(t *testing.T, s *server, token string) map[string]int {
	t.Helper()
	pids := map[string]int{}
	waitFor(t, "three running tenants", 20*time.Second, func() bool {
		inst := s.instances(t, token)
		for _, id := range []string{"a", "b", "c"} {
			in := inst["api:"+id]
			if in.State != "running" || in.PID == 0 {
				return false
			}
			pids[id] = in.PID
		}
		return true
	})
	return pids
}

func samePIDs(t *testing.T, s *server, token string, want map[string]int) {
	t.Helper()
	got := tenantPIDs(t, s, token)
	for id, pid := range want {
		if got[id] != pid {
			t.Errorf("tenant api:%s: pid %d, want %d (restarted)", id, got[id], pid)
		}
		if !procmark.Alive(pid) {
			t.Errorf("tenant api:%s (pid %d) is gone", id, pid)
		}
	}
}

// startLoad keeps requests flowing to tenant a through urls (in fail-over
// order) and returns once some have been answered.
func startLoad(t *testing.T, urls ...string) *tensite.Load {
	t.Helper()
	l := tensite.StartLoad(context.Background(), urls...)
	l.More(t, 50)
	return l
}

// overlap starts two servers on one data directory, the first
// supervising the three tenants of overlapConfig, the second following;
// pids are the tenants'.
func overlap(t *testing.T) (e *env, token string, first, second *server, pids map[string]int) {
	t.Helper()
	e = newEnv(t, overlapConfig)
	token = e.adminToken(t)
	first = e.startServer(t)
	pids = tenantPIDs(t, first, token)
	second = e.startServer(t)
	samePIDs(t, second, token, pids)
	return e, token, first, second, pids
}

func waitGone(t *testing.T, pid int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	waitFor(t, "pid to exit", timeout, func() bool { return !procmark.Alive(pid) })
	return time.Since(start)
}

func health(t *testing.T, s *server) api.Health {
	t.Helper()
	var h api.Health
	if code := s.getJSON(t, "/health", "", &h); code != 200 {
		t.Fatalf("/health: %d", code)
	}
	return h
}

// TestHandoffToNewBinaryUnderLoad upgrades a running server in place over
// its control socket while requests flow: none may fail and no tenant may
// be restarted.
func TestHandoffToNewBinaryUnderLoad(t *testing.T) {
	e := newEnv(t, overlapConfig)
	token := e.adminToken(t)
	old := e.startServer(t)
	pids := tenantPIDs(t, old, token)
	ld := startLoad(t, old.url)
	start := time.Now()
	newPID := old.handoff(t)
	exitAfter := time.Since(start)
	ld.More(t, 100) // the new server alone serves these
	r := ld.Stop()
	t.Logf("handoff: %s; new pid %d; request to old-server exit %v", r, newPID, exitAfter)
	if r.Failed != 0 || r.Sent < 100 {
		t.Errorf("load during handoff: %s", r)
	}
	h := health(t, old)
	if h.Version != "9.9.9" || h.PID != newPID {
		t.Errorf("after handoff /health = version %s pid %d, want 9.9.9 pid %d", h.Version, h.PID, newPID)
	}
	samePIDs(t, old, token, pids)
	st, err := handoff.NewControlClient(e.dataDir).Status(context.Background())
	if err != nil || st.PID != newPID || !st.Supervisor {
		t.Errorf("control status after handoff: %+v, %v; want pid %d supervising", st, err, newPID)
	}

	// The new server stops like any other; its tenants go with it.
	syscall.Kill(newPID, syscall.SIGTERM)
	waitGone(t, newPID, 30*time.Second)
}

// TestFailedHandoffKeepsOldServerServing hands over to binaries that exit at
// once or never become ready: the old server must go on as if nothing
// happened and the requester must get a clear error.
func TestFailedHandoffKeepsOldServerServing(t *testing.T) {
	e := newEnv(t, overlapConfig)
	token := e.adminToken(t)
	old := e.startServerArgs(t, "--handoff-timeout", "1s")
	pids := tenantPIDs(t, old, token)

	scripts := map[string]string{
		"exits": "#!/bin/sh\necho 'ten: bad config' >&2\nexit 1\n",
		"hangs": "#!/bin/sh\nexec sleep 600\n",
	}
	wantErr := map[string]string{"exits": "bad config", "hangs": "no ready signal within 1s"}
	for _, name := range []string{"exits", "hangs"} {
		t.Run(name, func(t *testing.T) {
			bin := filepath.Join(e.dir, name)
			if err := os.WriteFile(bin, []byte(scripts[name]), 0o755); err != nil {
				t.Fatal(err)
			}
			ld := startLoad(t, old.url)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := handoff.NewControlClient(e.dataDir).Upgrade(ctx, bin, nil)
			r := ld.Stop()
			if err == nil || !strings.Contains(err.Error(), wantErr[name]) || !strings.Contains(err.Error(), "did not become ready") {
				t.Errorf("upgrade error = %v, want one mentioning %q", err, wantErr[name])
			}
			if r.Failed != 0 || r.Sent == 0 {
				t.Errorf("load during failed handoff: %s", r)
			}
			if h := health(t, old); h.PID != old.cmd.Process.Pid {
				t.Errorf("/health answered by pid %d, want the old server %d", h.PID, old.cmd.Process.Pid)
			}
		})
	}
	samePIDs(t, old, token, pids)
}

// TestSuccessorTakesOverOnSIGTERM runs the manual upgrade procedure: a
// second server on another port over the same data directory, then SIGTERM
// to the first. A client failing over from the old port to the new one must
// see no error, and no tenant may restart.
func TestSuccessorTakesOverOnSIGTERM(t *testing.T) {
	e, token, old, succ, pids := overlap(t)

	ld := startLoad(t, old.url, succ.url)
	start := time.Now()
	old.cmd.Process.Signal(syscall.SIGTERM)
	<-old.exited
	took := time.Since(start)
	ld.More(t, 100)
	r := ld.Stop()
	t.Logf("successor takeover: %s; SIGTERM to old-server exit %v", r, took)
	if r.Failed != 0 || r.Sent < 100 {
		t.Errorf("load during takeover: %s", r)
	}
	samePIDs(t, succ, token, pids)
	st, err := handoff.NewControlClient(e.dataDir).Status(context.Background())
	if err != nil || st.PID != succ.cmd.Process.Pid || !st.Supervisor {
		t.Errorf("successor status: %+v, %v", st, err)
	}
}

// TestSuccessorTakesLeaseAfterOwnerKill9 kills the supervising server with
// SIGKILL: the successor must take the lease within two health intervals
// and then supervise (restart a tenant that dies), with the crashed tenant
// restarted exactly once.
func TestSuccessorTakesLeaseAfterOwnerKill9(t *testing.T) {
	e, token, old, succ, pids := overlap(t)

	ctl := handoff.NewControlClient(e.dataDir)
	start := time.Now()
	old.kill9(t)
	waitFor(t, "the successor to hold the lease", 10*time.Second, func() bool {
		st, err := ctl.Status(context.Background())
		return err == nil && st.Supervisor
	})
	took := time.Since(start)
	t.Logf("lease taken over %v after kill -9 of the owner (health interval 1s)", took)
	if took > 3*time.Second {
		t.Errorf("lease takeover took %v, want within 2 health intervals (2s) plus scheduling slack", took)
	}
	samePIDs(t, succ, token, pids)

	syscall.Kill(pids["b"], syscall.SIGKILL)
	waitFor(t, "api:b restarted by the successor", 20*time.Second, func() bool {
		in := succ.instances(t, token)["api:b"]
		return in.State == "running" && in.PID != pids["b"] && in.PID != 0
	})
	if in := succ.instances(t, token)["api:b"]; in.Restarts != 1 {
		t.Errorf("api:b restarts = %d, want 1", in.Restarts)
	}
}

// TestTenantCrashDuringOverlapRestartedOnce kills a tenant while two servers
// share the data directory: only the supervising one may restart it, once.
func TestTenantCrashDuringOverlapRestartedOnce(t *testing.T) {
	e, token, owner, succ, pids := overlap(t)

	syscall.Kill(pids["c"], syscall.SIGKILL)
	var newPID int
	waitFor(t, "api:c restarted", 20*time.Second, func() bool {
		in := owner.instances(t, token)["api:c"]
		newPID = in.PID
		return in.State == "running" && in.PID != pids["c"] && in.PID != 0
	})
	// A double spawn is the absence of an event, so it can only be looked
	// for over a window: give the successor two health intervals to
	// misbehave, then count what exists.
	time.Sleep(2500 * time.Millisecond)
	if in := owner.instances(t, token)["api:c"]; in.Restarts != 1 || in.PID != newPID {
		t.Errorf("owner sees api:c restarts %d pid %d, want 1 and %d", in.Restarts, in.PID, newPID)
	}
	waitFor(t, "the successor to route to the new pid", 10*time.Second, func() bool {
		return succ.tenant(t, "c.api.localhost", "/").PID == newPID
	})
	if n := e.countTenants(t); n != 3 {
		t.Errorf("%d tenant processes exist, want 3 (a double spawn?)", n)
	}
}

const idleOverlapConfig = `
[settings]
health_check_interval = 1

[service.sleepy]
command = "@APP@"
idle_timeout = 1
[service.sleepy.env]
TESTAPP_NAME = "{id}"
`

// TestFollowerWakesIdleTenantThroughOwner: while two servers share the
// data directory, a request that reaches the follower for a tenant that
// is stopped (scaled to zero) or not started yet is answered: only the
// supervising server may start it, so the follower passes the request to
// it. Without that the request would wait for a lease that never moves.
func TestFollowerWakesIdleTenantThroughOwner(t *testing.T) {
	e := newEnv(t, idleOverlapConfig)
	token := e.adminToken(t)
	owner := e.startServer(t)
	first := owner.tenant(t, "z.sleepy.localhost", "/")
	waitFor(t, "sleepy:z to be stopped when idle", 20*time.Second, func() bool {
		_, listed := owner.instances(t, token)["sleepy:z"] // an idle instance is not listed
		return !listed && !procmark.Alive(first.PID)
	})
	succ := e.startServer(t)

	for _, host := range []string{"z.sleepy.localhost", "y.sleepy.localhost"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, succ.url+"/echo", strings.NewReader("through the follower"))
		req.Host = host
		resp, err := httpClient.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("POST %s through the follower: %v (did it wait for a lease that never moves?)", host, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode != 200 || string(b) != "through the follower" {
			t.Errorf("POST %s through the follower: %d %q", host, resp.StatusCode, b)
		}
	}

	st, err := handoff.NewControlClient(e.dataDir).Status(context.Background())
	if err != nil || st.Supervisor {
		t.Errorf("the follower answers the control socket as supervisor=%v (%v); the owner must still supervise", st.Supervisor, err)
	}
	in := owner.instances(t, token)
	if z := in["sleepy:z"]; z.State != "running" || z.PID == first.PID {
		t.Errorf("sleepy:z: %s pid %d, want woken by the owner (was pid %d)", z.State, z.PID, first.PID)
	}
	if y := in["sleepy:y"]; y.State != "running" {
		t.Errorf("sleepy:y: %s, want started by the owner", y.State)
	}
	// And the follower routes to them itself once it sees them running.
	waitFor(t, "the follower to route to the woken tenant", 10*time.Second, func() bool {
		return succ.tenant(t, "z.sleepy.localhost", "/").PID == in["sleepy:z"].PID
	})
}
