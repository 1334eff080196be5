package server_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/tenement/ten/internal/procmark"
	tensite "github.com/tenement/ten/internal/site"
)

// TestKill9AdoptsTenants kills the server with SIGKILL while three tenants
// run, starts a new one over the same data directory, and checks that it
// adopts them: same pids, no restart, still serving.
func TestKill9AdoptsTenants(t *testing.T) {
	e := newEnv(t, settings+tensite.APIServices)
	admin := e.adminToken(t)
	first := e.startServer(t)
	ids := []string{"a", "b", "c"}
	pids := map[string]int{}
	for _, id := range ids {
		e.mustCLI(t, first, "spawn", "api:"+id)
		pids[id] = first.tenant(t, id+".api.localhost", "/").PID
	}
	first.kill9(t)
	for id, pid := range pids {
		if !procmark.Alive(pid) {
			t.Fatalf("tenant %s (pid %d) died with the server", id, pid)
		}
	}

	second := e.startServer(t)
	waitFor(t, "the new server to list the three tenants as running", 15*time.Second, func() bool {
		inst := second.instances(t, admin)
		n := 0
		for _, id := range ids {
			if inst["api:"+id].State == "running" {
				n++
			}
		}
		return n == len(ids)
	})
	inst := second.instances(t, admin)
	for _, id := range ids {
		in := inst["api:"+id]
		if in.PID != pids[id] || in.Restarts != 0 || !in.Adopted {
			t.Errorf("api:%s: pid %d (was %d), restarts %d, adopted %v", id, in.PID, pids[id], in.Restarts, in.Adopted)
		}
		if ti := second.tenant(t, id+".api.localhost", "/after"); ti.PID != pids[id] || ti.Name != id {
			t.Errorf("api:%s served by pid %d (%q), want %d", id, ti.PID, ti.Name, pids[id])
		}
	}

	// Repeated failed authentication is throttled per (client, token
	// prefix), and never refuses the valid token (issue 13 defect 3).
	bad := http.Header{"Authorization": {"Bearer ten_wrong"}}
	for i := range 10 {
		if code, _, _ := second.request(t, "GET", "", "/api/instances", nil, bad); code != http.StatusUnauthorized {
			t.Fatalf("bad token %d: %d", i, code)
		}
	}
	code, _, hdr := second.request(t, "GET", "", "/api/instances", nil, bad)
	if secs, _ := strconv.Atoi(hdr.Get("Retry-After")); code != http.StatusTooManyRequests || secs < 1 || secs > 60 {
		t.Errorf("11th wrong token: %d, Retry-After %q", code, hdr.Get("Retry-After"))
	}
	if code, _, _ := second.request(t, "GET", "", "/api/instances", nil, http.Header{"Authorization": {"Bearer " + admin}}); code != http.StatusOK {
		t.Errorf("admin token after 10 failures: %d, want 200", code)
	}
	if r := e.cli(t, second, "ps"); r.code != 0 {
		t.Errorf("ps with the admin token while wrong tokens are throttled: %d %q", r.code, r.stderr)
	}
	if r := e.cli(t, second, "ps", "--token", "ten_wrong"); r.code != 1 || r.stderr != "ten: too many failed authentication attempts; retry later\n" {
		t.Errorf("ps with the throttled wrong token: %d %q", r.code, r.stderr)
	}
	// Tenant traffic is not affected.
	if ti := second.tenant(t, "a.api.localhost", "/"); ti.PID != pids["a"] {
		t.Errorf("proxy while throttled: %+v", ti)
	}
}
