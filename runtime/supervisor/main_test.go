package supervisor

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/internal/site"
	"github.com/tenement/ten/internal/testbin"
	"github.com/tenement/ten/internal/testclock"
	"github.com/tenement/ten/runtime/config"
	"github.com/tenement/ten/runtime/store"
)

const testappPkg = "github.com/tenement/ten/internal/testapp"

func TestMain(m *testing.M) { os.Exit(testbin.MainWithHelper(m, helperServer)) }

// helperServer is a whole server in another process, for tests of what
// survives a server's death: it spawns web:alice, prints the instance as
// JSON, and waits to be killed. With SUPERVISOR_TEST_EVENTS=1 it prints
// helperLines instead: every event as it happens, then the instance as
// "spawn-result". SUPERVISOR_TEST_HELPER_ID, _HEALTH_MS and _LEASE_MS
// override its server id and intervals.
func helperServer(string) int {
	dir := os.Getenv("SUPERVISOR_TEST_DATA_DIR")
	db, err := openDBFile(filepath.Join(dir, "tenement.db"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg := testConfig(dir)
	cfg.Services["web"] = appService(os.Getenv("SUPERVISOR_TEST_APP"))
	min, _ := json.Number(os.Getenv("SUPERVISOR_TEST_PORT_MIN")).Int64()
	ms := func(name string) time.Duration {
		v, _ := json.Number(os.Getenv(name)).Int64()
		return time.Duration(v) * time.Millisecond
	}
	id := os.Getenv("SUPERVISOR_TEST_HELPER_ID")
	if id == "" {
		id = "helper"
	}
	var outMu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	say := func(kind string, in Instance) {
		outMu.Lock()
		defer outMu.Unlock()
		enc.Encode(helperLine{Kind: kind, Instance: in})
	}
	events := os.Getenv("SUPERVISOR_TEST_EVENTS") == "1"
	opts := Options{Config: cfg, DB: db, ServerID: id, PortMin: int(min), PortMax: int(min) + 500,
		Addr:             "helper.invalid:1",
		LogPollInterval:  10 * time.Millisecond,
		LivenessInterval: 20 * time.Millisecond,
		HealthInterval:   ms("SUPERVISOR_TEST_HEALTH_MS"),
		LeaseInterval:    ms("SUPERVISOR_TEST_LEASE_MS"),
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if events {
		opts.OnEvent = func(e Event) { say(string(e.Kind), e.Instance) }
	}
	s, err := New(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := s.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	in, err := s.Spawn(context.Background(), "web", "alice")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if events {
		say("spawn-result", in)
	} else {
		outMu.Lock()
		enc.Encode(in)
		outMu.Unlock()
	}
	select {}
}

// helperLine is one line of a helper server's output in events mode.
type helperLine struct {
	Kind     string
	Instance Instance
}

func openDBFile(path string) (*sql.DB, error) {
	db, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		return nil, err
	}
	return db.DB, nil
}

func openDB(t testing.TB, dir string) *sql.DB {
	t.Helper()
	db, err := openDBFile(filepath.Join(dir, "tenement.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testConfig has fast restarts and no services.
func testConfig(dataDir string) *config.Config {
	cfg := config.Default()
	cfg.Settings.DataDir = dataDir
	cfg.Settings.MaxRestarts = 3
	cfg.Settings.RestartWindow = 300
	cfg.Settings.BackoffBaseMS = 50
	cfg.Settings.BackoffMaxMS = 400
	return cfg
}

// appService runs the test tenant.
func appService(bin string, mods ...func(*config.Service)) *config.Service {
	svc := config.DefaultService()
	svc.Command = bin
	// The tests below are about supervision, not isolation: they run the
	// tenant as a plain child (isolation_test.go covers the default).
	svc.Isolation = config.IsolationProcess
	svc.Env = map[string]string{"TESTAPP_NAME": "{name}-{id}"}
	svc.StartupTimeout = 10
	for _, m := range mods {
		m(svc)
	}
	return svc
}

func testapp(t testing.TB) string { return testbin.Build(t, testappPkg) }

// newClock is a clock that tests move by hand, stopped at the real time.
func newClock() *testclock.Clock { return testclock.Stopped(time.Now()) }

// env is one test's world: a data directory, a database, a supervisor.
type env struct {
	t      *testing.T
	dir    string
	cfg    *config.Config
	db     *sql.DB
	s      *Supervisor
	events *eventLog
}

type eventLog struct {
	mu sync.Mutex
	es []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.es = append(l.es, e)
	l.mu.Unlock()
}

func (l *eventLog) count(kind EventKind, name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.es {
		if e.Kind == kind && (name == "" || e.Instance.Name() == name) {
			n++
		}
	}
	return n
}

// last returns the latest event of a kind for an instance.
func (l *eventLog) last(kind EventKind, name string) Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.es) - 1; i >= 0; i-- {
		if e := l.es[i]; e.Kind == kind && e.Instance.Name() == name {
			return e
		}
	}
	return Event{}
}

// procs returns every process the events mentioned.
func (l *eventLog) procs() map[int]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int]int64{}
	for _, e := range l.es {
		if e.Instance.PID > 0 {
			out[e.Instance.PID] = e.Instance.ProcStartTime
		}
	}
	return out
}

// randomPorts gives each supervisor its own slice of ports, so that test
// packages running in parallel do not race for the same free port. It
// stays below both the default tenant range (30000-40000, used by other
// packages' servers) and Linux's ephemeral range (32768-60999).
func randomPorts() (int, int) {
	lo := 20000 + rand.IntN(20)*500
	return lo, lo + 499
}

// newEnv makes and starts a supervisor over a fresh data directory; mod
// adjusts the config (services) and options before New. Every process it
// ever reported is killed at cleanup.
func newEnv(t *testing.T, mod func(cfg *config.Config, o *Options)) *env {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir)
	db := openDB(t, dir)
	e := newEnvAt(t, dir, cfg, db, mod)
	if err := e.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// newEnvAt makes a supervisor over dir and db without starting it.
func newEnvAt(t *testing.T, dir string, cfg *config.Config, db *sql.DB, mod func(cfg *config.Config, o *Options)) *env {
	t.Helper()
	e := &env{t: t, dir: dir, cfg: cfg, db: db, events: &eventLog{}}
	lo, hi := randomPorts()
	o := Options{
		Config: cfg, DB: db, ServerID: "server-" + t.Name(),
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		PortMin:          lo,
		PortMax:          hi,
		StopGrace:        2 * time.Second,
		HealthInterval:   50 * time.Millisecond,
		IdleInterval:     20 * time.Millisecond,
		LivenessInterval: 20 * time.Millisecond,
		LogPollInterval:  20 * time.Millisecond,
		OnEvent:          e.events.add,
	}
	if testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	if mod != nil {
		mod(cfg, &o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx, true); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		// Anything left over, but only if the pid is still the same
		// process: pids are reused, and a stranger must not be killed.
		for pid, start := range e.events.procs() {
			if proc.Same(pid, start) {
				t.Errorf("tenant pid %d outlived the test", pid)
				syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
	})
	return e
}

// runHelper starts this test binary as a server in another OS process
// (see TestMain) over dir, running the test app, with env added to its
// environment. At the end of the test it is killed, and then gone runs.
func runHelper(t *testing.T, dir, bin string, gone func(), env ...string) (*exec.Cmd, io.Reader) {
	t.Helper()
	lo, _ := randomPorts()
	cmd := testbin.Helper("server", append([]string{
		"SUPERVISOR_TEST_DATA_DIR=" + dir,
		"SUPERVISOR_TEST_APP=" + bin,
		"SUPERVISOR_TEST_PORT_MIN=" + strconv.Itoa(lo),
	}, env...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if gone != nil {
			gone()
		}
	})
	return cmd, out
}

// waitFor polls cond until it holds or d passes (site.WaitFor, with the
// arguments in the order this package's many calls use).
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	site.WaitFor(t, what, d, cond)
}

// holds polls cond for d and fails as soon as it does not hold: for what
// must not happen, however the loops under test are scheduled.
func holds(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !cond() {
			t.Fatalf("%s no longer holds", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get fetches http://addr/path and returns the body.
func get(t testing.TB, addr, path string) (int, []byte) {
	t.Helper()
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	return resp.StatusCode, b
}

// info is what the test tenant's / returns.
type info struct {
	PID     int    `json:"pid"`
	NsPID   int    `json:"ns_pid"`
	Port    string `json:"port"`
	Name    string `json:"name"`
	Workdir string `json:"workdir"`
}

func getInfo(t testing.TB, addr string) info {
	t.Helper()
	code, b := get(t, addr, "/")
	if code != 200 {
		t.Fatalf("GET / = %d %s", code, b)
	}
	var i info
	if err := json.Unmarshal(b, &i); err != nil {
		t.Fatalf("GET /: %v: %s", err, b)
	}
	return i
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool { return proc.Alive(pid) }
