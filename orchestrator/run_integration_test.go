package orchestrator

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	tensite "github.com/tenement/ten/internal/site"
)

// The versions every end-to-end test upgrades between: 1.1.0 adds an
// expand migration, so the two servers can share the database and a
// rollback keeps the data.
const (
	fromVariant = "ten-1.0.0"
	toVariant   = "ten-1.1.0-expand"
	fromVersion = "1.0.0"
	toVersion   = "1.1.0"
)

// TestRunHandoffUnderLoad upgrades with the handoff strategy while
// requests and API writes flow, then rolls back on request: no request may
// fail, no tenant may restart, every row written must be there.
func TestRunHandoffUnderLoad(t *testing.T) {
	s := newSite(t, fromVariant)
	s.start()
	pids := s.waitTenants()
	to := tenBinary(t, toVariant)

	w := s.startWriter(s.URL)
	var r result
	res := s.UnderLoad(t, s.URL, 300, func() { r = s.upgrade(nil, "run", "--binary", to, "--yes", "--json", "--watch", "2s") })
	ok, failed, errs := w.halt()
	s.want(r, 0, ResultCommitted)
	bench(t, "handoff upgrade: %d/%d requests failed, wall %s (watch 2s), %d/%d API writes failed, own probe %d/%d",
		res.Failed, res.Sent, r.took.Round(time.Millisecond), failed, ok+failed, r.rep.ProbeFailed, r.rep.ProbeRequests)
	if r.rep.ProbeRequests == 0 || r.rep.ProbeFailed != 0 {
		t.Errorf("ten-upgrade's probe: %d/%d failed", r.rep.ProbeFailed, r.rep.ProbeRequests)
	}
	if res.Failed != 0 || res.Sent < 100 {
		t.Errorf("load during the upgrade: %s", res)
	}
	if failed != 0 {
		// A write reaching the new server before it holds the lease is
		// passed to the old one or waits for the lease; one on a
		// connection the old server drains is answered before it closes.
		t.Errorf("%d API writes failed during the upgrade: %v", failed, errs)
	}
	h := s.waitVersion(toVersion, 5*time.Second)
	if r.rep.Server == nil || r.rep.Server.PID != h.PID || r.rep.Server.Version != toVersion {
		t.Errorf("report's server = %+v, /health = %+v", r.rep.Server, h)
	}
	s.samePIDs(pids)
	s.oneServer()
	if !s.installedIs(to) || hashFile(t, s.Bin+".bak") != hashFile(t, tenBinary(t, fromVariant)) {
		t.Errorf("after the upgrade the installed binary is not ten %s, or ten.bak not ten %s", toVersion, fromVersion)
	}
	if rows := s.weightRows(); rows < ok {
		t.Errorf("deploy_log has %d weight rows, %d writes succeeded", rows, ok)
	}

	// Back to 1.0.0 on request, under load too.
	w = s.startWriter(s.URL)
	var rb result
	res = s.UnderLoad(t, s.URL, 300, func() { rb = s.upgrade(nil, "rollback", "--yes", "--json") })
	ok2, failed, errs := w.halt()
	s.want(rb, 0, ResultRolledBack)
	bench(t, "handoff rollback: %d/%d requests failed, wall %s", res.Failed, res.Sent, rb.took.Round(time.Millisecond))
	if res.Failed != 0 {
		t.Errorf("load during the rollback: %s", res)
	}
	if failed != 0 {
		t.Errorf("%d API writes failed during the rollback: %v", failed, errs)
	}
	s.waitVersion(fromVersion, 5*time.Second)
	s.samePIDs(pids)
	s.oneServer()
	if !s.installedIs(tenBinary(t, fromVariant)) {
		t.Error("after the rollback the installed binary is not ten 1.0.0")
	}
	if rows := s.weightRows(); rows < ok+ok2 {
		t.Errorf("deploy_log has %d weight rows, %d writes succeeded", rows, ok+ok2)
	}
	found := false
	for _, n := range rb.rep.Notes {
		found = found || containsAll(n, "database kept")
	}
	if !found {
		t.Errorf("the rollback does not say the database was kept: %q", rb.rep.Notes)
	}

	// Nothing left to roll back: refused.
	again := s.upgrade(nil, "rollback", "--yes", "--json")
	s.want(again, 2, ResultRefused)

	// history and status tell the story.
	hist := s.upgrade(nil, "history", "--json")
	if hist.code != 0 || !containsAll(hist.stdout, `"rolled_back"`, `"from": "1.0.0"`, `"to": "1.1.0"`, `"strategy": "handoff"`) {
		t.Errorf("history: %s\n%s", hist.stdout, hist.stderr)
	}
	st := s.upgrade(nil, "status")
	if st.code != 0 || !containsAll(st.stdout, "ten 1.0.0", "unfinished: none", "handoff") {
		t.Errorf("status: %s\n%s", st.stdout, st.stderr)
	}
}

// TestRunRestart upgrades with the restart strategy: requests fail while
// no server runs, and the downtime is reported; the rollback restarts the
// old version.
func TestRunRestart(t *testing.T) {
	s := newSite(t, fromVariant)
	s.start()
	to := tenBinary(t, toVariant)
	before := s.weightRows()

	var r result
	res := s.UnderLoad(t, s.URL, 300, func() {
		r = s.upgrade(nil, "run", "--binary", to, "--yes", "--json", "--watch", "1s", "--strategy", "restart")
	})
	s.want(r, 0, ResultCommitted)
	if r.rep.DowntimeMS == nil {
		t.Fatalf("no downtime reported: %s", r)
	}
	bench(t, "restart upgrade: %d/%d requests failed, downtime %dms, wall %s (watch 1s), own probe %d/%d",
		res.Failed, res.Sent, *r.rep.DowntimeMS, r.took.Round(time.Millisecond), r.rep.ProbeFailed, r.rep.ProbeRequests)
	s.waitVersion(toVersion, 5*time.Second)
	s.waitTenants()
	s.oneServer()

	l := s.Load(t0ctx(), s.URL)
	rb := s.upgrade(nil, "rollback", "--yes", "--json")
	res = l.Stop()
	s.want(rb, 0, ResultRolledBack)
	bench(t, "restart rollback: %d/%d requests failed, wall %s", res.Failed, res.Sent, rb.took.Round(time.Millisecond))
	s.waitVersion(fromVersion, 5*time.Second)
	s.waitTenants()
	s.oneServer()
	if rows := s.weightRows(); rows < before {
		t.Errorf("rows lost: %d, had %d", rows, before)
	}
}

// TestRunRefusals: what run refuses, and that it changes nothing then.
func TestRunRefusals(t *testing.T) {
	s := newSite(t, fromVariant)
	to := tenBinary(t, toVariant)

	// Nothing running: refused, with --strategy restart offered.
	r := s.upgrade(nil, "run", "--binary", to, "--yes", "--json")
	s.want(r, 2, ResultRefused)
	if !containsAll(r.rep.Error, "no running ten server", "--strategy restart") {
		t.Errorf("error = %q", r.rep.Error)
	}

	s.start()
	// No terminal and no --yes: refused.
	r = s.upgrade(nil, "run", "--binary", to)
	if r.code != 2 || !containsAll(r.stderr, "--yes") {
		t.Errorf("without --yes: %s", r)
	}
	// A dry run prints the plan and changes nothing.
	r = s.upgrade(nil, "run", "--binary", to, "--dry-run")
	if r.code != 0 || !containsAll(r.stdout, "Dry run", "backup-db", "switch", "promote", `"op":"upgrade"`) {
		t.Errorf("dry run: %s\n%s", r.stdout, r.stderr)
	}
	if exists(s.Bin+".bak") || exists(s.DataDir+"/upgrade/backups") || exists(s.DataDir+"/upgrade/candidates") {
		t.Error("the dry run changed the installation")
	}
	if h := s.upgrade(nil, "history", "--json"); !containsAll(h.stdout, `"upgrades": []`) {
		t.Errorf("the dry run was recorded: %s", h.stdout)
	}
	// Same version: nothing to do.
	r = s.upgrade(nil, "run", "--binary", tenBinary(t, fromVariant), "--yes", "--json")
	s.want(r, 0, ResultUpToDate)
	// A contract migration cannot overlap: handoff is refused.
	r = s.upgrade(nil, "run", "--binary", tenBinary(t, "ten-1.2.0-contract"), "--yes", "--json")
	s.want(r, 2, ResultRefused)
	if !containsAll(r.rep.Error, "cannot share the database", "--strategy restart") {
		t.Errorf("error = %q", r.rep.Error)
	}
	// A second run while one holds the lock is refused.
	r = s.upgrade(nil, "rollback", "--yes", "--json")
	s.want(r, 2, ResultRefused)
	s.waitVersion(fromVersion, time.Second)
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestRunCrashPoints kills ten-upgrade with SIGKILL right after each step
// has had its effect (before the journal records it done, the hardest
// moment), then checks that status explains it and that rollback returns
// to 1.0.0, and in a second pass that run --resume finishes 1.1.0: with
// one server left, the tenants untouched and the database intact.
func TestRunCrashPoints(t *testing.T) {
	s := newSite(t, fromVariant)
	s.start()
	pids := s.waitTenants()
	from, to := tenBinary(t, fromVariant), tenBinary(t, toVariant)
	run := func(step string) {
		t := s.t
		t.Helper()
		r := s.upgrade([]string{FaultEnv + "=after:" + step}, "run", "--binary", to, "--yes", "--json", "--watch", "500ms")
		if r.code != -9 {
			t.Fatalf("killed after %s: want death by SIGKILL, got %s", step, r)
		}
		st := s.upgrade(nil, "status", "--json")
		var rep StatusReport
		if err := jsonUnmarshal(st.stdout, &rep); err != nil || rep.Unfinished == nil {
			t.Fatalf("status after a kill at %s: %v\n%s", step, err, st.stdout)
		}
		if !containsAll(rep.Unfinished.Explanation, "during step "+step) || len(rep.Unfinished.Next) != 2 {
			t.Errorf("status explains %q, next %v", rep.Unfinished.Explanation, rep.Unfinished.Next)
		}
		// Another run is refused while this one is unfinished.
		again := s.upgrade(nil, "run", "--binary", to, "--yes", "--json")
		if again.code != 2 || !containsAll(again.rep.Error, "unfinished") {
			t.Errorf("a second run while one is unfinished: %s", again)
		}
	}
	check := func(version, bin string) {
		t := s.t
		t.Helper()
		s.waitVersion(version, 10*time.Second)
		s.oneServer()
		s.samePIDs(pids)
		if !s.installedIs(bin) {
			t.Errorf("the installed binary is not ten %s", version)
		}
		s.weightRows() // integrity
	}
	for _, step := range StepNames {
		t.Run("rollback-after-"+step, func(t *testing.T) {
			s.t = t
			run(step)
			start := time.Now()
			rb := s.upgrade(nil, "rollback", "--yes", "--json")
			s.want(rb, 0, ResultRolledBack)
			bench(t, "crash after %s, rollback wall %s", step, time.Since(start).Round(time.Millisecond))
			check(fromVersion, from)
		})
	}
	for _, step := range StepNames {
		t.Run("resume-after-"+step, func(t *testing.T) {
			s.t = t
			run(step)
			r := s.upgrade(nil, "run", "--resume", "--yes", "--json", "--watch", "500ms")
			s.want(r, 0, ResultCommitted)
			check(toVersion, to)
			rb := s.upgrade(nil, "rollback", "--yes", "--json")
			s.want(rb, 0, ResultRolledBack)
			check(fromVersion, from)
		})
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// TestRunRestartContractRollback: a release with a contract migration can
// only be installed with the restart strategy; it passes the point of no
// return, and rolling it back restores the database backup so that the
// old version runs again.
func TestRunRestartContractRollback(t *testing.T) {
	s := newSite(t, fromVariant)
	s.start()
	r := s.upgrade(nil, "run", "--binary", tenBinary(t, "ten-1.2.0-contract"), "--yes", "--json", "--watch", "1s", "--strategy", "restart")
	s.want(r, 0, ResultCommitted)
	if !r.rep.PointOfNoReturn {
		t.Errorf("no point of no return recorded: %v", r.rep.Notes)
	}
	s.waitVersion("1.2.0", 5*time.Second)
	rb := s.upgrade(nil, "rollback", "--yes", "--json")
	s.want(rb, 0, ResultRolledBack)
	restored := false
	for _, n := range rb.rep.Notes {
		restored = restored || containsAll(n, "database restored from")
	}
	if !restored {
		t.Errorf("the rollback did not restore the database: %q", rb.rep.Notes)
	}
	s.waitVersion(fromVersion, 10*time.Second)
	s.waitTenants()
	s.oneServer()
	s.weightRows()
}

// TestRunCrashPointsStrategies kills ten-upgrade right after each step
// from the switch on with the proxy (Caddy) and restart strategies, and
// checks rollback and resume. The steps before the switch do and undo
// the same things whatever the strategy (TestRunCrashPoints has them);
// from the switch on, what there is to undo or finish differs.
func TestRunCrashPointsStrategies(t *testing.T) {
	for _, strategy := range []string{"proxy", "restart"} {
		t.Run(strategy, func(t *testing.T) {
			s := newSite(t, fromVariant)
			s.start()
			var args []string
			url := s.URL
			if strategy == "proxy" {
				p := s.startCaddy()
				args, url = p.Args, p.URL
			} else {
				args = []string{"--strategy", "restart"}
			}
			to := tenBinary(t, toVariant)
			for _, step := range []string{StepSwitch, StepPromote, StepWatch, StepCommit} {
				for _, then := range []string{"rollback", "resume"} {
					r := s.upgrade([]string{FaultEnv + "=after:" + step}, append([]string{"run", "--binary", to, "--yes", "--json", "--watch", "500ms"}, args...)...)
					if r.code != -9 {
						t.Fatalf("killed after %s: %s", step, r)
					}
					want := fromVersion
					if then == "rollback" {
						s.want(s.upgrade(nil, "rollback", "--yes", "--json"), 0, ResultRolledBack)
					} else {
						s.want(s.upgrade(nil, "run", "--resume", "--yes", "--json", "--watch", "500ms"), 0, ResultCommitted)
						want = toVersion
					}
					h, err := tensite.GetHealth(t0ctx(), url)
					if err != nil || h.Version != want {
						t.Fatalf("%s after a kill at %s: %+v %v", then, step, h, err)
					}
					s.oneServer()
					s.weightRows()
					if then == "resume" {
						s.want(s.upgrade(nil, "rollback", "--yes", "--json"), 0, ResultRolledBack)
					}
					if h, err := tensite.GetHealth(t0ctx(), url); err != nil || h.Version != fromVersion {
						t.Fatalf("back at 1.0.0: %+v %v", h, err)
					}
				}
			}
		})
	}
}
