package site

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/internal/loadgen"
	"github.com/tenement/ten/internal/testbin"
)

// New installs a site for a test in a temporary directory, building
// ten-upgrade and the tenant once per test binary (internal/testbin)
// unless cfg.Bins names them; cfg.Bins.Ten is required. The test's
// cleanup closes the site and, if the test failed, logs the end of the
// server's, ten-upgrade's and the proxies' output.
func New(t testing.TB, cfg Config) *Site {
	t.Helper()
	if cfg.Bins.Upgrade == "" {
		cfg.Bins.Upgrade = testbin.Build(t, "./cmd/ten-upgrade")
	}
	if cfg.Bins.Tenant == "" {
		cfg.Bins.Tenant = testbin.Build(t, "./internal/testapp")
	}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
		// Run as root, ten starts tenants as the unprivileged tenement
		// user, who must reach the data directory in here.
		for _, d := range []string{filepath.Dir(cfg.Dir), cfg.Dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			s.logTails(t)
		}
	})
	return s
}

// Start is New, then MustStart.
func Start(t testing.TB, cfg Config) *Site {
	t.Helper()
	s := New(t, cfg)
	s.MustStart(t)
	return s
}

// MustStart is Start for a test: it fails the test if ten does not serve
// every tenant.
func (s *Site) MustStart(t testing.TB, extra ...string) {
	t.Helper()
	if err := s.Start(context.Background(), extra...); err != nil {
		t.Fatal(err)
	}
}

// MustFront starts Caddy (admin API, with extra sites) or nginx in front
// of the site, skipping the test if it is not installed.
func (s *Site) MustFront(t testing.TB, tool, caddyExtra string) *Front {
	t.Helper()
	var f *Front
	var err error
	if tool == "nginx" {
		f, err = s.StartNginx(context.Background())
	} else {
		f, err = s.StartCaddy(context.Background(), CaddyOptions{Extra: caddyExtra})
	}
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (s *Site) logTails(t testing.TB) {
	b, _ := os.ReadFile(s.Log)
	t.Logf("ten serve log (tail):\n%s", Tail(string(b), 4000))
	logs, _ := filepath.Glob(filepath.Join(s.DataDir, "upgrade", "logs", "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		t.Logf("%s (tail):\n%s", l, Tail(string(b), 3000))
	}
	for _, f := range s.fronts {
		t.Logf("%s", f.LogTail(3000))
	}
}

// Load is constant load for api:a, from 6 workers every 3ms each: half on
// keep-alive connections, half on fresh ones.
type Load struct {
	s    *Site
	sent atomic.Int64
	stop func() *loadgen.Result
}

// Load starts load through urls (tried in order, as a client failing over
// would); the site counts its failures.
func (s *Site) Load(ctx context.Context, urls ...string) *Load {
	l := StartLoad(ctx, urls...)
	l.s = s
	return l
}

// StartLoad starts load through urls for a server that is not a Site.
func StartLoad(ctx context.Context, urls ...string) *Load {
	l := &Load{}
	l.stop = loadgen.Start(ctx, loadgen.Options{
		URLs: urls, Host: LoadHost, Workers: 6, Interval: 3 * time.Millisecond, Sent: &l.sent,
	})
	return l
}

// More waits until n more requests have been answered, so that a change
// is measured with load on both of its sides however slow the machine.
func (l *Load) More(t testing.TB, n int64) {
	t.Helper()
	target := l.sent.Load() + n
	err := Poll(context.Background(), 20*time.Second, func() error {
		if got := l.sent.Load(); got < target {
			return fmt.Errorf("%d of %d requests answered", got, target)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("load does not flow: %v", err)
	}
}

// Stop ends the load and returns what happened.
func (l *Load) Stop() *loadgen.Result {
	res := l.stop()
	if l.s != nil {
		l.s.mu.Lock()
		l.s.failed += res.Failed
		l.s.sent += res.Sent
		l.s.mu.Unlock()
	}
	return res
}

// UnderLoad runs f under load through url, with n requests answered
// before and after it, and returns the load's result.
func (s *Site) UnderLoad(t testing.TB, url string, n int64, f func()) *loadgen.Result {
	t.Helper()
	l := s.Load(context.Background(), url)
	l.More(t, n)
	f()
	l.More(t, n)
	return l.Stop()
}

// Failures are the failed and sent requests of every load stopped so far.
func (s *Site) Failures() (failed, sent int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed, s.sent
}

// WaitFor polls cond until it holds or the timeout passes, failing the
// test then.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	err := Poll(context.Background(), timeout, func() error {
		if !cond() {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// Proc is a program a test started with StartProc.
type Proc struct {
	Cmd *exec.Cmd
	// Done is closed once the program exited.
	Done chan struct{}
	// Log is the file whose end the cleanup shows when the test failed.
	Log string
}

// StartProc runs bin for a test in its own process group, with env (nil
// for ours) and its output in logFile. The test's cleanup sends it
// SIGTERM, kills what is left of its group (nginx's workers) after 5s,
// and shows the end of Log if the test failed.
func StartProc(t testing.TB, env []string, logFile, bin string, args ...string) *Proc {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &Proc{Cmd: cmd, Done: make(chan struct{}), Log: logFile}
	go func() { cmd.Wait(); f.Close(); close(p.Done) }() //nolint:errcheck // the cleanup reports the output
	t.Cleanup(func() {
		pgid := cmd.Process.Pid
		syscall.Kill(pgid, syscall.SIGTERM) //nolint:errcheck // may be gone
		select {
		case <-p.Done:
		case <-time.After(5 * time.Second):
		}
		syscall.Kill(-pgid, syscall.SIGKILL) //nolint:errcheck // may be gone
		<-p.Done
		if t.Failed() {
			b, _ := os.ReadFile(p.Log)
			t.Logf("%s output:\n%s", filepath.Base(bin), Tail(string(b), 3000))
		}
	})
	return p
}
