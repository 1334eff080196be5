package supervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/config"
)

func TestBackoff(t *testing.T) {
	// tenement's formula: nothing for the first restart, then base*2^(n-1).
	for n, want := range []time.Duration{0, 1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 32 * time.Second, 60 * time.Second, 60 * time.Second} {
		if got := backoff(n, 1000, 60000); got != want {
			t.Errorf("backoff(%d) = %s, want %s", n, got, want)
		}
	}
	if got := backoff(1000, 1<<30, 1<<31-1); got != (1<<31-1)*time.Millisecond {
		t.Errorf("no overflow: %s", got)
	}
}

// A tenant that keeps crashing is restarted with growing delays, then
// marked failed after max_restarts restarts inside restart_window.
func TestCrashLoopBacksOffThenFails(t *testing.T) {
	bin := testapp(t)
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Settings.MaxRestarts = 2
		cfg.Settings.BackoffBaseMS = 200
		cfg.Services["web"] = appService(bin)
	})
	ctx := context.Background()
	in, err := e.s.Spawn(ctx, "web", "a")
	if err != nil {
		t.Fatal(err)
	}
	pids := []int{in.PID}
	var crashed []time.Time
	crash := func() {
		t.Helper()
		cur, _ := e.s.Get("web", "a")
		crashed = append(crashed, time.Now())
		get(t, cur.Addr, "/crash")
	}
	next := func(restarts int) Instance {
		t.Helper()
		var cur Instance
		waitFor(t, 10*time.Second, "restart", func() bool {
			cur, _ = e.s.Get("web", "a")
			return cur.State == StateRunning && cur.Restarts == restarts && cur.PID != pids[len(pids)-1]
		})
		pids = append(pids, cur.PID)
		return cur
	}

	crash()
	next(1) // immediately
	if d := time.Since(crashed[0]); d > 2*time.Second {
		t.Errorf("first restart took %s; it should not wait", d)
	}
	crash()
	cur := next(2) // after the 200ms backoff
	exited := e.events.last(EventExited, "web:a")
	if d := cur.StartedAt.Sub(exited.Time); d < 190*time.Millisecond {
		t.Errorf("second restart %s after the exit, want >= 200ms backoff", d)
	}
	crash()
	waitFor(t, 10*time.Second, "failed", func() bool {
		cur, _ = e.s.Get("web", "a")
		return cur.State == StateFailed
	})
	if cur.PID != 0 || cur.Restarts != 2 || cur.Health != HealthUnhealthy {
		t.Errorf("failed instance %+v", cur)
	}
	waitRow(t, e.db, "web", "a", func(r stateRow) bool { return r.status == StateFailed && r.restarts == 2 && r.pid == 0 })
	if _, _, err := e.s.Acquire(ctx, "web", "a"); !errors.Is(err, ErrFailed) {
		t.Errorf("Acquire on failed: %v", err)
	}
	if n := e.events.count(EventRestarted, "web:a"); n != 2 {
		t.Errorf("%d restarted events, want 2", n)
	}
	if n := e.events.count(EventFailed, "web:a"); n != 1 {
		t.Errorf("%d failed events, want 1", n)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d alive", pid)
		}
	}

	// An operator's Spawn starts it again with a fresh budget.
	in, err = e.s.Spawn(ctx, "web", "a")
	if err != nil || in.State != StateRunning {
		t.Fatalf("respawn failed instance: %+v %v", in, err)
	}
}

func TestRestartPolicies(t *testing.T) {
	bin := testapp(t)
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["never"] = appService(bin, func(s *config.Service) { s.Restart = config.RestartNever })
		cfg.Services["onfail"] = appService(bin, func(s *config.Service) { s.Restart = config.RestartOnFailure })
		cfg.Services["always"] = appService(bin, func(s *config.Service) { s.Restart = config.RestartAlways })
	})
	ctx := context.Background()
	exit := func(svc, path string) Instance {
		t.Helper()
		in, err := e.s.Spawn(ctx, svc, "a")
		if err != nil {
			t.Fatal(err)
		}
		get(t, in.Addr, path)
		waitFor(t, 5*time.Second, svc+" exit handled", func() bool {
			cur, _ := e.s.Get(svc, "a")
			return cur.PID != in.PID && cur.State != StateRestarting
		})
		cur, _ := e.s.Get(svc, "a")
		return cur
	}
	if cur := exit("never", "/crash"); cur.State != StateStopped || cur.Restarts != 0 {
		t.Errorf("never + crash: %+v", cur)
	}
	if cur := exit("onfail", "/exit?code=0"); cur.State != StateStopped || cur.Restarts != 0 {
		t.Errorf("on-failure + clean exit: %+v", cur)
	}
	if err := e.s.Stop(ctx, "onfail", "a"); err != nil {
		t.Fatal(err)
	}
	if cur := exit("onfail", "/crash"); cur.State != StateRunning || cur.Restarts != 1 {
		t.Errorf("on-failure + crash: %+v", cur)
	}
	if cur := exit("always", "/exit?code=0"); cur.State != StateRunning || cur.Restarts != 1 {
		t.Errorf("always + clean exit: %+v", cur)
	}
	waitRow(t, e.db, "never", "a", func(r stateRow) bool { return r.status == StateStopped && r.pid == 0 })
}

func TestUnhealthyInstanceIsRestarted(t *testing.T) {
	bin := testapp(t)
	flag := filepath.Join(t.TempDir(), "sick")
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["web"] = appService(bin, func(s *config.Service) { s.Env["TESTAPP_UNHEALTHY_FILE"] = flag })
		o.UnhealthyThreshold = 3
		o.HealthInterval = time.Hour // checks are driven by CheckHealth below
	})
	ctx := context.Background()
	in, err := e.s.Spawn(ctx, "web", "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		cur, err := e.s.CheckHealth(ctx, "web", "a")
		if err != nil || cur.Health != HealthUnhealthy || cur.State != StateUnhealthy || cur.PID != in.PID ||
			!strings.Contains(cur.Error, "status 503") {
			t.Fatalf("check %d: %+v %v", i, cur, err)
		}
	}
	if r := readRow(t, e.db, "web", "a"); r.status != StateUnhealthy {
		t.Errorf("row status %s", r.status)
	}
	// Unhealthy instances still get requests while they may recover...
	if addr, release, err := e.s.Acquire(ctx, "web", "a"); err != nil || addr != in.Addr {
		t.Fatalf("Acquire unhealthy: %q %v", addr, err)
	} else {
		release()
	}
	// ...until the threshold: then it is replaced.
	cur, err := e.s.CheckHealth(ctx, "web", "a")
	if err != nil || cur.State != StateRestarting {
		t.Fatalf("third failed check: %+v %v", cur, err)
	}
	os.Remove(flag) // the replacement is healthy
	waitFor(t, 10*time.Second, "restart of the unhealthy instance", func() bool {
		cur, _ = e.s.Get("web", "a")
		return cur.State == StateRunning && cur.Restarts == 1 && cur.PID != in.PID && cur.PID != 0
	})
	if alive(in.PID) {
		t.Error("unhealthy process still alive")
	}
	if cur.Health != HealthHealthy || cur.Error != "" {
		t.Errorf("replacement %+v", cur)
	}
	if n := e.events.count(EventUnhealthy, "web:a"); n < 1 {
		t.Errorf("no unhealthy event")
	}
	// Events follow the state change they report.
	waitFor(t, 5*time.Second, "restarted event", func() bool { return e.events.count(EventRestarted, "web:a") == 1 })

	// Back to healthy after a failed check resets the count.
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.s.CheckHealth(ctx, "web", "a")
	e.s.CheckHealth(ctx, "web", "a")
	os.Remove(flag)
	if cur, _ := e.s.CheckHealth(ctx, "web", "a"); cur.State != StateRunning || cur.Health != HealthHealthy {
		t.Errorf("recovered: %+v", cur)
	}
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.s.CheckHealth(ctx, "web", "a")
	if cur, _ := e.s.CheckHealth(ctx, "web", "a"); cur.State != StateUnhealthy || cur.Restarts != 1 {
		t.Errorf("two failures after a success restarted it: %+v", cur)
	}
}

func TestRestartNow(t *testing.T) {
	bin := testapp(t)
	e := newEnv(t, func(cfg *config.Config, o *Options) { cfg.Services["web"] = appService(bin) })
	ctx := context.Background()
	in, err := e.s.Spawn(ctx, "web", "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetWeight(ctx, "web", "a", 30); err != nil {
		t.Fatal(err)
	}
	re, err := e.s.Restart(ctx, "web", "a")
	if err != nil {
		t.Fatal(err)
	}
	if re.PID == in.PID || re.State != StateRunning || re.Restarts != 1 || re.Weight != 30 {
		t.Fatalf("after Restart %+v (was %+v)", re, in)
	}
	if alive(in.PID) {
		t.Error("old process alive")
	}
	if getInfo(t, re.Addr).PID != re.PID {
		t.Error("address does not reach the new process")
	}
	if n := e.events.count(EventRestarted, "web:a"); n != 1 {
		t.Errorf("%d restarted events", n)
	}
	if !strings.Contains(readRow(t, e.db, "web", "a").logPath, "web/a.stdout.log") {
		t.Error("log path")
	}
}
