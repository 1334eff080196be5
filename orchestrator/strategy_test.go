package orchestrator

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/tenement/ten/compat"
	rt "github.com/tenement/ten/orchestrator/release/releasetest"
	"github.com/tenement/ten/runtime/config"
)

// TestValidation: [upgrade] strategy is ten-upgrade's key. ten stores it
// without judging it, so ten-upgrade reports an unknown value, naming the
// key and the allowed values, before an upgrade starts.
func TestValidation(t *testing.T) {
	const unsupported = `upgrade.strategy: unsupported value "blue-green"; supported values are "auto", "handoff", "proxy" and "restart"`
	dir := t.TempDir()
	installed := filepath.Join(dir, "ten")
	if err := os.WriteFile(installed, rt.FakeELF(runtime.GOARCH), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "tenement.toml")
	body := "[settings]\ndata_dir = \"" + filepath.Join(dir, "data") + "\"\n[upgrade]\nstrategy = \"blue-green\"\n"
	if err := os.WriteFile(cfgFile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	co := CheckOptions{
		Config: cfgFile, Installed: installed, Runner: scriptedTen{},
		Getenv: func(string) string { return "" }, Cwd: dir,
		LookPath: func(string) (string, error) { return "", fs.ErrNotExist },
	}

	t.Run("upgrade", func(t *testing.T) {
		rep := Check(context.Background(), co)
		wantCheck(t, rep, compat.NameConfig, compat.StatusFail, unsupported, "tenement.toml")
		if rep.Verdict != VerdictUnsafe {
			t.Errorf("verdict %s, want unsafe", rep.Verdict)
		}
	})
	for _, tt := range []struct {
		name, flag, want string
	}{
		{"run refuses the config's strategy", "", unsupported + " (tenement.toml)"},
		{"run refuses the flag's strategy", "blue", `--strategy: unsupported value "blue"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep := Run(context.Background(), RunOptions{Check: co, Strategy: tt.flag, StateDir: filepath.Join(dir, "state")})
			if rep.Result != ResultRefused || !strings.Contains(rep.Error, tt.want) {
				t.Fatalf("run: %s %q, want refused with %q", rep.Result, rep.Error, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
				t.Error("a refused run created the state directory")
			}
		})
	}
	t.Run("every upgrade strategy", func(t *testing.T) {
		for _, name := range StrategyNames {
			cfg := config.Default()
			cfg.Upgrade.Strategy = name
			if err := configStrategyError(cfg); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
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
