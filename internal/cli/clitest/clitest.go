// Package clitest runs ten's and ten-upgrade's command lines in-process
// in tests and checks what they share: the shell completion that cobra
// generates and answers for both.
package clitest

import (
	"bytes"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
)

// RunFunc is a program's run: it executes args and returns the exit
// status.
type RunFunc func(args []string, stdout, stderr io.Writer) int

// Run runs the command line in-process and returns its exit status,
// stdout and stderr.
func Run(t testing.TB, run RunFunc, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// CompletionScripts checks that `NAME completion SHELL` prints a whole
// script (not an error or a stub) for bash, zsh, fish and powershell, one
// that registers itself for NAME as cobra's scripts do.
func CompletionScripts(t *testing.T, name string, run RunFunc) {
	t.Helper()
	want := map[string][]string{
		"bash":       {"# bash completion V2 for " + name, "__start_" + name + "()", "complete -o default -F __start_" + name + " " + name},
		"zsh":        {"#compdef " + name + "\n", "compdef _" + name + " " + name},
		"fish":       {"# fish completion for " + name, "complete -c " + name + " "},
		"powershell": {"Register-ArgumentCompleter", "-CommandName '" + name + "'"},
	}
	for _, shell := range slices.Sorted(maps.Keys(want)) {
		wants := want[shell]
		t.Run(shell, func(t *testing.T) {
			code, out, errOut := Run(t, run, "completion", shell)
			if code != 0 || errOut != "" {
				t.Fatalf("%s completion %s: exit %d, stderr %q", name, shell, code, errOut)
			}
			if len(out) < 1000 {
				t.Fatalf("%s completion %s printed only %d bytes:\n%s", name, shell, len(out), out)
			}
			for _, w := range wants {
				if !strings.Contains(out, w) {
					t.Errorf("%s completion %s lacks %q", name, shell, w)
				}
			}
		})
	}
}

// DynamicCompletion checks what the scripts ask at completion time:
// `NAME __complete ”` offers every one of subs, and `NAME __complete
// partial...` offers flag.
func DynamicCompletion(t *testing.T, name string, run RunFunc, subs, partial []string, flag string) {
	t.Helper()
	_, out, _ := Run(t, run, "__complete", "")
	for _, sub := range subs {
		if !strings.Contains(out, "\n"+sub+"\t") && !strings.HasPrefix(out, sub+"\t") {
			t.Errorf("`%s __complete ''` does not offer %q:\n%s", name, sub, out)
		}
	}
	_, out, _ = Run(t, run, append([]string{"__complete"}, partial...)...)
	if !strings.Contains(out, flag) {
		t.Errorf("`%s __complete %s` does not offer %s:\n%s", name, strings.Join(partial, " "), flag, out)
	}
}
