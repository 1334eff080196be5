package supervisor

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/runtime/config"
)

// A tenant crashes while two servers run: only the supervisor restarts
// it, once; the follower then routes to the new process.
func TestFollowerLeavesCrashToSupervisor(t *testing.T) {
	w := newWebServers(t)
	a := w.server("a").start()
	if !a.s.IsSupervisor() {
		t.Fatal("first server does not supervise")
	}
	ctx := context.Background()
	in, err := a.s.Spawn(ctx, "web", "x")
	if err != nil {
		t.Fatal(err)
	}
	b := w.server("b").start()
	if b.s.IsSupervisor() || isClosed(b.s.Supervising()) {
		t.Fatal("second server supervises too")
	}
	seen, ok := b.s.Get("web", "x")
	if !ok || seen.PID != in.PID || seen.ProcStartTime != in.ProcStartTime || seen.Addr != in.Addr ||
		seen.State != StateRunning || seen.Owner != "a" || !seen.Adopted {
		t.Fatalf("follower sees %+v; supervisor has %+v", seen, in)
	}
	addr, release, err := b.s.Acquire(ctx, "web", "x")
	if err != nil || addr != in.Addr {
		t.Fatalf("follower Acquire: %q %v", addr, err)
	}
	release()
	if r := readRow(t, a.db, "web", "x"); r.owner != "a" {
		t.Errorf("follower took ownership: %+v", r)
	}

	get(t, in.Addr, "/crash")
	var re Instance
	waitFor(t, 10*time.Second, "the supervisor's restart", func() bool {
		re, _ = a.s.Get("web", "x")
		return re.State == StateRunning && re.PID != in.PID && re.PID != 0
	})
	began := time.Now()
	waitFor(t, 10*time.Second, "the follower to see the new process", func() bool {
		cur, _ := b.s.Get("web", "x")
		return cur.PID == re.PID && cur.State == StateRunning
	})
	t.Logf("follower saw the restart %s after the supervisor (lease interval %s)", time.Since(began), testLease)
	addr, release, err = b.s.Acquire(ctx, "web", "x")
	if err != nil || addr != re.Addr {
		t.Fatalf("follower Acquire after restart: %q %v (want %s)", addr, err, re.Addr)
	}
	if got := getInfo(t, addr); got.PID != re.PID {
		t.Fatalf("follower routed to pid %d, want %d", got.PID, re.PID)
	}
	release()

	quietFor(t, b.s, 5)
	b.spawnedNone(t, "follower spawned %d processes")
	if n := a.events.count(EventSpawned, "web:x"); n != 2 {
		t.Errorf("supervisor spawned %d processes, want 2 (start and one restart)", n)
	}
	cur, _ := a.s.Get("web", "x")
	if cur.PID != re.PID || cur.Restarts != 1 {
		t.Errorf("after the crash: %+v", cur)
	}
	if r := readRow(t, a.db, "web", "x"); r.restarts != 1 || r.pid != re.PID || r.owner != "a" {
		t.Errorf("row %+v", r)
	}
	if b.s.IsSupervisor() || !a.s.IsSupervisor() {
		t.Error("roles changed")
	}
}

// A follower's request for a crashed tenant waits for the supervisor's
// respawn (bounded by its context), rather than being passed on; one for
// an instance it has never seen, already passed on once, waits for the
// supervisor to record it.
func TestFollowerAcquireWaitsForRespawn(t *testing.T) {
	w := newWebServers(t, func(s *config.Service) { s.Env["TESTAPP_STARTUP_DELAY"] = "300ms" })
	a, in := w.supervisorWithX()
	ctx := context.Background()
	b := w.server("b").start()

	get(t, in.Addr, "/crash")
	// The follower notices by itself (liveness poll or the supervisor's
	// row), well before the slow restart is ready.
	waitFor(t, 5*time.Second, "the follower to see the crash", func() bool {
		cur, _ := b.s.Get("web", "x")
		return cur.PID != in.PID
	})
	if cur, _ := b.s.Get("web", "x"); cur.State == StateRunning {
		t.Fatalf("follower routes to nothing: %+v", cur)
	}
	addr, release, err := b.s.Acquire(ctx, "web", "x")
	if err != nil {
		t.Fatalf("follower Acquire during the respawn: %v", err)
	}
	re, _ := a.s.Get("web", "x")
	if addr != re.Addr || re.PID == in.PID {
		t.Fatalf("follower Acquire = %s; supervisor has %+v", addr, re)
	}
	if got := getInfo(t, addr); got.PID != re.PID {
		t.Fatalf("routed to %d, want %d", got.PID, re.PID)
	}
	release()

	// Bounded by the caller's context.
	get(t, re.Addr, "/crash")
	waitFor(t, 5*time.Second, "the follower to see the second crash", func() bool {
		cur, _ := b.s.Get("web", "x")
		return cur.PID != re.PID
	})
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, _, err := b.s.Acquire(short, "web", "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("follower Acquire with a short deadline: %v", err)
	}

	// An instance the follower has not seen yet, for a request that must
	// not be passed on again (TestFollowerSendsWakesToSupervisor has the
	// other case): it waits until the supervisor has it running.
	got := acquireAsync(WaitForSupervisor(ctx), b.s, "web", "late")
	stillWaiting(t, b.s, 2, got, "follower Acquire of an unknown instance returned at once")
	late, err := a.s.Spawn(ctx, "web", "late")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.err != nil || r.addr != late.Addr {
			t.Fatalf("follower Acquire of web:late: %+v, want %s", r, late.Addr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follower Acquire of web:late never returned")
	}
	b.spawnedNone(t, "follower spawned %d processes")
}

// Mutations on a follower are refused with ErrNotSupervisor naming the
// supervisor; its Shutdown(ctx, true) stops nothing.
func TestFollowerRefusesMutations(t *testing.T) {
	w := newWebServers(t)
	a, in := w.supervisorWithX()
	ctx := context.Background()
	b := w.server("b").start()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrNotSupervisor) || !strings.Contains(err.Error(), serverAddr("a")) ||
			!strings.Contains(err.Error(), "supervising server a ") {
			t.Errorf("%s on a follower: %v", what, err)
		}
	}
	_, err := b.s.Spawn(ctx, "web", "y")
	check("Spawn", err)
	_, err = b.s.Restart(ctx, "web", "x")
	check("Restart", err)
	check("Stop", b.s.Stop(ctx, "web", "x"))
	check("SetWeight", b.s.SetWeight(ctx, "web", "x", 5))
	_, err = b.s.HandOver(ctx)
	check("HandOver", err)

	// Health is probed and reported, nothing more.
	if cur, err := b.s.CheckHealth(ctx, "web", "x"); err != nil || cur.Health != HealthHealthy || cur.PID != in.PID {
		t.Errorf("CheckHealth on a follower: %+v %v", cur, err)
	}
	cur, _ := a.s.Get("web", "x")
	if cur.PID != in.PID || cur.Weight != 100 || cur.Restarts != 0 {
		t.Errorf("supervisor's instance changed: %+v", cur)
	}
	if _, ok := a.s.Get("web", "y"); ok {
		t.Error("web:y exists")
	}

	if err := b.s.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	if !proc.Same(in.PID, in.ProcStartTime) {
		t.Fatal("a follower's Shutdown(true) stopped the supervisor's tenant")
	}
	if r := readRow(t, a.db, "web", "x"); r.status != StateRunning || r.pid != in.PID || r.owner != "a" {
		t.Errorf("row after the follower's shutdown %+v", r)
	}
	if l := readLeaseRow(t, a.db); l.holder != "a" {
		t.Errorf("lease %+v", l)
	}
	if got := countServers(t, a.db, "id = 'b'"); got != 0 {
		t.Error("follower still registered")
	}
}

// recordIdle records service:id as an earlier server left it: idle.
func recordIdle(t *testing.T, db *sql.DB, service, id string) {
	t.Helper()
	if _, err := db.Exec(`INSERT INTO instance_state (process, instance_id, weight, status, restarts, updated_at)
		VALUES (?, ?, 100, 'idle', 0, '2024-01-01T00:00:00Z')`, service, id); err != nil {
		t.Fatal(err)
	}
}

// A follower's request for an idle instance that must not be passed on
// (WaitForSupervisor: it already was) waits; when the follower becomes
// the supervisor, it wakes it, once.
func TestFollowerAcquireOfIdleWaitsForPromotion(t *testing.T) {
	w := newWebServers(t)
	a := w.server("a")
	recordIdle(t, a.db, "web", "x")
	a.start()
	b := w.server("b").start()
	if cur, _ := b.s.Get("web", "x"); cur.State != StateIdle {
		t.Fatalf("follower's view of web:x %+v", cur)
	}
	ctx := context.Background()
	got := acquireAsync(WaitForSupervisor(ctx), b.s, "web", "x")
	stillWaiting(t, b.s, 3, got, "follower woke an idle instance itself")
	if _, err := a.s.HandOver(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if info := getInfo(t, r.addr); info.Name != "web-x" {
			t.Errorf("woken %+v", info)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request never returned")
	}
	if n := b.events.count(EventWoken, "web:x"); n != 1 {
		t.Errorf("%d woken events on the successor", n)
	}
	a.spawnedNone(t, "old supervisor spawned %d times")
}

// A follower's request for an instance that must be started (idle,
// stopped, or not known yet) is sent to the supervising server, which
// starts instances when it gets requests; one for a running instance is
// served by the follower itself.
func TestFollowerSendsWakesToSupervisor(t *testing.T) {
	w := newWebServers(t)
	a := w.server("a")
	recordIdle(t, a.db, "web", "x")
	a.start()
	ctx := context.Background()
	if _, err := a.s.Spawn(ctx, "web", "r"); err != nil {
		t.Fatal(err)
	}
	b := w.server("b").start()
	waitFor(t, 10*time.Second, "the follower to see web:r running", func() bool {
		in, _ := b.s.Get("web", "r")
		return in.State == StateRunning
	})
	for _, id := range []string{"x", "new"} {
		_, _, err := b.s.Acquire(ctx, "web", id)
		var we *WakeElsewhereError
		if !errors.As(err, &we) || we.Server != "a" || we.Addr != serverAddr("a") {
			t.Errorf("follower Acquire(web:%s) = %v, want a *WakeElsewhereError naming a at %s", id, err, serverAddr("a"))
		}
	}
	addr, release, err := b.s.Acquire(ctx, "web", "r")
	if err != nil {
		t.Fatalf("follower Acquire(web:r), running: %v", err)
	}
	release()
	if info := getInfo(t, addr); info.Name != "web-r" {
		t.Errorf("web:r answered as %+v", info)
	}
	b.spawnedNone(t, "the follower spawned %d times")
}

// acquired is what an Acquire run in the background returned.
type acquired struct {
	addr string
	err  error
}

// acquireAsync runs a request that is to wait (its instance released at
// once when it gets one) in the background.
func acquireAsync(ctx context.Context, s *Supervisor, service, id string) <-chan acquired {
	got := make(chan acquired, 1)
	go func() {
		addr, release, err := s.Acquire(ctx, service, id)
		if err == nil {
			release()
		}
		got <- acquired{addr, err}
	}()
	return got
}

// stillWaiting fails with what if the request has returned after s has
// polled n more times.
func stillWaiting(t *testing.T, s *Supervisor, n int64, got <-chan acquired, what string) {
	t.Helper()
	quietFor(t, s, n)
	select {
	case r := <-got:
		t.Fatalf("%s: %+v", what, r)
	default:
	}
}
