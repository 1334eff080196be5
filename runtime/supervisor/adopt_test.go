package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/runtime/config"
	"github.com/tenement/ten/runtime/logs"
)

// A server is killed (SIGKILL) while its tenant runs. The tenant survives,
// keeps logging to its file, and the next server adopts it: same pid, no
// restart, its logs still indexed (once), its crash handled.
func TestAdoptAfterServerIsKilled(t *testing.T) {
	bin := testapp(t)
	dir := t.TempDir()
	db := openDB(t, dir)

	helper, out := runHelper(t, dir, bin, nil)
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var first Instance
	if err := json.Unmarshal(line, &first); err != nil {
		t.Fatalf("helper said %q: %v", line, err)
	}
	t.Cleanup(func() {
		if proc.Same(first.PID, first.ProcStartTime) {
			syscall.Kill(-first.PID, syscall.SIGKILL)
		}
	})
	if first.Owner != "helper" {
		t.Fatalf("helper's instance %+v", first)
	}

	// Kill the server outright: no shutdown, no chance to clean up.
	helper.Process.Signal(syscall.SIGKILL)
	helper.Wait()
	if !alive(first.PID) {
		t.Fatal("tenant died with its server")
	}
	get(t, first.Addr, "/while-orphaned") // logs to its file with no server around

	cfg := testConfig(dir)
	cfg.Services["web"] = appService(bin)
	cfg.Instances["web"] = []string{"alice"} // configured, but alive: adopt, do not spawn
	e := newEnvAt(t, dir, cfg, db, nil)
	if err := e.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	in, ok := e.s.Get("web", "alice")
	if !ok || !in.Adopted || in.PID != first.PID || in.Port != first.Port || in.Restarts != 0 ||
		in.State != StateRunning || in.Owner != e.s.opts.ServerID || in.ProcStartTime != first.ProcStartTime {
		t.Fatalf("adopted %+v, was %+v", in, first)
	}
	if e.events.count(EventSpawned, "") != 0 || e.events.count(EventAdopted, "web:alice") != 1 {
		t.Fatalf("events: spawned %d adopted %d", e.events.count(EventSpawned, ""), e.events.count(EventAdopted, ""))
	}
	if r := readRow(t, db, "web", "alice"); r.owner != e.s.opts.ServerID || r.pid != first.PID {
		t.Errorf("row after adoption %+v", r)
	}
	// Health checks run against it.
	if cur, err := e.s.CheckHealth(context.Background(), "web", "alice"); err != nil || cur.Health != HealthHealthy {
		t.Errorf("health of adopted: %+v %v", cur, err)
	}
	addr, release, err := e.s.Acquire(context.Background(), "web", "alice")
	if err != nil || addr != first.Addr {
		t.Fatalf("Acquire adopted: %q %v", addr, err)
	}
	get(t, addr, "/after-adoption")
	release()

	// Every line indexed exactly once, whichever server indexed it.
	waitFor(t, 5*time.Second, "logs indexed", func() bool {
		es, _ := logs.Query(context.Background(), db, logs.Filter{Service: "web", ID: "alice", Search: "after-adoption"})
		return len(es) == 1
	})
	for _, s := range []string{"while-orphaned", "testapp starting"} {
		es, err := logs.Query(context.Background(), db, logs.Filter{Service: "web", ID: "alice", Search: s})
		if err != nil || len(es) != 1 {
			t.Errorf("%q indexed %d times (%v)", s, len(es), err)
		}
	}

	// Not our child, but its death is noticed and handled like a crash.
	get(t, addr, "/crash")
	var cur Instance
	waitFor(t, 10*time.Second, "adopted crash restarted", func() bool {
		cur, _ = e.s.Get("web", "alice")
		return cur.State == StateRunning && cur.PID != first.PID && cur.PID != 0
	})
	if cur.Adopted || cur.Restarts != 1 {
		t.Errorf("after restart %+v", cur)
	}
	if getInfo(t, cur.Addr).PID != cur.PID {
		t.Error("restarted instance unreachable")
	}
}

// A recorded pid that is alive but started at another time is someone
// else's process now: it must not be signalled or adopted.
func TestPIDReuseIsNotAdoptedOrKilled(t *testing.T) {
	bin := testapp(t)
	dir := t.TempDir()
	db := openDB(t, dir)
	stranger := exec.Command("sleep", "60")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stranger.Process.Kill(); stranger.Wait() })
	st, err := proc.StartTime(stranger.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"alice", "bob"} {
		if _, err := db.Exec(`INSERT INTO instance_state
			(process, instance_id, port, pid, weight, status, restarts, started_at, updated_at, proc_start_time, owner, log_path)
			VALUES ('web', ?, 31999, ?, 40, 'running', 2, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', ?, 'old', NULL)`,
			id, stranger.Process.Pid, st-60_000); err != nil {
			t.Fatal(err)
		}
	}
	// A row of a service no longer configured is left alone, even if dead.
	if _, err := db.Exec(`INSERT INTO instance_state (process, instance_id, pid, status, updated_at)
		VALUES ('gone', 'x', 1, 'running', '2024-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}

	cfg := testConfig(dir)
	cfg.Services["web"] = appService(bin)
	cfg.Instances["web"] = []string{"alice"}
	e := newEnvAt(t, dir, cfg, db, nil)
	if err := e.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !alive(stranger.Process.Pid) {
		t.Fatal("a stranger with a reused pid was killed")
	}
	// alice is configured: spawned afresh, keeping weight and restart count.
	a, _ := e.s.Get("web", "alice")
	if a.Adopted || a.PID == stranger.Process.Pid || a.State != StateRunning || a.Weight != 40 || a.Restarts != 2 {
		t.Fatalf("alice %+v", a)
	}
	// bob is not: restored idle, woken by its next request.
	b, _ := e.s.Get("web", "bob")
	if b.State != StateIdle || b.PID != 0 || b.Weight != 40 {
		t.Fatalf("bob %+v", b)
	}
	if r := readRow(t, db, "web", "bob"); r.status != StateIdle || r.pid != 0 {
		t.Errorf("bob row %+v", r)
	}
	addr, release, err := e.s.Acquire(context.Background(), "web", "bob")
	if err != nil {
		t.Fatal(err)
	}
	release()
	if getInfo(t, addr).Name != "web-bob" {
		t.Error("bob not woken")
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM instance_state WHERE process = 'gone'`).Scan(&n)
	if n != 1 {
		t.Error("row of an unconfigured service was touched")
	}
	if _, ok := e.s.Get("gone", "x"); ok {
		t.Error("unconfigured service listed")
	}
}

// Shutdown without stopping tenants leaves them for a successor; with it,
// they are stopped and recorded idle.
func TestShutdownModes(t *testing.T) {
	bin := testapp(t)
	dir := t.TempDir()
	db := openDB(t, dir)
	mk := func() *env {
		cfg := testConfig(dir)
		cfg.Services["web"] = appService(bin)
		e := newEnvAt(t, dir, cfg, db, nil)
		if err := e.s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return e
	}
	ctx := context.Background()
	a := mk()
	in, err := a.s.Spawn(ctx, "web", "x")
	if err != nil {
		t.Fatal(err)
	}
	a.s.mu.Lock()
	p := a.s.insts[key{"web", "x"}].proc
	a.s.mu.Unlock()
	if err := a.s.Shutdown(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.s.Spawn(ctx, "web", "y"); err != ErrShutdown {
		t.Errorf("Spawn after Shutdown: %v", err)
	}
	if !alive(in.PID) {
		t.Fatal("tenant stopped by Shutdown(false)")
	}
	if r := readRow(t, db, "web", "x"); r.status != StateRunning || r.pid != in.PID {
		t.Fatalf("row after Shutdown(false): %+v", r)
	}

	b := mk()
	got, _ := b.s.Get("web", "x")
	if !got.Adopted || got.PID != in.PID {
		t.Fatalf("successor did not adopt: %+v", got)
	}
	if err := b.s.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "tenant stopped", func() bool { return !alive(in.PID) })
	if r := readRow(t, db, "web", "x"); r.status != StateIdle || r.pid != 0 {
		t.Fatalf("row after Shutdown(true): %+v", r)
	}
	// The first server's Wait goroutine sees its child die: it must not
	// write anything after its shutdown.
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatal("first server never saw its child exit")
	}
	// Its onExit runs after done is closed and must leave the row alone.
	holds(t, 50*time.Millisecond, "row owned by the successor", func() bool {
		return readRow(t, db, "web", "x").owner == b.s.opts.ServerID
	})
	if n := a.events.count(EventExited, "web:x"); n != 0 {
		t.Errorf("shut-down server handled its child's exit: %d exited events", n)
	}
}

func TestNamespaceIsolation(t *testing.T) {
	bin := testapp(t)
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["ns"] = appService(bin, func(s *config.Service) { s.Isolation = config.IsolationNamespace })
		o.StopGrace = 200 * time.Millisecond
	})
	ctx := context.Background()
	in, err := e.s.Spawn(ctx, "ns", "a")
	if os.Geteuid() != 0 {
		if err == nil || !strings.Contains(err.Error(), "root") {
			t.Fatalf("namespace as non-root: %v", err)
		}
		return
	}
	if err != nil {
		if strings.Contains(err.Error(), "operation not permitted") {
			t.Skipf("namespaces unavailable here: %v", err)
		}
		t.Fatal(err)
	}
	if got := getInfo(t, in.Addr); got.NsPID != 1 || got.PID != in.PID {
		t.Fatalf("tenant sees pid %d in its namespace (want 1), %d on the host (want %d)", got.NsPID, got.PID, in.PID)
	}
	for _, ns := range []string{"pid", "mnt"} {
		mine, err1 := proc.Namespace(os.Getpid(), ns)
		theirs, err2 := proc.Namespace(in.PID, ns)
		if err1 != nil || err2 != nil || mine == theirs {
			t.Errorf("%s namespace: ours %q, tenant's %q (%v %v)", ns, mine, theirs, err1, err2)
		}
	}
	if err := e.s.Stop(ctx, "ns", "a"); err != nil {
		t.Fatal(err)
	}
	if alive(in.PID) {
		t.Fatal("namespace tenant survived Stop")
	}
}
