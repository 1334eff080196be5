package orchestrator

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tenement/ten/internal/proc"
	"github.com/tenement/ten/internal/procmark"
	tensite "github.com/tenement/ten/internal/site"
	"github.com/tenement/ten/internal/testbin"
	"github.com/tenement/ten/runtime/store"
)

// faultBinary is ten 1.1.0 with one injected fault (see faultten).
func faultBinary(t *testing.T, mode string) string {
	t.Helper()
	real := tenBinary(t, toVariant)
	return testbin.Build(t, "./orchestrator/internal/faultten",
		testbin.LDFlags(fmt.Sprintf("-X main.real=%s -X main.fault=%s", real, mode)), testbin.Name("ten"))
}

// faultRun runs an upgrade that must not happen under load through url,
// and checks the end state: ten 1.0.0 serving the same tenants, zero
// failed requests, every row written still there.
type faultRun struct {
	s    *site
	url  string
	pids map[string]int
	rows int64
}

func newFaultRun(t *testing.T, proxy func(*site) *frontProxy) (*faultRun, *frontProxy) {
	s := newSite(t, fromVariant)
	s.start()
	f := &faultRun{s: s, url: s.URL}
	var p *frontProxy
	if proxy != nil {
		p = proxy(s)
		f.url = p.URL
	}
	f.pids = s.waitTenants()
	return f, p
}

// run runs ten-upgrade with args under load; during, if set, runs
// alongside (it gets the running ten-upgrade command).
func (f *faultRun) run(env []string, during func(*exec.Cmd), args ...string) (result, string) {
	s := f.s
	t := s.t
	w := s.startWriter(f.url)
	var r result
	defer func() {
		if t.Failed() {
			t.Logf("ten-upgrade: %s\nstdout: %s", r, tensite.Tail(r.stdout, 3000))
		}
	}()
	res := s.UnderLoad(t, f.url, 300, func() { r = s.upgradeAsync(env, during, args...) })
	ok, _, _ := w.halt()
	if res.Failed != 0 || res.Sent < 50 {
		t.Errorf("load during the failed upgrade: %s", res)
	}
	s.waitVersion(fromVersion, 10*time.Second)
	s.samePIDs(f.pids)
	s.oneServer()
	if !s.installedIs(tenBinary(t, fromVariant)) {
		t.Error("the installed binary is not ten 1.0.0 any more")
	}
	if rows := s.weightRows(); rows < ok {
		t.Errorf("deploy_log has %d weight rows, %d writes succeeded", rows, ok)
	}
	return r, fmt.Sprintf("%d/%d requests failed", res.Failed, res.Sent)
}

func (f *faultRun) wantRolledBack(r result, step, errPart string) {
	t := f.s.t
	t.Helper()
	f.s.want(r, 1, ResultRolledBack)
	if r.rep.FailedStep != step || !strings.Contains(r.rep.Error, errPart) {
		t.Errorf("failed step %q error %q; want step %s and %q", r.rep.FailedStep, r.rep.Error, step, errPart)
	}
	if len(r.rep.Undone) == 0 {
		t.Errorf("nothing undone: %s", r)
	}
	switch {
	case r.rep.Server != nil && r.rep.Server.Version != fromVersion:
		t.Errorf("server now %+v", r.rep.Server)
	case r.rep.Server == nil:
		// A successor that exits takes the control socket's name with it
		// (runtime/handoff): the old server serves (checked by run) but
		// can no longer be asked over the socket.
		t.Logf("no server found over the control socket after the rollback: %s", r.rep.ServerError)
	}
}

func TestRunFaultCandidateExits(t *testing.T) {
	f, _ := newFaultRun(t, nil)
	r, load := f.run(nil, nil, "run", "--binary", faultBinary(t, "exit"), "--yes", "--json", "--watch", "1s")
	f.wantRolledBack(r, StepSwitch, "injected fault: this candidate exits at once")
	bench(t, "fault candidate-exits (handoff): %s, rollback included wall %s", load, r.took.Round(time.Millisecond))
}

func TestRunFaultCandidateNeverHealthy(t *testing.T) {
	f, _ := newFaultRun(t, nil)
	// The running server gives a new binary 5s (--handoff-timeout).
	r, load := f.run(nil, nil, "run", "--binary", faultBinary(t, "hang"), "--yes", "--json", "--watch", "1s")
	f.wantRolledBack(r, StepSwitch, "did not become ready")
	bench(t, "fault candidate-never-healthy (handoff): %s, wall %s", load, r.took.Round(time.Millisecond))
}

func TestRunFaultCandidateNeverHealthyProxy(t *testing.T) {
	f, p := newFaultRun(t, (*site).startCaddy)
	args := append([]string{"run", "--binary", faultBinary(t, "hang"), "--yes", "--json", "--watch", "1s", "--health-timeout", "2s"}, p.Args...)
	r, load := f.run(nil, nil, args...)
	f.wantRolledBack(r, StepSwitch, "did not become healthy")
	bench(t, "fault candidate-never-healthy (proxy caddy): %s, wall %s", load, r.took.Round(time.Millisecond))
}

// TestRunFaultErrorsInWatch: the new server serves, then answers 5xx during
// the watch window (requests that time out at its router), which rolls the
// upgrade back.
func TestRunFaultErrorsInWatch(t *testing.T) {
	f, _ := newFaultRun(t, nil)
	s := f.s
	var wg sync.WaitGroup
	oldPID := s.waitVersion(fromVersion, time.Second).PID
	during := func(*exec.Cmd) {
		// Once the old server is gone, the new one answers every request.
		s.waitVersion(toVersion, 20*time.Second)
		tensite.WaitFor(t, "the old server to exit", 20*time.Second, func() bool { return !procmark.Alive(oldPID) })
		client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 20 * time.Second}
		for i := 0; i < 25; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("GET", s.URL+"/slow?ms=4000", nil)
				req.Host = "s.slow.localhost"
				if resp, err := client.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
		}
	}
	r, load := f.run(nil, during, "run", "--binary", tenBinary(t, toVariant), "--yes", "--json", "--watch", "8s", "--max-error-rate", "0.1")
	wg.Wait()
	f.wantRolledBack(r, StepWatch, "5xx rate regressed")
	bench(t, "fault 5xx-in-watch (handoff): %s, wall %s", load, r.took.Round(time.Millisecond))
}

func TestRunFaultConfigRejected(t *testing.T) {
	testFaultRefused(t, "config", "rejects the configuration")
}

func TestRunFaultMigrationFails(t *testing.T) {
	testFaultRefused(t, "migrate", "migration 0003 failed")
}

// testFaultRefused: a candidate with the fault mode fails the checks, so
// the upgrade is refused with an error containing errPart.
func testFaultRefused(t *testing.T, mode, errPart string) {
	f, _ := newFaultRun(t, nil)
	r, _ := f.run(nil, nil, "run", "--binary", faultBinary(t, mode), "--yes", "--json")
	f.s.want(r, 2, ResultRefused)
	if !strings.Contains(r.rep.Error, errPart) {
		t.Errorf("error = %q", r.rep.Error)
	}
}

// TestRunFaultProxyRejects: Caddy refuses /load (a certificate it must load
// is gone) and nginx -t fails (a broken directive): the switch fails
// before traffic moves.
func TestRunFaultProxyRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(*site) *frontProxy
		err   string
	}{
		{"caddy-load-rejected", (*site).startCaddy, "rejected"},
		{"nginx-t-fails", (*site).startNginx, "rejected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, p := newFaultRun(t, tc.start)
			p.break_(t)
			args := append([]string{"run", "--binary", tenBinary(t, toVariant), "--yes", "--json", "--watch", "1s"}, p.Args...)
			r, load := f.run(nil, nil, args...)
			f.wantRolledBack(r, StepSwitch, tc.err)
			bench(t, "fault %s (proxy): %s, wall %s", tc.name, load, r.took.Round(time.Millisecond))
		})
	}
}

// TestRunFaultPromoteFails makes the binary's directory read-only (a
// read-only bind mount) while ten-upgrade is stopped just before promote.
func TestRunFaultPromoteFails(t *testing.T) {
	f, _ := newFaultRun(t, nil)
	s := f.s
	dir := filepath.Dir(s.Bin)
	if err := exec.Command("mount", "--bind", dir, dir).Run(); err != nil {
		t.Skipf("cannot bind-mount (needs root): %v", err)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	during := func(cmd *exec.Cmd) {
		tensite.WaitFor(t, "ten-upgrade to stop before promote", 30*time.Second, func() bool { return procState(cmd.Process.Pid) == 'T' })
		if out, err := exec.Command("mount", "-o", "remount,bind,ro", dir).CombinedOutput(); err != nil {
			syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
			t.Fatalf("remount read-only: %v %s", err, out)
		}
		syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
	}
	r, load := f.run([]string{FaultEnv + "=pause:" + StepPromote}, during,
		"run", "--binary", tenBinary(t, toVariant), "--yes", "--json", "--watch", "1s")
	f.wantRolledBack(r, StepPromote, "read-only file system")
	bench(t, "fault promote-fails (handoff): %s, wall %s", load, r.took.Round(time.Millisecond))
}

func procState(pid int) byte { return proc.State(pid) }

// TestRunFaultBackupNoSpace puts the state directory on a small tmpfs that
// holds the candidate but not the database backup.
func TestRunFaultBackupNoSpace(t *testing.T) {
	f, _ := newFaultRun(t, nil)
	s := f.s
	// A database of a few MiB.
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(s.DataDir, store.FileName), store.Options{NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 4096)
	for i := 0; i < 1000; i++ {
		if _, err := db.ExecContext(ctx, `INSERT INTO deploy_log (process, instance_id, action, detail, timestamp) VALUES ('api', 'pad', 'pad', ?, '2026-01-01T00:00:00Z')`, pad); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	state := filepath.Join(t.TempDir(), "state")
	os.MkdirAll(state, 0o700)
	fi, err := os.Stat(tenBinary(t, toVariant))
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size() + 1<<20
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", state).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", state).Run() })
	r, load := f.run(nil, nil, "run", "--binary", tenBinary(t, toVariant), "--yes", "--json", "--watch", "1s", "--state-dir", state)
	f.wantRolledBack(r, StepBackupDB, "disk is full")
	bench(t, "fault backup-no-space: %s, wall %s", load, r.took.Round(time.Millisecond))
}
