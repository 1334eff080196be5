package supervisor

import (
	"context"
	"database/sql"
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
	"github.com/tenement/ten/runtime/logs"
)

func TestSpawnRunsTenantAndRecordsIt(t *testing.T) {
	bin := testapp(t)
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["web"] = appService(bin, func(s *config.Service) {
			s.Env["GREETING"] = "hi from {id} on {port}"
		})
	})
	ctx := context.Background()
	in, err := e.s.Spawn(ctx, "web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if in.State != StateRunning || in.Health != HealthHealthy || in.PID == 0 || in.Port == 0 ||
		in.Addr != "127.0.0.1:"+strconv.Itoa(in.Port) || in.Weight != 100 || in.Owner != e.s.opts.ServerID ||
		in.ProcStartTime == 0 || in.Adopted || in.Name() != "web:alice" {
		t.Fatalf("instance %+v", in)
	}
	if in.Port < e.s.opts.PortMin || in.Port > e.s.opts.PortMax {
		t.Errorf("port %d outside %d-%d", in.Port, e.s.opts.PortMin, e.s.opts.PortMax)
	}

	// The tenant got PORT and its interpolated env, and runs where the
	// server runs: tenement sets a working directory only when workdir is
	// set (tenement runtime/process.rs:54-56). Its data dir is created.
	got := getInfo(t, in.Addr)
	dataDir := filepath.Join(e.dir, "web", "alice")
	cwd, _ := os.Getwd()
	if got.PID != in.PID || got.Port != strconv.Itoa(in.Port) || got.Name != "web-alice" || got.Workdir != cwd {
		t.Fatalf("tenant sees %+v (want workdir %s); instance %+v", got, cwd, in)
	}
	st, err := os.Stat(dataDir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v %v", st.Mode(), err)
	}
	if info, err := proc.Describe(context.Background(), in.PID); err == nil && !slices.Contains(info.Env, "GREETING=hi from alice on "+strconv.Itoa(in.Port)) {
		t.Errorf("GREETING not interpolated: %q", info.Env)
	}

	// Own process group: the tenant leads it.
	if pgid, err := getpgid(in.PID); err != nil || pgid != in.PID {
		t.Errorf("pgid = %d, %v; want %d", pgid, err, in.PID)
	}

	// The start time is gopsutil's.
	if st, err := proc.StartTime(in.PID); err != nil || st != in.ProcStartTime {
		t.Errorf("start time %d, %v; recorded %d", st, err, in.ProcStartTime)
	}

	// State row.
	r := readRow(t, e.db, "web", "alice")
	if r.pid != in.PID || r.port != in.Port || r.status != StateRunning || r.startTime != in.ProcStartTime ||
		r.owner != e.s.opts.ServerID || r.logPath != in.LogPath || r.weight != 100 {
		t.Fatalf("row %+v, instance %+v", r, in)
	}

	// Output goes to per-instance files, indexed into the logs table.
	if in.LogPath != logs.FilesFor(e.dir, "web", "alice").Stdout {
		t.Errorf("log path %q", in.LogPath)
	}
	get(t, in.Addr, "/hello")
	waitFor(t, 5*time.Second, "request line indexed", func() bool {
		es, err := logs.Query(ctx, e.db, logs.Filter{Service: "web", ID: "alice", Search: "hello"})
		return err == nil && len(es) == 1 && es[0].Level == logs.Stdout && strings.Contains(es[0].Message, "GET /hello")
	})
	es, err := logs.Query(ctx, e.db, logs.Filter{Service: "web", ID: "alice", Level: logs.Stderr})
	if err != nil || len(es) != 1 || !strings.Contains(es[0].Message, "testapp starting") {
		t.Fatalf("stderr entries %+v %v", es, err)
	}

	// A second spawn of a running instance is refused, with the snapshot.
	again, err := e.s.Spawn(ctx, "web", "alice")
	if !errors.Is(err, ErrExists) || again.PID != in.PID {
		t.Fatalf("second spawn: %+v %v", again, err)
	}
	if l := e.s.List(); len(l) != 1 || l[0].PID != in.PID {
		t.Fatalf("List = %+v", l)
	}
}

func TestSpawnRejectsBadNames(t *testing.T) {
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["web"] = appService("/bin/true")
	})
	ctx := context.Background()
	if _, err := e.s.Spawn(ctx, "nope", "a"); !errors.Is(err, ErrUnknownService) {
		t.Errorf("unknown service: %v", err)
	}
	for _, id := range []string{"", "a.b", "a:b", "-a", "a/b", "ä", strings.Repeat("a", 64)} {
		if _, err := e.s.Spawn(ctx, "web", id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("id %q: %v", id, err)
		}
	}
	if _, _, err := e.s.Acquire(ctx, "web", "../x"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("Acquire bad id: %v", err)
	}
	if err := e.s.Stop(ctx, "web", "ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stop unknown: %v", err)
	}
	if _, err := e.s.Restart(ctx, "web", "ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Restart unknown: %v", err)
	}
	if err := e.s.SetWeight(ctx, "web", "ghost", 5); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetWeight unknown: %v", err)
	}
}

func TestParseName(t *testing.T) {
	for _, c := range []struct {
		in, svc, id string
		ok          bool
	}{
		{"api:prod", "api", "prod", true},
		{"my-svc:user_1", "my-svc", "user_1", true},
		{"api", "", "", false},
		{"api:", "", "", false},
		{":prod", "", "", false},
		{"api:a:b", "", "", false},
		{"api:a.b", "", "", false},
	} {
		svc, id, err := ParseName(c.in)
		if (err == nil) != c.ok || svc != c.svc || id != c.id {
			t.Errorf("ParseName(%q) = %q, %q, %v", c.in, svc, id, err)
		}
		if err != nil && (!errors.Is(err, ErrInvalidID) || !strings.Contains(err.Error(), c.in)) {
			t.Errorf("ParseName(%q) error %v: want ErrInvalidID naming the input", c.in, err)
		}
	}
}

// A start that never becomes ready is killed and reported, with the
// tenant's stderr, and leaves nothing behind.
func TestSpawnFailures(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["missing"] = appService(filepath.Join(dir, "no-such-binary"))
		cfg.Services["dies"] = appService("/bin/sh", func(s *config.Service) {
			s.Args = []string{"-c", "echo cannot open database >&2; printf bye >&2; exit 3"}
		})
		cfg.Services["deaf"] = appService("/bin/sh", func(s *config.Service) {
			s.StartupTimeout = 1
			s.Args = []string{"-c", "echo $$ > " + filepath.Join(dir, "deaf.pid") + "; exec sleep 60"}
		})
	})
	ctx := context.Background()

	if _, err := e.s.Spawn(ctx, "missing", "a"); err == nil || !strings.Contains(err.Error(), "no-such-binary") {
		t.Errorf("missing binary: %v", err)
	}
	_, err := e.s.Spawn(ctx, "dies", "a")
	if err == nil || !strings.Contains(err.Error(), "exited during startup") ||
		!strings.Contains(err.Error(), "status 3") || !strings.Contains(err.Error(), "cannot open database\nbye") {
		t.Errorf("dying tenant: %v", err)
	}
	// Its last words are in the logs, even without a final newline.
	es, err := logs.Query(ctx, e.db, logs.Filter{Service: "dies", Level: logs.Stderr})
	if err != nil || len(es) != 2 || es[0].Message != "bye" || es[1].Message != "cannot open database" {
		t.Errorf("logs of the dead tenant: %+v %v", es, err)
	}
	start := time.Now()
	_, err = e.s.Spawn(ctx, "deaf", "a")
	if err == nil || !strings.Contains(err.Error(), "not ready within startup_timeout 1s") || !strings.Contains(err.Error(), "connect") {
		t.Errorf("tenant not listening: %v", err)
	}
	if d := time.Since(start); d < time.Second || d > 6*time.Second {
		t.Errorf("gave up after %s, want about 1s", d)
	}
	for _, f := range []string{"deaf.pid"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if alive(pid) {
			t.Errorf("%s: pid %d still alive after failed start", f, pid)
		}
	}
	if l := e.s.List(); len(l) != 0 {
		t.Errorf("failed starts left instances: %+v", l)
	}
	var n int
	e.db.QueryRow(`SELECT count(*) FROM instance_state`).Scan(&n)
	if n != 0 {
		rows, _ := e.s.loadRows(ctx)
		t.Errorf("failed starts left %d rows: %+v", n, rows)
	}
}

func TestStopTerminatesGroupAndEscalates(t *testing.T) {
	bin := testapp(t)
	dir := t.TempDir()
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		// A shell tenant with a background job in its group, which ignores
		// SIGTERM: the stop must escalate and reach the job too.
		cfg.Services["sh"] = appService("/bin/sh", func(s *config.Service) {
			s.Args = []string{"-c", "sleep 300 & echo $! > " + filepath.Join(dir, "job.pid") + "; exec " + bin}
			s.Env["TESTAPP_IGNORE_TERM"] = "1"
		})
		o.StopGrace = 300 * time.Millisecond
	})
	ctx := context.Background()
	in, err := e.s.Spawn(ctx, "sh", "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "job.pid"))
	if err != nil {
		t.Fatal(err)
	}
	job, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if !alive(job) {
		t.Fatal("background job not running")
	}
	start := time.Now()
	if err := e.s.Stop(ctx, "sh", "a"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("stopped after %s: SIGTERM should have been ignored for the grace period", d)
	}
	if alive(in.PID) || alive(job) {
		t.Fatalf("alive after Stop: tenant %v, job %v", alive(in.PID), alive(job))
	}
	if _, ok := e.s.Get("sh", "a"); ok {
		t.Error("stopped instance still listed")
	}
	var n int
	e.db.QueryRow(`SELECT count(*) FROM instance_state`).Scan(&n)
	if n != 0 {
		t.Errorf("row kept after Stop")
	}
}

func TestStoragePersist(t *testing.T) {
	bin := testapp(t)
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["tmp"] = appService(bin, func(s *config.Service) { s.StoragePersist = false })
		cfg.Services["keep"] = appService(bin) // the default, as tenement's config.rs
	})
	ctx := context.Background()
	for _, svc := range []string{"tmp", "keep"} {
		if _, err := e.s.Spawn(ctx, svc, "a"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.dir, svc, "a", "data.db"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := e.s.Stop(ctx, svc, "a"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "tmp", "a")); !os.IsNotExist(err) {
		t.Errorf("storage_persist=false: data dir kept (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "keep", "a", "data.db")); err != nil {
		t.Errorf("storage_persist=true: %v", err)
	}
	// Logs outlive the instance.
	if _, err := os.Stat(logs.FilesFor(e.dir, "tmp", "a").Stderr); err != nil {
		t.Errorf("log file: %v", err)
	}
}

// Tenement's usual example: a Python tenant.
func TestPythonTenant(t *testing.T) {
	py, err := lookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["py"] = appService(py, func(s *config.Service) {
			s.Args = []string{"-m", "http.server", "--bind", "127.0.0.1", "{port}"}
			s.Workdir = "{data_dir}/{name}/{id}" // it serves its working directory
			s.Health = "/"
		})
	})
	ctx := context.Background()
	in, err := e.s.Spawn(ctx, "py", "docs")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "py", "docs", "hello.txt"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, in.Addr, "/hello.txt"); code != 200 || string(body) != "hello" {
		t.Fatalf("GET = %d %q", code, body)
	}
	// http.server logs requests to stderr.
	waitFor(t, 5*time.Second, "python access log indexed", func() bool {
		es, _ := logs.Query(ctx, e.db, logs.Filter{Service: "py", Level: logs.Stderr, Search: "hello.txt"})
		return len(es) == 1
	})
	if err := e.s.Stop(ctx, "py", "docs"); err != nil {
		t.Fatal(err)
	}
	if alive(in.PID) {
		t.Fatal("python still running")
	}
}

// waitRow waits until the row of service:id satisfies cond: rows are
// written just after the in-memory state changes.
func waitRow(t testing.TB, db *sql.DB, service, id string, cond func(stateRow) bool) stateRow {
	t.Helper()
	var r stateRow
	waitFor(t, 5*time.Second, "row of "+service+":"+id, func() bool {
		r = readRow(t, db, service, id)
		return cond(r)
	})
	return r
}

type stateRow struct {
	pid, port, weight, restarts int
	status                      State
	startTime                   int64
	owner, logPath              string
}

func readRow(t testing.TB, db *sql.DB, service, id string) stateRow {
	t.Helper()
	var r stateRow
	var pid, port, st sql.NullInt64
	var owner, lp sql.NullString
	var status string
	err := db.QueryRow(`SELECT pid, port, weight, restarts, status, proc_start_time, owner, log_path
		FROM instance_state WHERE process = ? AND instance_id = ?`, service, id).
		Scan(&pid, &port, &r.weight, &r.restarts, &status, &st, &owner, &lp)
	if err != nil {
		t.Fatalf("row %s:%s: %v", service, id, err)
	}
	r.pid, r.port, r.startTime = int(pid.Int64), int(port.Int64), st.Int64
	r.status, r.owner, r.logPath = State(status), owner.String, lp.String
	return r
}
