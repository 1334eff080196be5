package supervisor

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tenement/ten/internal/testclock"
	"github.com/tenement/ten/runtime/config"
)

// Scale to zero: an instance with no request for idle_timeout is stopped,
// and the next requests wake it with exactly one spawn however many
// arrive at once.
func TestIdleStopAndSingleWake(t *testing.T) {
	bin := testapp(t)
	clock := newClock()
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["web"] = appService(bin, func(s *config.Service) { s.IdleTimeout = 60 })
		cfg.Services["busy"] = appService(bin) // idle_timeout 0: never stopped
		o.Now = clock.Now
	})
	ctx := context.Background()
	in, err := e.s.Spawn(ctx, "web", "a")
	if err != nil {
		t.Fatal(err)
	}
	busy, err := e.s.Spawn(ctx, "busy", "a")
	if err != nil {
		t.Fatal(err)
	}

	// A request in flight holds it up past the timeout...
	addr, release, err := e.s.Acquire(ctx, "web", "a")
	if err != nil || addr != in.Addr {
		t.Fatalf("Acquire: %q %v", addr, err)
	}
	if cur, _ := e.s.Get("web", "a"); cur.InFlight != 1 {
		t.Errorf("in flight %d", cur.InFlight)
	}
	clock.Advance(61 * time.Second)
	// (several idle passes run at 20ms intervals; none may stop it)
	running := func() bool { cur, _ := e.s.Get("web", "a"); return cur.State == StateRunning }
	holds(t, 200*time.Millisecond, "running with a request in flight", running)
	// ...and releasing it restarts the idle clock.
	release()
	release() // idempotent
	if cur, _ := e.s.Get("web", "a"); cur.InFlight != 0 || !cur.LastRequest.Equal(clock.Now()) {
		t.Errorf("after release: %+v", cur)
	}
	clock.Advance(59 * time.Second)
	holds(t, 100*time.Millisecond, "running before idle_timeout", running)
	clock.Advance(2 * time.Second)
	waitFor(t, 5*time.Second, "idle stop", func() bool {
		cur, _ := e.s.Get("web", "a")
		return cur.State == StateIdle
	})
	if alive(in.PID) {
		t.Error("idle instance's process still alive")
	}
	waitRow(t, e.db, "web", "a", func(r stateRow) bool { return r.status == StateIdle && r.pid == 0 && r.port == 0 })
	if cur, _ := e.s.Get("busy", "a"); cur.State != StateRunning || cur.PID != busy.PID {
		t.Errorf("idle_timeout=0 instance was stopped: %+v", cur)
	}

	spawnsBefore := e.events.count(EventSpawned, "web:a")
	const n = 20
	var wg sync.WaitGroup
	addrs := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a, rel, err := e.s.Acquire(ctx, "web", "a")
			addrs[i], errs[i] = a, err
			if err == nil {
				getInfo(t, a)
				rel()
			}
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || addrs[i] != addrs[0] {
			t.Fatalf("wake %d: %q %v (first %q)", i, addrs[i], errs[i], addrs[0])
		}
	}
	if got := e.events.count(EventSpawned, "web:a") - spawnsBefore; got != 1 {
		t.Fatalf("%d spawns for %d concurrent wakes, want 1", got, n)
	}
	if got := e.events.count(EventWoken, "web:a"); got != 1 {
		t.Errorf("%d woken events", got)
	}
	cur, _ := e.s.Get("web", "a")
	if cur.State != StateRunning || cur.InFlight != 0 || cur.PID == in.PID {
		t.Errorf("woken instance %+v", cur)
	}
}

// A request that races a crash waits for the respawn instead of failing.
// Acquire does not probe the process on every call: the exit is seen by
// the child's Wait goroutine (or the liveness poll), and a request that
// lands in between gets a refused dial, which the router retries. So the
// test waits for the supervisor to have seen the exit, not just for the
// kernel.
func TestAcquireWaitsForRespawn(t *testing.T) {
	bin := testapp(t)
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["web"] = appService(bin, func(s *config.Service) {
			s.Env["TESTAPP_STARTUP_DELAY"] = "150ms" // a slow start after the crash
		})
		// The first restart is immediate; the second waits 5s, which the
		// short deadline below must not outlast even on a loaded machine.
		cfg.Settings.BackoffBaseMS = 5000
		cfg.Settings.BackoffMaxMS = 5000
	})
	ctx := context.Background()
	in, err := e.s.Spawn(ctx, "web", "a")
	if err != nil {
		t.Fatal(err)
	}
	get(t, in.Addr, "/crash")
	waitFor(t, 5*time.Second, "crash seen", func() bool {
		cur, _ := e.s.Get("web", "a")
		return !alive(in.PID) && cur.PID != in.PID
	})

	start := time.Now()
	addr, release, err := e.s.Acquire(ctx, "web", "a")
	if err != nil {
		t.Fatalf("Acquire during respawn: %v", err)
	}
	defer release()
	got := getInfo(t, addr)
	if got.PID == in.PID {
		t.Fatal("routed to the dead process")
	}
	t.Logf("waited %s for the respawn", time.Since(start))
	cur, _ := e.s.Get("web", "a")
	if cur.PID != got.PID || cur.Restarts != 1 {
		t.Errorf("instance %+v", cur)
	}

	// Bounded by the caller's context.
	cur2, _ := e.s.Get("web", "a")
	get(t, cur2.Addr, "/crash")
	waitFor(t, 5*time.Second, "second crash seen", func() bool {
		cur, _ := e.s.Get("web", "a")
		return !alive(cur2.PID) && cur.PID != cur2.PID
	})
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, _, err := e.s.Acquire(short, "web", "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire with a short deadline during a slow restart: %v", err)
	}
}

// Requests for an unknown id of a configured service spawn it, as in
// tenement; a failed first start leaves nothing behind.
func TestAcquireSpawnsUnknownInstance(t *testing.T) {
	bin := testapp(t)
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["web"] = appService(bin)
		cfg.Services["broken"] = appService("/bin/false")
	})
	ctx := context.Background()
	addr, release, err := e.s.Acquire(ctx, "web", "new")
	if err != nil {
		t.Fatal(err)
	}
	release()
	if getInfo(t, addr).Name != "web-new" {
		t.Fatal("wrong tenant")
	}
	if _, _, err := e.s.Acquire(ctx, "broken", "x"); err == nil {
		t.Fatal("broken tenant acquired")
	}
	if _, ok := e.s.Get("broken", "x"); ok {
		t.Error("failed wake left an instance")
	}
	if _, _, err := e.s.Acquire(ctx, "nope", "x"); !errors.Is(err, ErrUnknownService) {
		t.Errorf("unknown service: %v", err)
	}
}

func TestAcquireServiceByWeight(t *testing.T) {
	e, clock := idleWebEnv(t)
	ctx := context.Background()
	if _, _, _, err := e.s.AcquireService(ctx, "web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("no instances: %v", err)
	}
	if _, _, _, err := e.s.AcquireService(ctx, "nope"); !errors.Is(err, ErrUnknownService) {
		t.Errorf("unknown service: %v", err)
	}
	for _, id := range []string{"blue", "green"} {
		if _, err := e.s.Spawn(ctx, "web", id); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []int{-1, 101} {
		if err := e.s.SetWeight(ctx, "web", "blue", w); !errors.Is(err, ErrBadWeight) {
			t.Errorf("weight %d: %v", w, err)
		}
	}
	if err := e.s.SetWeight(ctx, "web", "blue", 0); err != nil {
		t.Fatal(err)
	}
	if r := readRow(t, e.db, "web", "blue"); r.weight != 0 {
		t.Errorf("weight not recorded: %+v", r)
	}
	for range 50 {
		id, addr, release, err := e.s.AcquireService(ctx, "web")
		if err != nil || id != "green" {
			t.Fatalf("weight 0 picked: %s %v", id, err)
		}
		release()
		_ = addr
	}
	// Split traffic 50/50 roughly.
	if err := e.s.SetWeight(ctx, "web", "blue", 100); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for range 400 {
		id, _, release, err := e.s.AcquireService(ctx, "web")
		if err != nil {
			t.Fatal(err)
		}
		release()
		counts[id]++
	}
	if counts["blue"] < 120 || counts["green"] < 120 {
		t.Errorf("uneven split %v", counts)
	}
	// Live instances win over idle ones; with none live, an idle one wakes.
	clock.Advance(61 * time.Second)
	waitFor(t, 5*time.Second, "both idle", func() bool {
		a, _ := e.s.Get("web", "blue")
		b, _ := e.s.Get("web", "green")
		return a.State == StateIdle && b.State == StateIdle
	})
	id, addr, release, err := e.s.AcquireService(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	release()
	if getInfo(t, addr).Name != "web-"+id {
		t.Error("address does not reach the picked instance")
	}
	awake := 0
	for _, in := range e.s.List() {
		if in.State == StateRunning {
			awake++
		}
	}
	if awake != 1 {
		t.Errorf("%d instances woken, want 1", awake)
	}
}

// idleWebEnv runs the test app as service web with an idle_timeout of 60s,
// on a clock the test moves past it by hand.
func idleWebEnv(t *testing.T) (*env, *testclock.Clock) {
	bin := testapp(t)
	clock := newClock()
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["web"] = appService(bin, func(s *config.Service) { s.IdleTimeout = 60 })
		o.Now = clock.Now
	})
	return e, clock
}
