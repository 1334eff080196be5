package orchestrator

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/orchestrator/journal"
)

func TestServeArgs(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{
		{"serve --port 8080 --config c", "serve --port 9000 --config c"},
		{"serve --port=8080", "serve --port=9000"},
		{"serve -p 8080 --host 127.0.0.1", "serve -p 9000 --host 127.0.0.1"},
		{"serve -p8080", "serve -p9000"},
		{"--config c serve", "--config c serve --port 9000"},
	} {
		got := strings.Join(serveArgs(strings.Fields(tt.in), 9000), " ")
		if got != tt.want {
			t.Errorf("serveArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestServeEnvDropsHandoffAndNonce(t *testing.T) {
	got := serveEnv([]string{"PATH=/bin", "TEN_HEALTH_NONCE=old", "TEN_LISTEN_FDS=1", "NOTIFY_SOCKET=/run/x", "TEN_READY_FD=4", "A=b"}, "TEN_HEALTH_NONCE=new")
	want := []string{"PATH=/bin", "A=b", "TEN_HEALTH_NONCE=new"}
	if !slices.Equal(got, want) {
		t.Errorf("serveEnv = %v, want %v", got, want)
	}
}

func TestChooseStrategy(t *testing.T) {
	handoffSrv := &RunningServer{Version: "1.0.0", Capabilities: []string{"handoff"}}
	plainSrv := &RunningServer{Version: "0.9.0"}
	for _, tt := range []struct {
		want    string
		old     *RunningServer
		proxy   string
		overlap bool
		got     string
		errHas  string
	}{
		{"auto", handoffSrv, "none", true, "handoff", ""},
		{"auto", plainSrv, "caddy", true, "proxy", ""},
		{"auto", plainSrv, "none", true, "", "no proxy is configured"},
		{"auto", handoffSrv, "none", false, "", "--strategy restart"},
		{"auto", nil, "none", true, "", "--strategy restart"},
		{"handoff", plainSrv, "none", true, "", "does not support handoff"},
		{"proxy", handoffSrv, "none", true, "", "needs a proxy"},
		{"proxy", handoffSrv, "nginx", false, "", "cannot share the database"},
		{"restart", nil, "none", false, "restart", ""},
		{"bogus", handoffSrv, "none", true, "", "unknown strategy"},
	} {
		s, err := chooseStrategy(tt.want, tt.old, tt.proxy, tt.overlap)
		got := ""
		if s != nil {
			got = s.name()
		}
		if got != tt.got || (tt.errHas == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.errHas)) {
			t.Errorf("chooseStrategy(%s, %v, %s, %v) = %q, %v; want %q, %q", tt.want, tt.old != nil, tt.proxy, tt.overlap, got, err, tt.got, tt.errHas)
		}
	}
}

// TestPlanMatchesRunner: the plan shown by --dry-run and the confirmation
// prompt lists exactly the steps the runner executes, in order, for every
// strategy.
func TestPlanMatchesRunner(t *testing.T) {
	old := &RunningServer{PID: 42, Version: "1.0.0", Addr: "127.0.0.1:8080", Args: []string{"serve"}}
	for _, s := range strategies {
		t.Run(s.name(), func(t *testing.T) {
			p := &Params{Installed: "/usr/local/bin/ten", Staged: "/usr/local/bin/.ten.new", StateDir: "/var/lib/ten/upgrade",
				DataDir: "/var/lib/ten", From: "1.0.0", To: "1.1.0", Strategy: s.name(), Old: old, Port: 9000, Nonce: "n"}
			u := &upgrade{p: p, s: s}
			var planned, run []string
			for _, ps := range u.plan() {
				planned = append(planned, ps.Name)
				if ps.Does == "" || ps.Undo == "" {
					t.Errorf("plan step %s says nothing of what it does or undoes: %+v", ps.Name, ps)
				}
			}
			for _, a := range u.actions() {
				run = append(run, a.Name)
			}
			if !slices.Equal(planned, run) {
				t.Errorf("plan %v, runner %v", planned, run)
			}
			if !slices.Equal(run, StepNames) {
				t.Errorf("runner %v, StepNames %v", run, StepNames)
			}
		})
	}
}

// TestAvailableStrategies: what `ten-upgrade status` offers, best first.
func TestAvailableStrategies(t *testing.T) {
	handoffSrv := &RunningServer{Version: "1.0.0", Capabilities: []string{"handoff"}}
	plainSrv := &RunningServer{Version: "0.9.0"}
	for _, tt := range []struct {
		old   *RunningServer
		proxy string
		want  []string
	}{
		{handoffSrv, "caddy", []string{"handoff", "proxy", "restart"}},
		{handoffSrv, "none", []string{"handoff", "restart"}},
		{plainSrv, "nginx", []string{"proxy", "restart"}},
		{plainSrv, "", []string{"restart"}},
		{nil, "caddy", []string{"restart"}},
	} {
		if got := availableStrategies(tt.old, tt.proxy); !slices.Equal(got, tt.want) {
			t.Errorf("availableStrategies(%v, %q) = %v, want %v", tt.old != nil, tt.proxy, got, tt.want)
		}
	}
}

func TestExplain(t *testing.T) {
	now := time.Now()
	steps := []journal.Step{
		{Seq: 1, Name: StepLock, State: journal.StepDone},
		{Seq: 2, Name: StepFetch, State: journal.StepDone},
		{Seq: 3, Name: StepCompat, State: journal.StepStarted, StartedAt: now, Attempts: 1},
	}
	u := &journal.Upgrade{ID: 1, State: journal.StateRunning}
	msg, next := explain(u, steps, 0, false)
	if !strings.Contains(msg, "during step compat") || !strings.Contains(msg, "done: lock, fetch") || len(next) != 2 {
		t.Errorf("explain = %q, %v", msg, next)
	}
	steps[2].State = journal.StepUndoFailed
	steps[2].UndoError = "disk on fire"
	u.State = journal.StateFailed
	msg, next = explain(u, steps, 0, false)
	if !strings.Contains(msg, "disk on fire") || !slices.Equal(next, []string{"ten-upgrade rollback"}) {
		t.Errorf("explain = %q, %v", msg, next)
	}
	if msg, _ := explain(u, steps, 42, true); !strings.Contains(msg, "pid 42") {
		t.Errorf("locked: %q", msg)
	}
}

func TestDialAddr(t *testing.T) {
	for in, want := range map[string]string{"0.0.0.0:80": "127.0.0.1:80", "[::]:80": "[::1]:80", ":80": "127.0.0.1:80", "10.1.2.3:8": "10.1.2.3:8"} {
		if got := dialAddr(in); got != want {
			t.Errorf("dialAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
