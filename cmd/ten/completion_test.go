package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tenement/ten/internal/cli/clitest"
)

// With TEN_TEST_RUN_AS_TEN set, the test binary is the ten CLI, so shell
// scripts under test can run `ten` without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("TEN_TEST_RUN_AS_TEN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// runTen runs ten in-process and returns its exit status, stdout and
// stderr.
func runTen(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return clitest.Run(t, run, args...)
}

func TestCompletionScripts(t *testing.T) {
	clitest.CompletionScripts(t, "ten", run)
}

// The scripts ask `ten __complete` at completion time; it must know the
// subcommands and their flags.
func TestDynamicCompletion(t *testing.T) {
	clitest.DynamicCompletion(t, "ten", run,
		[]string{"serve", "spawn", "ps", "config", "migrate", "completion"},
		[]string{"serve", "--ha"}, "--handoff-timeout")
}

// The bash script, sourced into a real bash, completes `ten se` to `serve`
// by running this test binary as ten.
func TestBashCompletionCompletesSubcommands(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil || runtime.GOOS == "windows" {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(dir, "ten")); err != nil {
		t.Fatal(err)
	}
	_, script, _ := runTen(t, "completion", "bash")
	scriptPath := filepath.Join(dir, "ten.bash")
	if err := os.WriteFile(scriptPath, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	// The script needs the bash-completion package's word splitting; a
	// minimal stand-in is used where that package is not installed.
	const driver = `
if [ -r /usr/share/bash-completion/bash_completion ]; then
  . /usr/share/bash-completion/bash_completion
fi
if ! declare -F _get_comp_words_by_ref >/dev/null; then
  _get_comp_words_by_ref() {
    cur="${COMP_WORDS[COMP_CWORD]}"; prev="${COMP_WORDS[COMP_CWORD-1]}"
    words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
  }
fi
. "$1"
COMP_WORDS=(ten se); COMP_CWORD=1; COMP_LINE="ten se"; COMP_POINT=${#COMP_LINE}; COMP_TYPE=9
__start_ten
printf '%s\n' "${COMPREPLY[@]}"
`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", driver, "driver", scriptPath)
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "TEN_TEST_RUN_AS_TEN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, stderr.String())
	}
	if got := strings.Fields(string(out)); len(got) != 1 || got[0] != "serve" {
		t.Fatalf("completing `ten se` gave %q, want [serve]; stderr:\n%s", got, stderr.String())
	}
}
