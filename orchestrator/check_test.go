package orchestrator

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tenement/ten/compat"
	rt "github.com/tenement/ten/orchestrator/release/releasetest"
)

func TestReportVerdict(t *testing.T) {
	tests := []struct {
		statuses []compat.Status
		verdict  Verdict
		code     int
	}{
		{nil, VerdictSafe, 0},
		{[]compat.Status{"ok", "warn"}, VerdictSafe, 0},
		{[]compat.Status{"ok", "error"}, VerdictUndecided, 2},
		{[]compat.Status{"error", "fail"}, VerdictUnsafe, 1},
		{[]compat.Status{"fail", "ok"}, VerdictUnsafe, 1},
	}
	for _, tt := range tests {
		r := &CheckReport{}
		for _, s := range tt.statuses {
			r.add(compat.Result{Check: "x", Status: s})
		}
		r.finish()
		if r.Verdict != tt.verdict || r.ExitCode != tt.code {
			t.Errorf("%v: %s %d, want %s %d", tt.statuses, r.Verdict, r.ExitCode, tt.verdict, tt.code)
		}
	}
}

func TestReportText(t *testing.T) {
	yes, no := true, false
	r := &CheckReport{
		Installed:              &InstalledInfo{Version: "1.2.0"},
		Candidate:              &CandidateInfo{Version: "1.3.0"},
		OverlapPossible:        &yes,
		RollbackNeedsDBRestore: &no,
	}
	r.add(
		compat.OK("signature", "checksums.txt signed by key RWQ..."),
		compat.Warn("config", "deprecated key service.api.runtime (tenement.toml:7)"),
	)
	r.finish()
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "ok    signature   checksums.txt signed by key RWQ...\n" +
		"warn  config      deprecated key service.api.runtime (tenement.toml:7)\n" +
		"SAFE to roll out: ten 1.2.0 -> 1.3.0; zero-downtime overlap possible; 1 warning(s)\n"
	if b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}

	r = &CheckReport{}
	r.add(compat.Fail("version", "1.2.0 -> 1.1.0 is a downgrade; use ten-upgrade rollback"))
	r.finish()
	b.Reset()
	r.WriteText(&b) //nolint:errcheck // bytes.Buffer
	if !strings.HasPrefix(b.String(), "fail  version     1.2.0 -> 1.1.0 is a downgrade; use ten-upgrade rollback\nNOT SAFE: 1 check(s) failed\n") {
		t.Errorf("text:\n%s", b.String())
	}
}

// scriptedTen answers like an installed ten 1.0.0.
type scriptedTen struct{}

func (scriptedTen) Run(_ context.Context, c compat.Command) (compat.Output, error) {
	switch strings.Join(c.Args, " ") {
	case "--version":
		return compat.Output{Stdout: []byte("ten 1.0.0\n")}, nil
	case "version --json":
		return compat.Output{Stdout: []byte(`{"version":"1.0.0","api_version":"1.0","schema_version":2}`)}, nil
	}
	return compat.Output{ExitCode: 2}, nil
}

// TestCheckSetupErrors covers what goes wrong before any candidate runs;
// each ends undecided (exit 2) with one line that says what to do.
func TestCheckSetupErrors(t *testing.T) {
	dir := t.TempDir()
	installed := filepath.Join(dir, "ten")
	// A header that passes the platform check; scriptedTen answers for it.
	if err := os.WriteFile(installed, rt.FakeELF(runtime.GOARCH), 0o755); err != nil {
		t.Fatal(err)
	}
	writeConfig := func(t *testing.T, body string) string {
		p := filepath.Join(t.TempDir(), "tenement.toml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := func(cfg string) CheckOptions {
		return CheckOptions{
			Config: cfg, Installed: installed, Runner: scriptedTen{},
			Getenv: func(string) string { return "" }, Cwd: dir,
			LookPath: func(string) (string, error) { return "", fs.ErrNotExist },
		}
	}
	tests := []struct {
		name  string
		opts  func(t *testing.T) CheckOptions
		check string
		msg   []string
	}{
		{"no config anywhere", func(t *testing.T) CheckOptions {
			o := base("")
			o.Cwd = t.TempDir()
			o.Binary = installed
			return o
		}, "config", []string{"no tenement.toml found", "--config"}},
		{"no installed binary", func(t *testing.T) CheckOptions {
			o := base(writeConfig(t, "[settings]\ndata_dir = \"/tmp/x\"\n"))
			o.Installed = ""
			o.Binary = installed
			return o
		}, "installed", []string{"no installed ten found", "--installed PATH", "binary_path"}},
		{"no candidate source", func(t *testing.T) CheckOptions {
			return base(writeConfig(t, "[settings]\ndata_dir = \"/tmp/x\"\n"))
		}, "release", []string{"no candidate", "--binary FILE", "--repo owner/name"}},
		{"unparsable pinned key", func(t *testing.T) CheckOptions {
			return base(writeConfig(t, "[upgrade]\nrepo = \"tenement/ten\"\npublic_key = \"RWQnope\"\n"))
		}, "signature", []string{"pinned public key"}},
		{"missing local binary", func(t *testing.T) CheckOptions {
			o := base(writeConfig(t, "[settings]\ndata_dir = \"/tmp/x\"\n"))
			o.Binary = filepath.Join(t.TempDir(), "missing")
			return o
		}, "release", []string{"--binary", "no such file"}},
		{"unreachable GitHub", func(t *testing.T) CheckOptions {
			o := base(writeConfig(t, "[upgrade]\nrepo = \"tenement/ten\"\n"))
			o.GitHubAPI = "http://127.0.0.1:1"
			return o
		}, "release", []string{"cannot reach http://127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Check(context.Background(), tt.opts(t))
			if rep.Verdict != VerdictUndecided || rep.ExitCode != 2 {
				dumpReport(t, rep)
				t.Fatalf("verdict %s exit %d, want undecided 2", rep.Verdict, rep.ExitCode)
			}
			wantCheck(t, rep, tt.check, compat.StatusError, tt.msg...)
		})
	}
}

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
			if err := checkStrategyName("upgrade.strategy", name); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}
