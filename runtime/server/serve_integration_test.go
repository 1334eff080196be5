package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
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
)

var mainConfig = `
[settings]
health_check_interval = 1
max_restarts = 20
backoff_base_ms = 10
backoff_max_ms = 50

[service.api]
command = "@APP@"
health = "/health"
[service.api.env]
TESTAPP_NAME = "{id}"

` + tensite.TestappService("web") + `
[service.sleepy]
command = "@APP@"
idle_timeout = 1
[service.sleepy.env]
TESTAPP_NAME = "{id}"

[service.py]
command = "/usr/bin/python3"
args = ["-u", "@DIR@/app.py"]
health = "/health"
`

// pyApp is a second tenant runtime: a plain Python HTTP server.
const pyApp = `import http.server, json, os
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = json.dumps({"lang": "python", "path": self.path, "id": os.environ.get("PY_ID", "")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        print("py " + fmt % args, flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
`

// TestServe drives one `ten serve` through the CLI and HTTP the way an
// operator and a tenant's users would. The steps share the server (and
// build on each other), so they run in order.
func TestServe(t *testing.T) {
	e := newEnv(t, mainConfig+"[service.py.env]\nPY_ID = \"{id}\"\n")
	if err := os.WriteFile(filepath.Join(e.dir, "app.py"), []byte(pyApp), 0o644); err != nil {
		t.Fatal(err)
	}
	admin := e.adminToken(t)
	if fi, err := os.Stat(filepath.Join(e.dataDir, "api_token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("api_token: %v %v", fi.Mode(), err)
	}
	s := e.startServer(t)

	t.Run("health", func(t *testing.T) {
		var h api.Health
		s.getJSON(t, "/health", "", &h)
		if h.Nonce != e.nonce || h.PID != s.cmd.Process.Pid || h.SchemaVersion < 1 || h.Version == "" || h.ServerID == "" {
			t.Errorf("/health = %+v", h)
		}
	})

	t.Run("spawn and proxy by subdomain", func(t *testing.T) {
		out := e.mustCLI(t, s, "spawn", "api", "--id", "alice")
		if !strings.HasPrefix(out, "Spawned api:alice\nListen: 127.0.0.1:") {
			t.Errorf("spawn printed %q", out)
		}
		code, body, _ := s.request(t, "POST", "alice.api.localhost", "/echo?x=1", strings.NewReader("ping"), nil)
		if code != 200 || body != "ping" {
			t.Errorf("echo: %d %q", code, body)
		}
		code, body, _ = s.request(t, "GET", "alice.api.localhost:8080", "/who?q=a%20b", nil, http.Header{
			"Authorization": {"Bearer tenant-secret"},
			"X-Custom":      {"kept"},
		})
		var ti tenantInfo
		json.Unmarshal([]byte(body), &ti)
		if code != 200 || ti.Name != "alice" || ti.Path != "/who" || ti.Query != "q=a%20b" || ti.Host != "alice.api.localhost:8080" {
			t.Errorf("proxy: %d %s", code, body)
		}
		if ti.Headers["Authorization"][0] != "Bearer tenant-secret" || ti.Headers["X-Custom"][0] != "kept" {
			t.Errorf("headers not passed through: %v", ti.Headers)
		}
	})

	t.Run("server-sent events stream through", func(t *testing.T) {
		req, _ := http.NewRequest("GET", s.url+"/sse?n=3&interval=50ms", nil)
		req.Host = "alice.api.localhost"
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("content type %q", resp.Header.Get("Content-Type"))
		}
		br := bufio.NewReader(resp.Body)
		for i := range 3 {
			line, err := br.ReadString('\n')
			if err != nil || line != fmt.Sprintf("data: %d\n", i) {
				t.Fatalf("event %d: %q %v", i, line, err)
			}
			br.ReadString('\n')
		}
	})

	t.Run("python tenant", func(t *testing.T) {
		e.mustCLI(t, s, "spawn", "py:snake")
		code, body, _ := s.request(t, "GET", "snake.py.localhost", "/hiss", nil, nil)
		if code != 200 || body != `{"lang": "python", "path": "/hiss", "id": "snake"}` {
			t.Errorf("python tenant: %d %q", code, body)
		}
	})

	t.Run("ps", func(t *testing.T) {
		out := e.mustCLI(t, s, "ps")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) < 3 || strings.Join(strings.Fields(lines[0]), " ") != "INSTANCE LISTEN UPTIME IDLE HEALTH WEIGHT LAST EXIT STORAGE" {
			t.Fatalf("ps:\n%s", out)
		}
		// Columns are aligned: every row starts its LISTEN column where the
		// header does.
		col := strings.Index(lines[0], "LISTEN")
		for _, l := range lines[1:] {
			if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
				t.Errorf("misaligned row %q", l)
			}
		}
		if !strings.Contains(out, "api:alice") || !strings.Contains(out, "py:snake") || !strings.Contains(out, "healthy") {
			t.Errorf("ps:\n%s", out)
		}
		if ls := e.mustCLI(t, s, "ls"); !strings.Contains(ls, "api:alice") {
			t.Errorf("ls:\n%s", ls)
		}
		if out := e.mustCLI(t, s, "health", "api:alice"); out != "api:alice: healthy\n" {
			t.Errorf("health: %q", out)
		}
	})

	t.Run("weighted routing, deploy and route", func(t *testing.T) {
		names := func(n int) map[string]int {
			seen := map[string]int{}
			for range n {
				seen[s.tenant(t, "web.localhost", "/").Name]++
			}
			return seen
		}
		if out := e.mustCLI(t, s, "deploy", "web", "--version", "v1"); out != "Deployed web:v1 (healthy, weight 100)\n" {
			t.Errorf("deploy: %q", out)
		}
		if seen := names(10); seen["v1"] != 10 {
			t.Errorf("one instance: %v", seen)
		}
		e.mustCLI(t, s, "deploy", "web:v2", "--weight", "50")
		e.mustCLI(t, s, "weight", "web:v1", "50")
		if seen := names(60); seen["v1"] == 0 || seen["v2"] == 0 || seen["v1"]+seen["v2"] != 60 {
			t.Errorf("50/50: %v", seen)
		}
		out := e.mustCLI(t, s, "route", "web", "--from", "v1", "--to", "v2")
		if out != "Routed web: web:v1 (weight 0) -> web:v2 (weight 100)\n" {
			t.Errorf("route: %q", out)
		}
		if seen := names(20); seen["v2"] != 20 {
			t.Errorf("after route: %v", seen)
		}
		// v1 still answers by name.
		if ti := s.tenant(t, "v1.web.localhost", "/"); ti.Name != "v1" {
			t.Errorf("by name: %+v", ti)
		}
		inst := s.instances(t, admin)
		if inst["web:v1"].Weight != 0 || inst["web:v2"].Weight != 100 {
			t.Errorf("weights %d %d", inst["web:v1"].Weight, inst["web:v2"].Weight)
		}

		// A crashed backend is skipped or waited for; no request fails.
		e.mustCLI(t, s, "weight", "web:v1", "50")
		v1 := inst["web:v1"].PID
		if err := syscall.Kill(-v1, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			if code, body, _ := s.request(t, "GET", "web.localhost", "/", nil, nil); code != 200 {
				t.Fatalf("request %d after a crash: %d %s", i, code, body)
			}
		}
	})

	t.Run("a request racing a crash waits for the respawn", func(t *testing.T) {
		before := s.tenant(t, "alice.api.localhost", "/")
		if err := syscall.Kill(-before.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		after := s.tenant(t, "alice.api.localhost", "/")
		if after.PID == before.PID || after.Name != "alice" {
			t.Errorf("pid %d -> %d", before.PID, after.PID)
		}
		// A request with a body is sent again only when it cannot have
		// reached the old process (a refused dial): once a body has gone
		// out on a connection the tenant reset, replaying it could run a
		// non-idempotent request twice, so that race is a 502, as with
		// nginx. So wait until the server has seen the process die (a dead
		// process is a zombie until ten reaps it, and until then ten still
		// routes to it over a pooled connection), not just until it died.
		if err := syscall.Kill(-after.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the server to see the tenant die", 5*time.Second, func() bool {
			in := s.instances(t, admin)["api:alice"]
			return in.PID != after.PID || in.State != "running"
		})
		code, body, _ := s.request(t, "POST", "alice.api.localhost", "/echo", strings.NewReader("still here"), nil)
		if code != 200 || body != "still here" {
			t.Errorf("POST after crash: %d %q", code, body)
		}
		if r := s.instances(t, admin)["api:alice"].Restarts; r < 2 {
			t.Errorf("restarts = %d, want >= 2", r)
		}
		_, metrics, _ := s.request(t, "GET", "", "/metrics", nil, nil)
		for _, want := range []string{
			`tenement_instance_restarts_total{id="alice",process="api"}`,
			// tenement's labels (cli/src/server.rs proxy_to_instance:
			// process, instance) plus status, which ten-upgrade reads.
			`tenement_requests_total{instance="alice",process="api",status="200"}`,
			`tenement_request_duration_ms_bucket{instance="alice",process="api",le="5"}`,
			`tenement_instances{state="running"}`,
			`tenement_instances_up `,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	t.Run("idle stop and wake on request", func(t *testing.T) {
		e.mustCLI(t, s, "spawn", "sleepy", "--id", "z")
		first := s.tenant(t, "z.sleepy.localhost", "/")
		// An idle stop is a stop in tenement (hypervisor.rs
		// reap_idle_instances): the instance leaves /api/instances and ps.
		waitFor(t, "sleepy:z to be stopped as idle", 15*time.Second, func() bool {
			_, listed := s.instances(t, admin)["sleepy:z"]
			return !listed && !procmark.Alive(first.PID)
		})
		if ps := e.mustCLI(t, s, "ps"); strings.Contains(ps, "sleepy:z") {
			t.Errorf("ps still shows the idle instance:\n%s", ps)
		}
		woken := s.tenant(t, "z.sleepy.localhost", "/again")
		if woken.PID == first.PID || woken.Name != "z" {
			t.Errorf("woken %+v", woken)
		}
		if st := s.instances(t, admin)["sleepy:z"].State; st != "running" {
			t.Errorf("state after wake %q", st)
		}
	})

	t.Run("logs", func(t *testing.T) {
		marker := "log-marker-" + randHex(4)
		s.tenant(t, "alice.api.localhost", "/"+marker)
		var out string
		waitFor(t, "the request line in ten logs", 10*time.Second, func() bool {
			out = e.mustCLI(t, s, "logs", "api:alice", "--search", marker)
			return out != ""
		})
		want := "[OUT] api:alice request GET /" + marker + " host=alice.api.localhost\n"
		if out != want {
			t.Errorf("logs --search: %q, want %q", out, want)
		}
		out = e.mustCLI(t, s, "logs", "api:alice", "--level", "stderr", "--limit", "1")
		if !strings.HasPrefix(out, "[ERR] api:alice testapp starting") || strings.Count(out, "\n") != 1 {
			t.Errorf("logs --level stderr: %q", out)
		}

		// Follow: start the stream, then log a line, and see it arrive.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cmd := e.cliCmd(ctx, s, "logs", "-f", "api:alice")
		stdout, _ := cmd.StdoutPipe()
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer cmd.Process.Kill()
		hello, err := bufio.NewReader(stderr).ReadString('\n')
		if err != nil || !strings.HasPrefix(hello, "Following logs") {
			t.Fatalf("follow did not connect: %q %v", hello, err)
		}
		follow := "follow-marker-" + randHex(4)
		s.tenant(t, "alice.api.localhost", "/"+follow)
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		deadline := time.After(10 * time.Second)
		for found := false; !found; {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("logs -f ended")
				}
				found = l == "[OUT] api:alice request GET /"+follow+" host=alice.api.localhost"
			case <-deadline:
				t.Fatal("followed line did not arrive")
			}
		}
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("logs -f after SIGINT: %v", err)
		}
	})

	t.Run("tenant tokens", func(t *testing.T) {
		tok := tokenFrom(t, e.mustCLI(t, nil, "token-gen", "--tenant", "alice"))
		ps := e.mustCLI(t, s, "--token", tok, "ps")
		if !strings.Contains(ps, "api:alice") || strings.Contains(ps, "web:") || strings.Contains(ps, "py:") {
			t.Errorf("tenant ps:\n%s", ps)
		}
		for _, args := range [][]string{
			{"deploy", "api", "--version", "v9"},
			{"route", "web", "--from", "v2", "--to", "v1"},
			{"stop", "web:v1"},
			{"weight", "web:v2", "1"},
			{"spawn", "api", "--id", "mallory"},
		} {
			r := e.cli(t, s, append([]string{"--token", tok}, args...)...)
			if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !(strings.Contains(r.stderr, "requires an admin token") || strings.Contains(r.stderr, "can only access instance 'alice'")) {
				t.Errorf("tenant %v: exit %d %q", args, r.code, r.stderr)
			}
		}
		logs := e.mustCLI(t, s, "--token", tok, "logs", "--limit", "1000")
		if logs == "" || strings.Contains(logs, "api:z") || strings.Contains(logs, "web:") {
			t.Errorf("tenant logs include other instances:\n%s", logs)
		}
		if out := e.mustCLI(t, s, "--token", tok, "restart", "api:alice"); !strings.HasPrefix(out, "Restarted api:alice\n") {
			t.Errorf("tenant restart: %q", out)
		}
	})

	t.Run("bad requests get a clear 4xx", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			code int
			msg  string
		}{
			{[]string{"spawn", "nope", "--id", "x"}, 1, `ten: unknown service "nope"`},
			{[]string{"spawn", "api", "--id", "bad.id"}, 1, `ten: invalid instance "api:bad.id"`},
			{[]string{"stop", "api:ghost"}, 1, "ten: instance api:ghost not found"},
			{[]string{"stop", "noseparator"}, 2, `ten: invalid instance "noseparator": expected service:id`},
			{[]string{"weight", "api:alice", "101"}, 2, "ten: invalid weight \"101\""},
		} {
			r := e.cli(t, s, tt.args...)
			if r.code != tt.code || !strings.HasPrefix(r.stderr, tt.msg) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("ten %v: exit %d %q; want %d %q", tt.args, r.code, r.stderr, tt.code, tt.msg)
			}
		}
		auth := http.Header{"Authorization": {"Bearer " + admin}}
		for _, tt := range []struct {
			method, path, body string
			code               int
		}{
			{"POST", "/api/instances/spawn", `{"process":"nope","id":"x"}`, 404},
			{"POST", "/api/instances/spawn", `{"process":"api","id":"bad id"}`, 400},
			{"PUT", "/api/instances/api:alice/weight", `{"weight":101}`, 400},
			{"PUT", "/api/instances/api:alice/weight", `{"weight":"heavy"}`, 400},
			{"DELETE", "/api/instances/nocolon", "", 400},
			{"GET", "/api/instances/api:ghost/health", "", 404},
		} {
			code, body, _ := s.request(t, tt.method, "", tt.path, strings.NewReader(tt.body), auth)
			var apiErr api.Error
			if code != tt.code || json.Unmarshal([]byte(body), &apiErr) != nil || apiErr.Error == "" {
				t.Errorf("%s %s %s: %d %s, want %d", tt.method, tt.path, tt.body, code, body, tt.code)
			}
		}
		for _, host := range []string{"ghost.nope.localhost", "nope.localhost", "a.b.c.localhost"} {
			if code, body, _ := s.request(t, "GET", host, "/", nil, nil); code != 404 || body != "Not Found\n" {
				t.Errorf("%s: %d %q", host, code, body)
			}
		}
	})

	t.Run("graceful shutdown drains, then stops the tenants", func(t *testing.T) {
		pids := []int{}
		for _, in := range s.instances(t, admin) {
			if in.PID > 0 {
				pids = append(pids, in.PID)
			}
		}
		type result struct {
			code int
			body string
			err  error
		}
		done := make(chan result, 1)
		go func() {
			req, _ := http.NewRequest("GET", s.url+"/slow?ms=800", nil)
			req.Host = "alice.api.localhost"
			resp, err := httpClient.Do(req)
			if err != nil {
				done <- result{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			done <- result{resp.StatusCode, string(b), err}
		}()
		waitFor(t, "the slow request to be in flight", 10*time.Second, func() bool {
			return s.instances(t, admin)["api:alice"].InFlight == 1
		})
		s.cmd.Process.Signal(syscall.SIGTERM)
		if r := <-done; r.err != nil || r.code != 200 || r.body != "slept 800ms\n" {
			t.Errorf("in-flight request: %d %q %v", r.code, r.body, r.err)
		}
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			t.Fatal("server did not exit")
		}
		if s.err != nil {
			t.Errorf("server exit: %v", s.err)
		}
		for _, pid := range pids {
			if procmark.Alive(pid) {
				t.Errorf("tenant %d still running after shutdown", pid)
			}
		}
		if _, err := httpClient.Get(s.url + "/health"); err == nil {
			t.Error("server still accepting connections")
		}
	})
}
