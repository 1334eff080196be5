package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenement/ten/internal/cli/clitest"
	"github.com/tenement/ten/version"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return clitest.Run(t, run, args...)
}

func TestVersionAndHelpListSubcommands(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "ten-upgrade "+version.Version+"\n"; got != want {
		t.Fatalf("--version = %q, want %q", got, want)
	}

	root = newRootCmd()
	out.Reset()
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"check", "run", "rollback", "status", "history"} {
		if !strings.Contains(out.String(), "  "+sub+" ") {
			t.Errorf("--help does not list %q:\n%s", sub, out.String())
		}
	}
}

func TestCheckFlags(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		errHas string
	}{
		{[]string{"check", "--binary", "ten", "--to", "v1.2.3"}, "[binary to]"},
		{[]string{"check", "--binary", "ten", "--repo", "a/b"}, "[binary repo]"},
		{[]string{"check", "--max-size", "lots"}, "--max-size"},
		{[]string{"check", "extra-arg"}, "unknown command"},
	} {
		code, _, errOut := runCmd(t, tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.errHas) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, errOut, tt.errHas)
		}
	}
}

// TestCheckJSONUndecided runs the command where nothing can be found: the
// report is still JSON on stdout, and the exit status is 2.
func TestCheckJSONUndecided(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("TENEMENT_CONFIG", "")
	t.Setenv("PATH", dir)
	code, out, _ := runCmd(t, "check", "--json", "--binary", filepath.Join(dir, "missing"))
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	var rep struct {
		Schema   string `json:"schema"`
		Verdict  string `json:"verdict"`
		ExitCode int    `json:"exit_code"`
		Checks   []struct {
			Check, Status, Message string
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if rep.Schema != "ten-upgrade.check/v1" || rep.Verdict != "undecided" || rep.ExitCode != 2 || len(rep.Checks) == 0 {
		t.Errorf("report = %+v", rep)
	}
}

func TestCheckTextUndecided(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tenement.toml")
	if err := os.WriteFile(cfg, []byte("[settings]\ndata_dir = \""+dir+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	code, out, _ := runCmd(t, "check", "--config", cfg)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(out, "error installed   no installed ten found") || !strings.Contains(out, "UNDECIDED") {
		t.Errorf("output:\n%s", out)
	}
}

// TestRunNeedsConfirmation: without a terminal and without --yes, run and
// rollback refuse before touching anything.
func TestRunNeedsConfirmation(t *testing.T) {
	for _, cmd := range []string{"run", "rollback"} {
		code, _, errOut := runCmd(t, cmd, "--data-dir", t.TempDir())
		if code != 2 || !strings.Contains(errOut, "--yes") {
			t.Errorf("%s: exit %d, %q", cmd, code, errOut)
		}
	}
}

// TestStatusAndHistoryWithNothing: no server, no journal.
func TestStatusAndHistoryWithNothing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TENEMENT_CONFIG", "")
	t.Chdir(dir)
	code, out, errOut := runCmd(t, "status", "--data-dir", dir, "--json")
	if code != 0 || !strings.Contains(out, `"server": null`) || !strings.Contains(out, `"unfinished": null`) || !strings.Contains(out, `"restart"`) {
		t.Errorf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCmd(t, "history", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "no upgrades recorded") {
		t.Errorf("history: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCmd(t, "rollback", "--data-dir", dir, "--yes", "--json")
	if code != 2 || !strings.Contains(out, "nothing to roll back to") {
		t.Errorf("rollback: exit %d\n%s", code, out)
	}
}

// TestToMustBeAVersion: --to goes into GitHub API paths; check, run and
// self-update refuse anything but latest or a version, naming the flag,
// before they look for anything.
func TestToMustBeAVersion(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"check", "--repo", "a/b", "--to", "../x"},
		{"run", "--data-dir", dir, "--yes", "--to", "../x"},
		{"self-update", "--repo", "a/b", "--to", "../x"},
		{"check", "--repo", "a/b", "--to", "v1.0.0/../../user"},
	} {
		code, _, errOut := runCmd(t, args...)
		if code != 2 || !strings.Contains(errOut, "--to") || !strings.Contains(errOut, "not a release version") {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming --to", args, code, errOut)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("run --to ../x created %v", ents)
	}
}
