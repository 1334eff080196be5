package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/runtime/config"
)

// Behaviours that a tenement v0.2.2 configuration relies on; each test names
// the tenement source it follows.

// tenement hypervisor.rs:260-275: with args empty, the command is split
// with shell-words rules, so a whole command line works; placeholders are
// interpolated (config.rs:495-510).
func TestCommandLineSplitAsTenementHypervisor260(t *testing.T) {
	py, err := lookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["py"] = appService("", func(s *config.Service) {
			s.Command = py + " -m http.server --bind '127.0.0.1' --directory {data_dir}/{name}/{id} {port}"
			s.Health = "/"
			s.StartupTimeout = 30 // python behind a pyenv shim starts slowly on a loaded machine
		})
	})
	ctx := context.Background()
	in, err := e.s.Spawn(ctx, "py", "docs")
	if err != nil {
		t.Fatalf("spawn of a command line: %v", err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "py", "docs", "hello.txt"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, in.Addr, "/hello.txt"); code != 200 || string(body) != "hello" {
		t.Fatalf("GET = %d %q", code, body)
	}
	got, err := proc.Cmdline(in.PID)
	if err != nil {
		t.Fatal(err)
	}
	// argv[0] is python's own (a pyenv shim execs the real one).
	want := []string{"-m", "http.server", "--bind", "127.0.0.1", "--directory",
		filepath.Join(e.dir, "py", "docs"), strconv.Itoa(in.Port)}
	if !slices.Equal(got[1:], want) {
		t.Errorf("argv %q, want python3 %q", got, want)
	}
}

// A command whose quoting is broken fails at spawn with the reason (config
// --check reports it earlier, see config.TestValidationCommandSplitAsTenement).
func TestCommandLineUnterminatedQuoteFailsSpawn(t *testing.T) {
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["bad"] = appService(`/bin/sh -c 'exit 0`)
	})
	_, err := e.s.Spawn(context.Background(), "bad", "a")
	if err == nil || !strings.Contains(err.Error(), "unterminated single quote") || !strings.Contains(err.Error(), `/bin/sh -c 'exit 0`) {
		t.Fatalf("spawn: %v", err)
	}
	if l := e.s.List(); len(l) != 0 {
		t.Errorf("failed spawn left %+v", l)
	}
}

// tenement runtime/process.rs:54-56 sets the working directory only when
// workdir is set: otherwise the tenant runs where the server runs, and a
// relative command is relative to it. With workdir, it runs there.
func TestWorkdirAsTenementProcess54(t *testing.T) {
	bin := testapp(t)
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(cwd, bin)
	if err != nil || strings.HasPrefix(rel, "/") {
		t.Skipf("test binary %s not reachable by a relative path", bin)
	}
	if !strings.Contains(rel, "/") {
		rel = "./" + rel
	}
	work := t.TempDir()
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["rel"] = appService(rel)
		cfg.Services["set"] = appService(bin, func(s *config.Service) { s.Workdir = work })
	})
	ctx := context.Background()
	in, err := e.s.Spawn(ctx, "rel", "a")
	if err != nil {
		t.Fatalf("relative command %s: %v", rel, err)
	}
	if got := getInfo(t, in.Addr).Workdir; got != cwd {
		t.Errorf("workdir unset: tenant runs in %s, want the server's %s", got, cwd)
	}
	in, err = e.s.Spawn(ctx, "set", "a")
	if err != nil {
		t.Fatal(err)
	}
	if got := getInfo(t, in.Addr).Workdir; got != work {
		t.Errorf("workdir set: tenant runs in %s, want %s", got, work)
	}
}

// tenement's spawn waits only for the port (hypervisor.rs spawn_with_env,
// "TCP mode: try to connect"); health is the monitor's business
// (check_health: three failures in a row are Unhealthy, and
// run_health_checks restarts an Unhealthy instance). So a tenant whose
// /health answers 500 spawns, is marked unhealthy, and is restarted by the
// restart policy; with restart = "never" it stays up, unhealthy.
func TestSpawnWithFailingHealthAsTenementHypervisor(t *testing.T) {
	bin := testapp(t)
	sick := func(s *config.Service) {
		s.Env["TESTAPP_UNHEALTHY_FILE"] = "/" // always exists: /health fails
		s.Env["TESTAPP_UNHEALTHY_STATUS"] = "500"
	}
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["sick"] = appService(bin, sick)
		cfg.Services["kept"] = appService(bin, sick, func(s *config.Service) { s.Restart = config.RestartNever })
		o.HealthInterval = 100 * time.Millisecond
	})
	ctx := context.Background()
	for _, svc := range []string{"sick", "kept"} {
		in, err := e.s.Spawn(ctx, svc, "a")
		if err != nil {
			t.Fatalf("%s: spawn refused for a failing /health: %v", svc, err)
		}
		if in.State != StateUnhealthy || in.Health != HealthUnhealthy || in.PID == 0 || !strings.Contains(in.Error, "status 500") {
			t.Errorf("%s: spawned as %+v, want unhealthy with the status", svc, in)
		}
		if code, _ := get(t, in.Addr, "/"); code != 200 {
			t.Errorf("%s: the tenant does not serve: %d", svc, code)
		}
	}
	first, _ := e.s.Get("sick", "a")
	waitFor(t, 10*time.Second, "the restart policy to restart sick:a", func() bool {
		return e.events.count(EventSpawned, "sick:a") >= 2
	})
	if alive(first.PID) {
		// The restart terminates the old process first.
		waitFor(t, 5*time.Second, "the unhealthy process to be stopped", func() bool { return !alive(first.PID) })
	}
	kept, _ := e.s.Get("kept", "a")
	holds(t, 500*time.Millisecond, `restart = "never" to leave kept:a running`, func() bool {
		cur, _ := e.s.Get("kept", "a")
		return cur.PID == kept.PID && cur.State == StateUnhealthy
	})
}

// tenement hypervisor.rs reap_idle_instances stops an idle instance with
// stop(), which removes it from the list that cli/src/server.rs
// list_instances (and `ten ps`) shows. ten lists it no more either, and
// lists it again once a request wakes it.
func TestIdleInstanceLeavesListAsTenementReapIdle(t *testing.T) {
	e, clock := idleWebEnv(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if _, err := e.s.Spawn(ctx, "web", id); err != nil {
			t.Fatal(err)
		}
	}
	names := func() []string {
		var out []string
		for _, in := range e.s.List() {
			out = append(out, in.Name())
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"web:a", "web:b"}) {
		t.Fatalf("listed %q", got)
	}
	clock.Advance(30 * time.Second)
	_, release, err := e.s.Acquire(ctx, "web", "b")
	if err != nil {
		t.Fatal(err)
	}
	release()
	clock.Advance(31 * time.Second)
	waitFor(t, 5*time.Second, "web:a to be stopped as idle", func() bool {
		cur, _ := e.s.Get("web", "a")
		return cur.State == StateIdle
	})
	if got := names(); !slices.Equal(got, []string{"web:b"}) {
		t.Errorf("after the idle stop, listed %q, want only web:b", got)
	}
	addr, release, err := e.s.Acquire(ctx, "web", "a")
	if err != nil {
		t.Fatal(err)
	}
	release()
	getInfo(t, addr)
	if got := names(); !slices.Equal(got, []string{"web:a", "web:b"}) {
		t.Errorf("after the wake, listed %q", got)
	}
}

// Tenants get an allowlist of the server's environment, not all of it.
func TestTenantDoesNotInheritServerSecrets(t *testing.T) {
	bin := testapp(t)
	t.Setenv("SECRET_CANARY", "canary-value")
	t.Setenv("TENEMENT_TOKEN", "admin-token-value")
	t.Setenv("PASSED_ON", "yes")
	t.Setenv("LC_TIME", "C")
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["web"] = appService(bin, func(s *config.Service) { s.EnvPassthrough = []string{"PASSED_ON"} })
	})
	in, err := e.s.Spawn(context.Background(), "web", "a")
	if err != nil {
		t.Fatal(err)
	}
	_, body := get(t, in.Addr, "/env")
	var environ []string
	if err := json.Unmarshal(body, &environ); err != nil {
		t.Fatalf("/env: %v %s", err, body)
	}
	for _, kv := range environ {
		if strings.HasPrefix(kv, "SECRET_CANARY=") || strings.HasPrefix(kv, "TENEMENT_TOKEN=") {
			t.Errorf("tenant inherited %s", kv)
		}
	}
	for _, want := range []string{"PATH=" + os.Getenv("PATH"), "LC_TIME=C", "PASSED_ON=yes", "PORT=" + strconv.Itoa(in.Port), "TESTAPP_NAME=web-a"} {
		if !slices.Contains(environ, want) {
			t.Errorf("tenant lacks %s: %q", want, environ)
		}
	}
}

// max_instances bounds new starts, per service and overall, with a typed
// error the router and the API map to 503 and 409; instances already up
// are never touched, and a stop frees a place.
func TestMaxInstances(t *testing.T) {
	bin := testapp(t)
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["web"] = appService(bin, func(s *config.Service) { s.MaxInstances = 2 })
		cfg.Services["api"] = appService(bin)
		cfg.Settings.MaxInstances = 3
	})
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if _, err := e.s.Spawn(ctx, "web", id); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.s.Spawn(ctx, "web", "c")
	var le *LimitError
	if !errors.As(err, &le) || !errors.Is(err, ErrTooManyInstances) || le.Key != "service.web.max_instances" || le.Limit != 2 ||
		!strings.Contains(err.Error(), "web:c") || !strings.Contains(err.Error(), "service.web.max_instances") {
		t.Fatalf("third web spawn: %v", err)
	}
	if _, _, err := e.s.Acquire(ctx, "web", "d"); !errors.As(err, &le) || le.Key != "service.web.max_instances" {
		t.Fatalf("wake beyond the service bound: %v", err)
	}
	// Spawning what is already up is not a new start.
	if _, err := e.s.Spawn(ctx, "web", "a"); !errors.Is(err, ErrExists) {
		t.Errorf("spawn of a running instance: %v", err)
	}
	if _, err := e.s.Spawn(ctx, "api", "x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.Acquire(ctx, "api", "y"); !errors.As(err, &le) || le.Key != "settings.max_instances" || le.Limit != 3 {
		t.Fatalf("wake beyond the overall bound: %v", err)
	}
	if got := len(e.s.List()); got != 3 {
		t.Errorf("%d instances listed, want 3: refused starts leave nothing", got)
	}
	if err := e.s.Stop(ctx, "web", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Spawn(ctx, "web", "c"); err != nil {
		t.Errorf("after a stop: %v", err)
	}
}
