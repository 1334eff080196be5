package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenement/ten/internal/procmark"
	tensite "github.com/tenement/ten/internal/site"
)

// The end-to-end tests of `ten-upgrade run` run everything for real
// (internal/site): the ten-upgrade binary, `ten serve` at two versions
// (1.0.0 and 1.1.0, whose extra migration is an expand one), testapp
// tenants, Caddy and nginx, under constant load; the site's cleanup kills
// every process they started.

// site is one installation, for one test (t changes in subtests).
type site struct {
	*tensite.Site
	t *testing.T
}

// siteServices are the three api tenants under load and a slow one whose
// request timeout TestRunFaultErrorsInWatch runs into.
var siteServices = tensite.APIServices + `
[service.slow]
command = "@TENANT@"
request_timeout = 1
startup_timeout = 1
`

// newSite installs ten 1.0.0 (or from) in a temporary directory.
func newSite(t *testing.T, from string) *site {
	t.Helper()
	if os.Getenv("TEN_SKIP_E2E") != "" {
		t.Skip("TEN_SKIP_E2E is set")
	}
	s := tensite.New(t, tensite.Config{
		Bins:     tensite.Binaries{Ten: tenBinary(t, from)},
		Services: siteServices,
		Tenants:  append(slices.Clone(tensite.APITenants), "slow:s"),
		MarkVar:  "TENTEST_E2E_MARK",
	})
	return &site{Site: s, t: t}
}

// start runs `ten serve` from the installed binary, detached like a
// service, and waits until its tenants run.
func (s *site) start(extra ...string) {
	s.t.Helper()
	s.MustStart(s.t, extra...)
}

// waitVersion waits until /health answers with version (any if "").
func (s *site) waitVersion(version string, timeout time.Duration) tensite.Health {
	s.t.Helper()
	h, err := tensite.WaitHealth(context.Background(), s.URL, version, timeout)
	if err != nil {
		s.t.Fatal(err)
	}
	return h
}

// waitTenants waits until the tenants run and returns their pids.
func (s *site) waitTenants() map[string]int {
	s.t.Helper()
	pids, err := s.WaitTenants(context.Background(), s.URL, 20*time.Second)
	if err != nil {
		s.t.Fatal(err)
	}
	return pids
}

// samePIDs checks that no tenant was restarted, asking url (the site's
// by default; after an upgrade the server may listen on another port).
func (s *site) samePIDs(want map[string]int, url ...string) {
	s.t.Helper()
	pids, err := s.WaitTenants(context.Background(), append(url, s.URL)[0], 20*time.Second)
	if err != nil {
		s.t.Fatal(err)
	}
	for id, pid := range want {
		if pids[id] != pid || !procmark.Alive(pid) {
			s.t.Errorf("tenant %s: pid %d, want %d (restarted)", id, pids[id], pid)
		}
	}
}

// samePIDs2 checks the tenants through the server now running, and that
// it is the only one.
func (s *site) samePIDs2(now *RunningServer, want map[string]int) {
	s.t.Helper()
	if now == nil {
		s.t.Fatal("no server reported")
	}
	s.samePIDs(want, now.URL())
	s.oneServer()
}

func t0ctx() context.Context { return context.Background() }

// oneServer checks that exactly one `ten serve` runs (no orphan).
func (s *site) oneServer() {
	s.t.Helper()
	tensite.WaitFor(s.t, "a single ten serve process", 15*time.Second, func() bool { return len(s.Servers()) == 1 })
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
	return s.upgradeAsync(env, nil, args...)
}

// upgradeAsync runs ten-upgrade and, if during is set, calls it with the
// running command.
func (s *site) upgradeAsync(env []string, during func(*exec.Cmd), args ...string) result {
	s.t.Helper()
	run, err := s.Upgrade(context.Background(), env, during, args...)
	if err != nil {
		s.t.Fatal(err)
	}
	r := result{code: run.Code, stdout: run.Stdout, stderr: run.Stderr, took: run.Took}
	if strings.Contains(strings.Join(args, " "), "--json") && r.code >= 0 {
		if err := json.Unmarshal([]byte(r.stdout), &r.rep); err != nil {
			s.t.Fatalf("ten-upgrade %v: exit %d, not JSON: %v\nstdout: %s\nstderr: %s", args, r.code, err, r.stdout, r.stderr)
		}
	}
	return r
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, result %s, failed step %q, error %q\nstderr:\n%s", r.code, r.rep.Result, r.rep.FailedStep, r.rep.Error, tensite.Tail(r.stderr, 4000))
}

// want checks an invocation's result.
func (s *site) want(r result, code int, res string) {
	s.t.Helper()
	if r.code != code || r.rep.Result != res {
		s.t.Fatalf("want exit %d and result %s; got %s", code, res, r)
	}
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
			req.Header.Set("Authorization", "Bearer "+s.Token)
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
	db, err := s.CopyDB(ctx, filepath.Join(s.t.TempDir(), "copy.db"))
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
	return hashFile(s.t, s.Bin) == hashFile(s.t, bin)
}

// bench logs a measured number in one greppable format.
func bench(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("BENCH "+format, args...)
}
