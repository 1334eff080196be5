package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/internal/loadgen"
	"github.com/tenement/ten/internal/procmark"
	"github.com/tenement/ten/internal/sqlitefile"
	"github.com/tenement/ten/internal/testbin"
	"github.com/tenement/ten/orchestrator/release"
	"github.com/tenement/ten/runtime/store"
)

// The end-to-end tests of `ten-upgrade run` run everything for real: the
// ten-upgrade binary, `ten serve` at two versions (1.0.0 and 1.1.0, whose
// extra migration is an expand one), testapp tenants, Caddy and nginx,
// under constant load. Every process they start carries a marker in its
// environment (tenants too: its name must not start with TEN_, which ten
// serve keeps from its tenants); the cleanup kills whatever carries it.

// site is one installation: an installed ten binary, a config, a data
// directory and the server running on it.
type site struct {
	t        *testing.T
	dir      string
	bin      string // the installed ten
	config   string
	dataDir  string
	app      string
	tu       string // ten-upgrade
	mark     string
	port     int
	url      string
	token    string
	serveLog string
}

const siteConfig = `[settings]
data_dir = %q
health_check_interval = 1

[service.api]
command = %q
[service.api.env]
TESTAPP_NAME = "{id}"

[service.slow]
command = %q
request_timeout = 1
startup_timeout = 1

[instances]
api = ["a", "b", "c"]
slow = ["s"]

[upgrade]
binary_path = %q
`

// newSite installs ten 1.0.0 (or from) in a temporary directory.
func newSite(t *testing.T, from string) *site {
	t.Helper()
	if os.Getenv("TEN_SKIP_E2E") != "" {
		t.Skip("TEN_SKIP_E2E is set")
	}
	s := &site{
		t:    t,
		dir:  t.TempDir(),
		app:  testbin.Build(t, "./internal/testapp"),
		tu:   testbin.Build(t, "./cmd/ten-upgrade"),
		mark: procmark.New("TENTEST_E2E_MARK"),
	}
	// Run as root, ten starts tenants as the unprivileged tenement user,
	// who must reach the data directory in here.
	for _, d := range []string{filepath.Dir(s.dir), s.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.bin = filepath.Join(s.dir, "bin", "ten")
	copyFile(t, tenBinary(t, from), s.bin, 0o755)
	s.config = filepath.Join(s.dir, "tenement.toml")
	s.dataDir = filepath.Join(s.dir, "data")
	s.serveLog = filepath.Join(s.dir, "serve.log")
	cfg := fmt.Sprintf(siteConfig, s.dataDir, s.app, s.app, s.bin)
	if err := os.WriteFile(s.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.killStrays)
	out, err := s.tenCmd("token-gen").CombinedOutput()
	if err != nil {
		t.Fatalf("ten token-gen: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(s.dataDir, "api_token"))
	if err != nil {
		t.Fatal(err)
	}
	s.token = strings.TrimSpace(string(b))
	return s
}

func (s *site) environ(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TENEMENT_") || strings.HasPrefix(kv, "TEN_") || strings.HasPrefix(kv, "XDG_") {
			continue
		}
		out = append(out, kv)
	}
	// Caddy keeps its autosaved config under these: in the site, not in
	// the home directory of whoever runs the tests.
	xdg := filepath.Join(s.dir, "xdg")
	out = append(out, "XDG_CONFIG_HOME="+xdg, "XDG_DATA_HOME="+xdg)
	return append(append(out, s.mark), extra...)
}

func (s *site) tenCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(s.bin, append([]string{"--config", s.config}, args...)...)
	cmd.Env = s.environ()
	return cmd
}

// start runs `ten serve` from the installed binary, detached like a
// service (its own session, output appended to a log file), and waits
// until it answers.
func (s *site) start(extra ...string) {
	t := s.t
	t.Helper()
	if s.port == 0 {
		p, err := freePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		s.port = p
		s.url = fmt.Sprintf("http://127.0.0.1:%d", p)
	}
	logf, err := os.OpenFile(s.serveLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	args := append([]string{"serve", "--config", s.config, "--host", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--handoff-timeout", "5s"}, extra...)
	cmd := exec.Command(s.bin, args...)
	cmd.Env = s.environ()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait() // reap it whenever it exits
	s.waitVersion("", 20*time.Second)
	s.retryFailedTenants()
	s.waitTenants()
}

// retryFailedTenants restarts, through the API, a tenant whose first start
// failed (a port taken by another test's connection in that instant): the
// set-up is not what these tests test.
func (s *site) retryFailedTenants() {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m, err := s.instances()
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		running := 0
		for _, id := range []string{"api:a", "api:b", "api:c", "slow:s"} {
			switch m[id].State {
			case "running":
				running++
			case "failed", "stopped", "idle":
				req, _ := http.NewRequest("POST", s.url+"/api/instances/"+id+"/restart", nil)
				req.Header.Set("Authorization", "Bearer "+s.token)
				if resp, err := httpClient.Do(req); err == nil {
					resp.Body.Close()
				}
				s.t.Logf("tenant %s was %s after start; restarted it", id, m[id].State)
			}
		}
		if running == 4 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killStrays kills every process carrying the site's marker.
func (s *site) killStrays() {
	procmark.Kill(s.mark)
	if s.t.Failed() {
		b, _ := os.ReadFile(s.serveLog)
		s.t.Logf("ten serve log (tail):\n%s", tailString(string(b), 4000))
		logs, _ := filepath.Glob(filepath.Join(s.dataDir, "upgrade", "logs", "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			s.t.Logf("%s (tail):\n%s", l, tailString(string(b), 3000))
		}
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func (s *site) marked() []int { return procmark.Find(s.mark) }

// servers lists the live `ten serve` processes of the site (its marked
// processes that are not tenants nor ten-upgrade).
func (s *site) servers() []int {
	var out []int
	for _, pid := range s.marked() {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || !pidAlive(pid) {
			continue
		}
		exe = strings.TrimSuffix(exe, " (deleted)")
		if exe == s.app || exe == s.tu {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if bytes.Contains(cmdline, []byte("serve\x00")) {
			out = append(out, pid)
		}
	}
	return out
}

// health asks the site's /health; ok is false if nobody answers.
func (s *site) health() (healthAnswer, bool) {
	h, err := getHealth(context.Background(), s.url)
	return h, err == nil
}

// waitVersion waits until /health answers with version (any if "").
func (s *site) waitVersion(version string, timeout time.Duration) healthAnswer {
	s.t.Helper()
	var h healthAnswer
	waitUntil(s.t, "the server to answer as ten "+version, timeout, func() bool {
		var ok bool
		h, ok = s.health()
		return ok && (version == "" || h.Version == version)
	})
	return h
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type instance struct {
	ID    string `json:"id"`
	PID   int    `json:"pid"`
	State string `json:"state"`
}

func (s *site) instances() (map[string]instance, error) {
	req, _ := http.NewRequest("GET", s.url+"/api/instances", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var list []instance
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, err
	}
	m := map[string]instance{}
	for _, in := range list {
		m[in.ID] = in
	}
	return m, nil
}

// waitTenants waits until the api tenants run and returns their pids.
func (s *site) waitTenants() map[string]int {
	s.t.Helper()
	pids := map[string]int{}
	waitUntil(s.t, "the tenants to run", 20*time.Second, func() bool {
		m, err := s.instances()
		if err != nil {
			return false
		}
		for _, id := range []string{"api:a", "api:b", "api:c", "slow:s"} {
			if m[id].State != "running" || m[id].PID == 0 {
				return false
			}
			pids[id] = m[id].PID
		}
		return true
	})
	return pids
}

// samePIDs checks that no tenant was restarted.
func (s *site) samePIDs(want map[string]int) {
	s.t.Helper()
	got := s.waitTenants()
	for id, pid := range want {
		if got[id] != pid || !pidAlive(pid) {
			s.t.Errorf("tenant %s: pid %d, want %d (restarted)", id, got[id], pid)
		}
	}
}

// samePIDs2 checks the tenants through the server now running (which may
// listen on another port than the site's original one).
func (s *site) samePIDs2(now *RunningServer, want map[string]int) {
	s.t.Helper()
	if now == nil {
		s.t.Fatal("no server reported")
	}
	saved := s.url
	s.url = now.URL()
	defer func() { s.url = saved }()
	s.samePIDs(want)
	s.oneServer()
}

func t0ctx() context.Context { return context.Background() }

// oneServer checks that exactly one `ten serve` runs (no orphan).
func (s *site) oneServer() {
	s.t.Helper()
	waitUntil(s.t, "a single ten serve process", 15*time.Second, func() bool { return len(s.servers()) == 1 })
}

// result is a ten-upgrade invocation.
type result struct {
	code   int
	stdout string
	stderr string
	rep    RunReport
	took   time.Duration
}

// upgrade runs ten-upgrade with the site's config and args.
func (s *site) upgrade(env []string, args ...string) result {
	s.t.Helper()
	full := append([]string{"--config", s.config}, args...)
	cmd := exec.Command(s.tu, full...)
	cmd.Env = s.environ(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.code = -int(ws.Signal())
		}
	case err != nil:
		s.t.Fatalf("ten-upgrade %v: %v", args, err)
	}
	if strings.Contains(strings.Join(args, " "), "--json") && r.code >= 0 {
		if err := json.Unmarshal(out.Bytes(), &r.rep); err != nil {
			s.t.Fatalf("ten-upgrade %v: exit %d, not JSON: %v\nstdout: %s\nstderr: %s", args, r.code, err, r.stdout, r.stderr)
		}
	}
	return r
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, result %s, failed step %q, error %q\nstderr:\n%s", r.code, r.rep.Result, r.rep.FailedStep, r.rep.Error, tailString(r.stderr, 4000))
}

// want checks an invocation's result.
func (s *site) want(r result, code int, res string) {
	s.t.Helper()
	if r.code != code || r.rep.Result != res {
		s.t.Fatalf("want exit %d and result %s; got %s", code, res, r)
	}
}

// runLoad is constant load for tenant a.
type runLoad struct {
	sent atomic.Int64
	stop func() *loadgen.Result
}

// load sends constant load for tenant a through urls: half the workers on
// keep-alive connections, half on fresh ones.
func load(urls ...string) *runLoad {
	l := &runLoad{}
	l.stop = loadgen.Start(context.Background(), loadgen.Options{
		URLs: urls, Host: "a.api.localhost", Workers: 6, Interval: 3 * time.Millisecond, Sent: &l.sent,
	})
	return l
}

// more waits until n more requests have been answered, so that a change
// is measured with load on both of its sides however slow the machine.
func (l *runLoad) more(t *testing.T, n int64) {
	t.Helper()
	target := l.sent.Load() + n
	waitUntil(t, "load to flow", 20*time.Second, func() bool { return l.sent.Load() >= target })
}

// writer changes a tenant's weight through the API in a loop: each change
// is a row in deploy_log, so the rows written during an upgrade can be
// counted afterwards.
type writer struct {
	stop chan struct{}
	done chan struct{}
	ok   atomic.Int64
	fail atomic.Int64
	errs []string
	mu   sync.Mutex
}

func (s *site) startWriter(url string) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			body := strings.NewReader(fmt.Sprintf(`{"weight": %d}`, 1+i%100))
			req, _ := http.NewRequest("PUT", url+"/api/instances/api:c/weight", body)
			req.Header.Set("Authorization", "Bearer "+s.token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			if err != nil {
				w.fail.Add(1)
				w.mu.Lock()
				if len(w.errs) < 3 {
					w.errs = append(w.errs, err.Error())
				}
				w.mu.Unlock()
				continue
			}
			w.ok.Add(1)
		}
	}()
	return w
}

func (w *writer) halt() (ok, failed int64, errs []string) {
	close(w.stop)
	<-w.done
	return w.ok.Load(), w.fail.Load(), w.errs
}

// weightRows counts the weight changes recorded in the live database, and
// checks its integrity on an online copy.
func (s *site) weightRows() int64 {
	s.t.Helper()
	ctx := context.Background()
	cp := filepath.Join(s.t.TempDir(), "copy.db")
	if err := sqlitefile.BackupFile(ctx, filepath.Join(s.dataDir, store.FileName), cp); err != nil {
		s.t.Fatalf("copy the database: %v", err)
	}
	if err := sqlitefile.IntegrityCheck(ctx, cp); err != nil {
		s.t.Fatalf("database integrity: %v", err)
	}
	db, err := store.Open(ctx, cp, store.Options{ReadOnly: true})
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM deploy_log WHERE action = 'weight'`).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

func (s *site) installedIs(bin string) bool {
	want, err := release.FileSHA256(bin)
	if err != nil {
		s.t.Fatal(err)
	}
	return fileIs(s.bin, want)
}

// bench logs a measured number in one greppable format.
func bench(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("BENCH "+format, args...)
}
