package supervisor

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/runtime/config"
)

// Alone, HandOver finds no successor and changes nothing; dead
// registrations are neither candidates nor kept.
func TestHandOverWithoutSuccessor(t *testing.T) {
	w := newWebServers(t)
	a, in := w.supervisorWithX()
	ctx := context.Background()
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
	w := newWebServers(t)
	configured := func(cfg *config.Config, _ *Options) {
		cfg.Instances["web"] = []string{"x"} // configured: must be adopted, not spawned again
	}
	a := w.server("a", configured).start()
	ctx := context.Background()
	x, _ := a.s.Get("web", "x")
	y, err := a.s.Spawn(ctx, "web", "y")
	if err != nil || x.PID == 0 {
		t.Fatalf("x %+v; y %v", x, err)
	}
	b := w.server("b", configured).start()
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
		if !proc.Same(was.PID, was.ProcStartTime) {
			t.Errorf("%s's process is gone", was.ID)
		}
	}
	b.spawnedNone(t, "successor spawned %d processes")
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
	if !proc.Same(x.PID, x.ProcStartTime) || !proc.Same(re.PID, re.ProcStartTime) {
		t.Error("a tenant died with the old server")
	}
	if l := readLeaseRow(t, b.db); l.holder != "b" {
		t.Errorf("lease %+v after the old server left", l)
	}
	if got := countServers(t, b.db, "id = 'a'"); got != 0 {
		t.Error("old server still registered")
	}
}
