package supervisor

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/config"
)

// testLease is the lease interval of the in-process servers below.
const testLease = 30 * time.Millisecond

// serverAddr is the public address a test server claims (nothing listens
// there: it only has to be recorded and named).
func serverAddr(id string) string { return id + ".invalid:8080" }

// leaseEnv makes (without starting) one server over dir, with its own
// database handle, as a second ten process would have.
func leaseEnv(t *testing.T, dir, id string, mod func(cfg *config.Config, o *Options)) *env {
	t.Helper()
	return newEnvAt(t, dir, testConfig(dir), openDB(t, dir), func(cfg *config.Config, o *Options) {
		o.ServerID = id
		o.Addr = serverAddr(id)
		o.Version = "test-" + id
		o.LeaseInterval = testLease
		if mod != nil {
			mod(cfg, o)
		}
	})
}

func (e *env) start() *env {
	e.t.Helper()
	if err := e.s.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return e
}

func webService(bin string, mods ...func(*config.Service)) func(cfg *config.Config, o *Options) {
	return func(cfg *config.Config, o *Options) { cfg.Services["web"] = appService(bin, mods...) }
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// waitClosed waits for ch with a deadline.
func waitClosed(t testing.TB, d time.Duration, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

// quietFor lets a follower run n more lease polls and view refreshes:
// the window in which it would misbehave (a double spawn is the absence
// of an event, so it can only be looked for over some time).
func quietFor(t testing.TB, s *Supervisor, n int64) {
	t.Helper()
	p, v := s.leasePolls.Load(), s.views.Load()
	waitFor(t, 10*time.Second, "lease polls", func() bool {
		return s.leasePolls.Load() >= p+n && (s.IsSupervisor() || s.views.Load() >= v+n)
	})
}

func readLeaseRow(t testing.TB, db *sql.DB) leaseRow {
	t.Helper()
	l, ok, err := readLease(context.Background(), db)
	if err != nil || !ok {
		t.Fatalf("lease row: %v (present %v)", err, ok)
	}
	return l
}

func countServers(t testing.TB, db *sql.DB, where string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM servers WHERE `+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Servers started at once over one data directory: exactly one gets the
// lease; the others follow, and one of them (only one) takes over when it
// goes.
func TestLeaseExactlyOneOfConcurrentStarters(t *testing.T) {
	dir := t.TempDir()
	const n = 6
	envs := make([]*env, n)
	for i := range envs {
		envs[i] = leaseEnv(t, dir, fmt.Sprintf("s%d", i), nil)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i, e := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = e.s.Start(context.Background())
		}()
	}
	close(start)
	wg.Wait()
	var owner *env
	for i, e := range envs {
		if errs[i] != nil {
			t.Fatalf("start %s: %v", e.s.ServerID(), errs[i])
		}
		if e.s.IsSupervisor() {
			if owner != nil {
				t.Fatalf("two supervisors: %s and %s", owner.s.ServerID(), e.s.ServerID())
			}
			owner = e
		}
	}
	if owner == nil {
		t.Fatal("no supervisor")
	}
	db := owner.db
	if l := readLeaseRow(t, db); l.holder != owner.s.ServerID() || l.pid != os.Getpid() || l.addr != serverAddr(l.holder) {
		t.Fatalf("lease %+v, supervisor %s", l, owner.s.ServerID())
	}
	if !isClosed(owner.s.Supervising()) {
		t.Error("Supervising not closed on the supervisor")
	}
	acquired := 0
	for _, e := range envs {
		acquired += e.events.count(EventLeaseAcquired, "")
		if e != owner && isClosed(e.s.Supervising()) {
			t.Errorf("%s: Supervising closed on a follower", e.s.ServerID())
		}
	}
	if acquired != 1 {
		t.Errorf("%d lease_acquired events", acquired)
	}
	if got := countServers(t, db, "version LIKE 'test-%' AND pid = ?", os.Getpid()); got != n {
		t.Errorf("%d servers registered, want %d", got, n)
	}

	// The supervisor leaves (tenants kept): its lease goes at once, and
	// exactly one follower takes it.
	if err := owner.s.Shutdown(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if got := countServers(t, db, "id = ?", owner.s.ServerID()); got != 0 {
		t.Error("registration left behind by Shutdown")
	}
	var next *env
	waitFor(t, 10*time.Second, "a follower to take over", func() bool {
		for _, e := range envs {
			if e != owner && isClosed(e.s.Supervising()) {
				next = e
				return true
			}
		}
		return false
	})
	for _, e := range envs {
		if e != owner {
			quietFor(t, e.s, 3)
		}
	}
	for _, e := range envs {
		if e != next && e.s.IsSupervisor() {
			t.Errorf("%s supervises too (after %s)", e.s.ServerID(), next.s.ServerID())
		}
	}
	if l := readLeaseRow(t, db); l.holder != next.s.ServerID() {
		t.Errorf("lease holder %s, want %s", l.holder, next.s.ServerID())
	}
}

// A tenant crashes while two servers run: only the supervisor restarts
// it, once; the follower then routes to the new process.
func TestFollowerLeavesCrashToSupervisor(t *testing.T) {
	bin := testapp(t)
	dir := t.TempDir()
	a := leaseEnv(t, dir, "a", webService(bin)).start()
	if !a.s.IsSupervisor() {
		t.Fatal("first server does not supervise")
	}
	ctx := context.Background()
	in, err := a.s.Spawn(ctx, "web", "x")
	if err != nil {
		t.Fatal(err)
	}
	b := leaseEnv(t, dir, "b", webService(bin)).start()
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
	if n := b.events.count(EventSpawned, ""); n != 0 {
		t.Errorf("follower spawned %d processes", n)
	}
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
	bin := testapp(t)
	dir := t.TempDir()
	svc := webService(bin, func(s *config.Service) { s.Env["TESTAPP_STARTUP_DELAY"] = "300ms" })
	a := leaseEnv(t, dir, "a", svc).start()
	ctx := context.Background()
	in, err := a.s.Spawn(ctx, "web", "x")
	if err != nil {
		t.Fatal(err)
	}
	b := leaseEnv(t, dir, "b", svc).start()

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
	type result struct {
		addr string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		addr, release, err := b.s.Acquire(WaitForSupervisor(ctx), "web", "late")
		if err == nil {
			release()
		}
		got <- result{addr, err}
	}()
	quietFor(t, b.s, 2)
	select {
	case r := <-got:
		t.Fatalf("follower Acquire of an unknown instance returned at once: %+v", r)
	default:
	}
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
	if n := b.events.count(EventSpawned, ""); n != 0 {
		t.Errorf("follower spawned %d processes", n)
	}
}

// Mutations on a follower are refused with ErrNotSupervisor naming the
// supervisor; its Shutdown(ctx, true) stops nothing.
func TestFollowerRefusesMutations(t *testing.T) {
	bin := testapp(t)
	dir := t.TempDir()
	a := leaseEnv(t, dir, "a", webService(bin)).start()
	ctx := context.Background()
	in, err := a.s.Spawn(ctx, "web", "x")
	if err != nil {
		t.Fatal(err)
	}
	b := leaseEnv(t, dir, "b", webService(bin)).start()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrNotSupervisor) || !strings.Contains(err.Error(), serverAddr("a")) ||
			!strings.Contains(err.Error(), "supervising server a ") {
			t.Errorf("%s on a follower: %v", what, err)
		}
	}
	_, err = b.s.Spawn(ctx, "web", "y")
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
	if !SameProcess(in.PID, in.ProcStartTime) {
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

// Alone, HandOver finds no successor and changes nothing; dead
// registrations are neither candidates nor kept.
func TestHandOverWithoutSuccessor(t *testing.T) {
	bin := testapp(t)
	dir := t.TempDir()
	a := leaseEnv(t, dir, "a", webService(bin)).start()
	ctx := context.Background()
	in, err := a.s.Spawn(ctx, "web", "x")
	if err != nil {
		t.Fatal(err)
	}
	// A server that died without unregistering.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.db.Exec(`INSERT INTO servers (id, pid, proc_start_time, started_at, heartbeat_at) VALUES ('ghost', ?, 1, ?, ?)`,
		dead.Process.Pid, time.Now().UnixMilli()+1000, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if r := countServers(t, a.db, "id = 'a' AND pid = ? AND addr = ? AND version = 'test-a'", os.Getpid(), serverAddr("a")); r != 1 {
		t.Error("supervisor not registered")
	}

	if id, err := a.s.HandOver(ctx); !errors.Is(err, ErrNoSuccessor) {
		t.Fatalf("HandOver alone = %q, %v", id, err)
	}
	if !a.s.IsSupervisor() {
		t.Fatal("no longer supervising after a failed hand-over")
	}
	waitFor(t, 5*time.Second, "the dead registration pruned", func() bool {
		return countServers(t, a.db, "id = 'ghost'") == 0
	})
	// Still supervising: a crash is restarted.
	get(t, in.Addr, "/crash")
	waitFor(t, 10*time.Second, "restart", func() bool {
		cur, _ := a.s.Get("web", "x")
		return cur.State == StateRunning && cur.PID != in.PID && cur.PID != 0
	})
	if n := a.events.count(EventLeaseHandedOver, ""); n != 0 {
		t.Errorf("%d hand-over events", n)
	}
}

// HandOver gives the lease to the follower, which supervises from then on
// without restarting anything; the old supervisor follows.
func TestHandOver(t *testing.T) {
	bin := testapp(t)
	dir := t.TempDir()
	svc := func(cfg *config.Config, o *Options) {
		cfg.Services["web"] = appService(bin)
		cfg.Instances["web"] = []string{"x"} // configured: must be adopted, not spawned again
	}
	a := leaseEnv(t, dir, "a", svc).start()
	ctx := context.Background()
	x, _ := a.s.Get("web", "x")
	y, err := a.s.Spawn(ctx, "web", "y")
	if err != nil || x.PID == 0 {
		t.Fatalf("x %+v; y %v", x, err)
	}
	b := leaseEnv(t, dir, "b", svc).start()
	if b.s.IsSupervisor() {
		t.Fatal("b supervises")
	}

	id, err := a.s.HandOver(ctx)
	if err != nil || id != "b" {
		t.Fatalf("HandOver = %q, %v", id, err)
	}
	if a.s.IsSupervisor() {
		t.Error("a still supervises after handing over")
	}
	waitClosed(t, 10*time.Second, "b to supervise", b.s.Supervising())
	if !b.s.IsSupervisor() {
		t.Fatal("Supervising closed, but b does not supervise")
	}
	if l := readLeaseRow(t, a.db); l.holder != "b" || l.addr != serverAddr("b") {
		t.Errorf("lease %+v", l)
	}
	for _, was := range []Instance{x, y} {
		cur, _ := b.s.Get("web", was.ID)
		if cur.PID != was.PID || cur.State != StateRunning || !cur.Adopted || cur.Owner != "b" || cur.Restarts != 0 {
			t.Errorf("%s after the hand-over: %+v (was pid %d)", was.ID, cur, was.PID)
		}
		if r := readRow(t, b.db, "web", was.ID); r.owner != "b" || r.pid != was.PID {
			t.Errorf("%s row %+v", was.ID, r)
		}
		if !SameProcess(was.PID, was.ProcStartTime) {
			t.Errorf("%s's process is gone", was.ID)
		}
	}
	if n := b.events.count(EventSpawned, ""); n != 0 {
		t.Errorf("successor spawned %d processes", n)
	}
	waitFor(t, 5*time.Second, "the adopted events", func() bool { return b.events.count(EventAdopted, "") >= 2 })
	if n := b.events.count(EventAdopted, ""); n != 2 {
		t.Errorf("successor adopted %d instances", n)
	}
	// Events are delivered outside the supervisor's lock, just after the
	// change they report.
	waitFor(t, 5*time.Second, "the lease_acquired event", func() bool { return b.events.count(EventLeaseAcquired, "") >= 1 })
	if n := b.events.count(EventLeaseAcquired, ""); n != 1 {
		t.Errorf("%d lease_acquired events", n)
	}
	waitFor(t, 5*time.Second, "the lease_handed_over event", func() bool { return a.events.count(EventLeaseHandedOver, "") >= 1 })
	if e := a.events.last(EventLeaseHandedOver, ":"); e.Instance.Owner != "b" {
		t.Errorf("lease_handed_over event %+v", e)
	}
	if again, err := a.s.HandOver(ctx); err != nil || again != "b" {
		t.Errorf("second HandOver = %q, %v", again, err)
	}
	if _, err := a.s.Spawn(ctx, "web", "z"); !errors.Is(err, ErrNotSupervisor) || !strings.Contains(err.Error(), serverAddr("b")) {
		t.Errorf("Spawn on the old supervisor: %v", err)
	}
	if addr, release, err := a.s.Acquire(ctx, "web", "y"); err != nil || addr != y.Addr {
		t.Errorf("old supervisor's Acquire: %q %v", addr, err)
	} else {
		release()
	}

	// A crash now is the successor's to handle, once.
	spawnedA := a.events.count(EventSpawned, "")
	get(t, y.Addr, "/crash")
	var re Instance
	waitFor(t, 10*time.Second, "the successor's restart", func() bool {
		re, _ = b.s.Get("web", "y")
		return re.State == StateRunning && re.PID != y.PID && re.PID != 0
	})
	waitFor(t, 10*time.Second, "the old supervisor to follow", func() bool {
		cur, _ := a.s.Get("web", "y")
		return cur.PID == re.PID
	})
	quietFor(t, a.s, 5)
	if n := a.events.count(EventSpawned, ""); n != spawnedA {
		t.Errorf("old supervisor spawned %d processes after the hand-over", n-spawnedA)
	}
	if n := b.events.count(EventSpawned, "web:y"); n != 1 || re.Restarts != 1 {
		t.Errorf("successor: %d spawns, restarts %d", n, re.Restarts)
	}

	// The old server leaves, tenants stay.
	if err := a.s.Shutdown(ctx, false); err != nil {
		t.Fatal(err)
	}
	if !SameProcess(x.PID, x.ProcStartTime) || !SameProcess(re.PID, re.ProcStartTime) {
		t.Error("a tenant died with the old server")
	}
	if l := readLeaseRow(t, b.db); l.holder != "b" {
		t.Errorf("lease %+v after the old server left", l)
	}
	if got := countServers(t, b.db, "id = 'a'"); got != 0 {
		t.Error("old server still registered")
	}
}

// offsetClock is the real clock moved by an offset: a server on it keeps
// heartbeating (its time runs), and tests can jump it forward.
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *offsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
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
	bin := testapp(t)
	dir := t.TempDir()
	a := leaseEnv(t, dir, "a", webService(bin))
	recordIdle(t, a.db, "web", "x")
	a.start()
	b := leaseEnv(t, dir, "b", webService(bin)).start()
	if cur, _ := b.s.Get("web", "x"); cur.State != StateIdle {
		t.Fatalf("follower's view of web:x %+v", cur)
	}
	type result struct {
		addr string
		err  error
	}
	got := make(chan result, 1)
	ctx := context.Background()
	go func() {
		addr, release, err := b.s.Acquire(WaitForSupervisor(ctx), "web", "x")
		if err == nil {
			release()
		}
		got <- result{addr, err}
	}()
	quietFor(t, b.s, 3)
	select {
	case r := <-got:
		t.Fatalf("follower woke an idle instance itself: %+v", r)
	default:
	}
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
	if n := a.events.count(EventSpawned, ""); n != 0 {
		t.Errorf("old supervisor spawned %d times", n)
	}
}

// A follower's request for an instance that must be started (idle,
// stopped, or not known yet) is sent to the supervising server, which
// starts instances when it gets requests; one for a running instance is
// served by the follower itself.
func TestFollowerSendsWakesToSupervisor(t *testing.T) {
	bin := testapp(t)
	dir := t.TempDir()
	a := leaseEnv(t, dir, "a", webService(bin))
	recordIdle(t, a.db, "web", "x")
	a.start()
	ctx := context.Background()
	if _, err := a.s.Spawn(ctx, "web", "r"); err != nil {
		t.Fatal(err)
	}
	b := leaseEnv(t, dir, "b", webService(bin)).start()
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
	if n := b.events.count(EventSpawned, ""); n != 0 {
		t.Errorf("the follower spawned %d times", n)
	}
}

// A supervisor whose heartbeat stops (a stalled process: pid alive, no
// renewal) loses the lease after leaseStale; it notices and stops acting.
func TestStaleHeartbeatTakeover(t *testing.T) {
	bin := testapp(t)
	dir := t.TempDir()
	clock := &offsetClock{}
	a := leaseEnv(t, dir, "a", webService(bin)).start()
	ctx := context.Background()
	in, err := a.s.Spawn(ctx, "web", "x")
	if err != nil {
		t.Fatal(err)
	}
	b := leaseEnv(t, dir, "b", func(cfg *config.Config, o *Options) {
		webService(bin)(cfg, o)
		o.Now = clock.Now
	}).start()

	// While a heartbeats, b waits however long it polls.
	quietFor(t, b.s, 5)
	if b.s.IsSupervisor() || !a.s.IsSupervisor() {
		t.Fatal("lease taken from a live supervisor")
	}
	// To b, a's heartbeat is now older than leaseStale.
	clock.Advance(b.s.leaseStale() + time.Second)
	waitClosed(t, 10*time.Second, "b to take the stale lease", b.s.Supervising())
	waitFor(t, 10*time.Second, "a to notice it lost the lease", func() bool { return !a.s.IsSupervisor() })
	if l := readLeaseRow(t, a.db); l.holder != "b" {
		t.Errorf("lease %+v", l)
	}
	cur, _ := b.s.Get("web", "x")
	if cur.PID != in.PID || cur.Owner != "b" || !cur.Adopted {
		t.Errorf("b's view of web:x %+v", cur)
	}
	_, err = a.s.Spawn(ctx, "web", "y")
	if !errors.Is(err, ErrNotSupervisor) {
		t.Errorf("Spawn on the former supervisor: %v", err)
	}
	// a's own child crashes: b restarts it, a does not.
	get(t, in.Addr, "/crash")
	waitFor(t, 10*time.Second, "b's restart", func() bool {
		cur, _ = b.s.Get("web", "x")
		return cur.State == StateRunning && cur.PID != in.PID && cur.PID != 0
	})
	quietFor(t, a.s, 5)
	if n := a.events.count(EventSpawned, ""); n != 1 {
		t.Errorf("a spawned %d processes, want 1 (before losing the lease)", n)
	}
	if n := b.events.count(EventSpawned, ""); n != 1 {
		t.Errorf("b spawned %d processes, want 1", n)
	}
}

// helperProc is a server in another OS process (see helperServer).
type helperProc struct {
	cmd    *exec.Cmd
	events *eventLog
	lines  chan helperLine
}

func startHelperServer(t *testing.T, dir, bin string, health, lease time.Duration) *helperProc {
	t.Helper()
	lo, _ := randomPorts()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"SUPERVISOR_TEST_HELPER=1",
		"SUPERVISOR_TEST_EVENTS=1",
		"SUPERVISOR_TEST_DATA_DIR="+dir,
		"SUPERVISOR_TEST_APP="+bin,
		"SUPERVISOR_TEST_PORT_MIN="+strconv.Itoa(lo),
		"SUPERVISOR_TEST_HEALTH_MS="+strconv.FormatInt(health.Milliseconds(), 10),
		"SUPERVISOR_TEST_LEASE_MS="+strconv.FormatInt(lease.Milliseconds(), 10),
	)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperProc{cmd: cmd, events: &eventLog{}, lines: make(chan helperLine, 100)}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		for pid, start := range h.events.procs() {
			if SameProcess(pid, start) {
				syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
	})
	go func() {
		defer close(h.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var l helperLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				continue
			}
			h.events.add(Event{Kind: EventKind(l.Kind), Instance: l.Instance})
			h.lines <- l
		}
	}()
	return h
}

// next returns the helper's next line of the given kind.
func (h *helperProc) next(t *testing.T, kind string) Instance {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				t.Fatalf("helper server exited before %q", kind)
			}
			if l.Kind == kind {
				return l.Instance
			}
		case <-deadline:
			t.Fatalf("helper server never said %q", kind)
		}
	}
}

// The supervisor is another OS process. While it lives, a tenant crash is
// its to handle (restarted once, the follower routes to the new process);
// killed with SIGKILL, it is replaced by the follower within two health
// intervals, which then restarts a crashed tenant itself.
func TestSupervisorProcessKilled(t *testing.T) {
	bin := testapp(t)
	dir := t.TempDir()
	const health = 500 * time.Millisecond // the lease interval defaults to it
	h := startHelperServer(t, dir, bin, health, 0)
	first := h.next(t, "spawn-result")
	if first.Owner != "helper" || first.PID == 0 {
		t.Fatalf("helper's instance %+v", first)
	}
	b := newEnvAt(t, dir, testConfig(dir), openDB(t, dir), func(cfg *config.Config, o *Options) {
		cfg.Services["web"] = appService(bin)
		o.ServerID = "b"
		o.Addr = serverAddr("b")
		o.HealthInterval = health
	})
	if b.s.opts.LeaseInterval != health {
		t.Fatalf("default lease interval %s, want the health interval %s", b.s.opts.LeaseInterval, health)
	}
	b.start()
	if b.s.IsSupervisor() {
		t.Fatal("b took the lease from a live supervisor")
	}
	if cur, _ := b.s.Get("web", "alice"); cur.PID != first.PID || cur.Owner != "helper" {
		t.Fatalf("b's view %+v", cur)
	}

	// A crash during the overlap: the supervising process restarts it, once.
	get(t, first.Addr, "/crash")
	second := h.next(t, string(EventRestarted))
	if second.PID == first.PID || second.PID == 0 {
		t.Fatalf("restarted %+v", second)
	}
	waitFor(t, 10*time.Second, "b to route to the restarted process", func() bool {
		cur, _ := b.s.Get("web", "alice")
		return cur.PID == second.PID && cur.State == StateRunning
	})
	addr, release, err := b.s.Acquire(context.Background(), "web", "alice")
	if err != nil || getInfo(t, addr).PID != second.PID {
		t.Fatalf("b's Acquire: %q %v", addr, err)
	}
	release()
	quietFor(t, b.s, 3)
	if n := h.events.count(EventSpawned, "web:alice"); n != 2 {
		t.Errorf("helper spawned %d processes, want 2", n)
	}
	if n := b.events.count(EventSpawned, ""); n != 0 {
		t.Errorf("b spawned %d processes during the overlap", n)
	}

	// Kill the supervisor outright.
	h.cmd.Process.Signal(syscall.SIGKILL)
	h.cmd.Wait()
	killed := time.Now()
	waitClosed(t, 10*time.Second, "b to take the lease", b.s.Supervising())
	took := time.Since(killed)
	t.Logf("lease taken %s after SIGKILL of the supervisor (health interval %s)", took, health)
	if took > 2*health {
		t.Errorf("lease takeover took %s, want within 2 health intervals (%s)", took, 2*health)
	}
	cur, _ := b.s.Get("web", "alice")
	if cur.PID != second.PID || cur.Owner != "b" || !cur.Adopted || cur.State != StateRunning {
		t.Fatalf("after takeover %+v", cur)
	}
	if l := readLeaseRow(t, b.db); l.holder != "b" {
		t.Errorf("lease %+v", l)
	}
	waitFor(t, 10*time.Second, "the dead server's registration pruned", func() bool {
		return countServers(t, b.db, "id = 'helper'") == 0
	})

	// A tenant that dies now is restarted by b, once.
	get(t, second.Addr, "/crash")
	waitFor(t, 10*time.Second, "b's restart", func() bool {
		cur, _ = b.s.Get("web", "alice")
		return cur.State == StateRunning && cur.PID != second.PID && cur.PID != 0
	})
	if getInfo(t, cur.Addr).PID != cur.PID {
		t.Error("restarted tenant unreachable")
	}
	if n := b.events.count(EventSpawned, "web:alice"); n != 1 || cur.Restarts != 2 {
		t.Errorf("b: %d spawns, restarts %d (want 1 and 2)", n, cur.Restarts)
	}
}
