package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

const compatConfig = `
[settings]
health_check_interval = 1
max_instances = 3

[service.app]
command = "@APP@"
max_instances = 2
env_passthrough = ["PASSED_ON"]
[service.app.env]
TESTAPP_NAME = "{id}"

[service.sick]
command = "@APP@"
[service.sick.env]
TESTAPP_UNHEALTHY_FILE = "/"
TESTAPP_UNHEALTHY_STATUS = "500"

# The system python3: run as root, ten starts tenants as the tenement
# user, who cannot execute one found on root's own PATH (e.g. ~/.pyenv).
[service.line]
command = "/usr/bin/python3 -m http.server --bind 127.0.0.1 {port}"
health = ""
startup_timeout = 30
`

// TestTenantEnvironmentIsAnAllowlist runs a real ten serve with secrets in
// its environment: a tenant must see neither, and must see the allowlisted
// variables, its service's env_passthrough and env, and PORT.
func TestTenantEnvironmentIsAnAllowlist(t *testing.T) {
	e := newEnv(t, compatConfig)
	e.serverEnv = []string{"SECRET_CANARY=canary-4711", "TENEMENT_TOKEN=admin-token-4711", "PASSED_ON=yes", "LANG=C.UTF-8", "TZ=UTC"}
	e.adminToken(t)
	s := e.startServer(t)

	code, body, _ := s.request(t, "GET", "alice.app.localhost", "/env", nil, nil)
	if code != 200 {
		t.Fatalf("GET /env: %d %s", code, body)
	}
	var environ []string
	if err := json.Unmarshal([]byte(body), &environ); err != nil {
		t.Fatalf("/env: %v: %s", err, body)
	}
	for _, kv := range environ {
		if strings.Contains(kv, "4711") {
			t.Errorf("the tenant inherited the server's %s", kv)
		}
	}
	for _, want := range []string{"LANG=C.UTF-8", "TZ=UTC", "PASSED_ON=yes", "TESTAPP_NAME=alice"} {
		if !slices.Contains(environ, want) {
			t.Errorf("the tenant lacks %s: %q", want, environ)
		}
	}
	for _, name := range []string{"PATH=", "HOME=", "PORT=", "SOCKET_PATH="} {
		if !slices.ContainsFunc(environ, func(kv string) bool { return strings.HasPrefix(kv, name) }) {
			t.Errorf("the tenant lacks %s: %q", name, environ)
		}
	}
}

// TestTenementCommandsAndHealthThroughServe: a command line (tenement
// hypervisor.rs:260-275) serves, and a tenant whose /health answers 500
// spawns and is listed unhealthy (tenement's spawn waits for the port only).
func TestTenementCommandsAndHealthThroughServe(t *testing.T) {
	e := newEnv(t, compatConfig)
	admin := e.adminToken(t)
	s := e.startServer(t)

	if code, body, _ := s.request(t, "GET", "docs.line.localhost", "/", nil, nil); code != 200 || !strings.Contains(body, "Directory listing") {
		t.Errorf("command line tenant: %d %.200s", code, body)
	}
	out := e.mustCLI(t, s, "spawn", "sick", "--id", "a")
	if !strings.HasPrefix(out, "Spawned sick:a") {
		t.Errorf("spawn printed %q", out)
	}
	if in := s.instances(t, admin)["sick:a"]; in.PID == 0 || in.Health != "unhealthy" {
		t.Errorf("sick:a listed as %+v, want up and unhealthy", in)
	}
}

// TestMaxInstancesThroughServe: beyond max_instances a request that would
// wake a new instance gets 503 with Retry-After, and the API's spawn gets
// 409 with a message that names the bound.
func TestMaxInstancesThroughServe(t *testing.T) {
	e := newEnv(t, compatConfig)
	admin := e.adminToken(t)
	s := e.startServer(t)

	for _, id := range []string{"a", "b"} {
		s.tenant(t, id+".app.localhost", "/")
	}
	code, body, hdr := s.request(t, "GET", "c.app.localhost", "/", nil, nil)
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Errorf("wake beyond service.app.max_instances: %d %q Retry-After %q", code, body, hdr.Get("Retry-After"))
	}
	auth := http.Header{"Authorization": {"Bearer " + admin}, "Content-Type": {"application/json"}}
	code, body, _ = s.request(t, "POST", "", "/api/instances/spawn", strings.NewReader(`{"process":"app","id":"c"}`), auth)
	if code != http.StatusConflict || !strings.Contains(body, "service.app.max_instances") {
		t.Errorf("API spawn beyond the bound: %d %s", code, body)
	}
	r := e.cli(t, s, "spawn", "app", "--id", "c")
	if r.code == 0 || !strings.Contains(r.stderr, "max_instances") {
		t.Errorf("ten spawn beyond the bound: exit %d, %q", r.code, r.stderr)
	}
	// The overall bound: 2 app + 1 line = 3.
	s.request(t, "GET", "x.line.localhost", "/", nil, nil)
	code, _, hdr = s.request(t, "GET", "y.line.localhost", "/", nil, nil)
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Errorf("wake beyond settings.max_instances: %d Retry-After %q", code, hdr.Get("Retry-After"))
	}
	// A stop frees a place.
	e.mustCLI(t, s, "stop", "app:a")
	waitFor(t, "app:c to start once app:a is stopped", 10*time.Second, func() bool {
		code, _, _ := s.request(t, "GET", "c.app.localhost", "/", nil, nil)
		return code == 200
	})
}
