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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/internal/testclock"
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

// webServers is a data directory that the servers of a test share, each
// with its own database handle as separate ten processes have, all running
// the test app as service web.
type webServers struct {
	t        *testing.T
	bin, dir string
	mods     []func(*config.Service)
}

// newWebServers makes the directory; mods change the web service of every
// server over it.
func newWebServers(t *testing.T, mods ...func(*config.Service)) *webServers {
	return &webServers{t: t, bin: testapp(t), dir: t.TempDir(), mods: mods}
}

// server makes (without starting) server id; more change its
// configuration and options further.
func (w *webServers) server(id string, more ...func(*config.Config, *Options)) *env {
	return leaseEnv(w.t, w.dir, id, func(cfg *config.Config, o *Options) {
		webService(w.bin, w.mods...)(cfg, o)
		for _, m := range more {
			m(cfg, o)
		}
	})
}

// supervisorWithX starts server a, which supervises, and web:x on it.
func (w *webServers) supervisorWithX() (*env, Instance) {
	w.t.Helper()
	a := w.server("a").start()
	in, err := a.s.Spawn(context.Background(), "web", "x")
	if err != nil {
		w.t.Fatal(err)
	}
	return a, in
}

func webService(bin string, mods ...func(*config.Service)) func(cfg *config.Config, o *Options) {
	return func(cfg *config.Config, o *Options) { cfg.Services["web"] = appService(bin, mods...) }
}

// spawnedNone fails, saying format (with the count), if the server has
// spawned anything: a follower, or a supervisor that handed over, never
// does.
func (e *env) spawnedNone(t *testing.T, format string) {
	t.Helper()
	if n := e.events.count(EventSpawned, ""); n != 0 {
		t.Errorf(format, n)
	}
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

// A supervisor whose heartbeat stops (a stalled process: pid alive, no
// renewal) loses the lease after leaseStale; it notices and stops acting.
func TestStaleHeartbeatTakeover(t *testing.T) {
	w := newWebServers(t)
	clock := testclock.Running() // the server keeps heartbeating; the test jumps it forward
	a, in := w.supervisorWithX()
	ctx := context.Background()
	b := w.server("b", func(_ *config.Config, o *Options) { o.Now = clock.Now }).start()

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
	_, err := a.s.Spawn(ctx, "web", "y")
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
	events := &eventLog{}
	// Its tenants are killed once it is gone, so that it cannot restart them.
	cmd, out := runHelper(t, dir, bin, func() {
		for pid, start := range events.procs() {
			if proc.Same(pid, start) {
				syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
	},
		"SUPERVISOR_TEST_EVENTS=1",
		"SUPERVISOR_TEST_HEALTH_MS="+strconv.FormatInt(health.Milliseconds(), 10),
		"SUPERVISOR_TEST_LEASE_MS="+strconv.FormatInt(lease.Milliseconds(), 10),
	)
	h := &helperProc{cmd: cmd, events: events, lines: make(chan helperLine, 100)}
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
	b.spawnedNone(t, "b spawned %d processes during the overlap")

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
