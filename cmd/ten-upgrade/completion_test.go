package main

import (
	"strings"
	"testing"

	"github.com/tenement/ten/internal/mangen/mangentest"
)

func TestCompletionScripts(t *testing.T) {
	for _, tt := range []struct {
		shell string
		want  []string
	}{
		{"zsh", []string{"#compdef ten-upgrade\n", "compdef _ten-upgrade ten-upgrade"}},
		{"bash", []string{"# bash completion V2 for ten-upgrade", "complete -o default -F __start_ten-upgrade ten-upgrade"}},
		{"fish", []string{"# fish completion for ten-upgrade", "complete -c ten-upgrade "}},
		{"powershell", []string{"Register-ArgumentCompleter", "-CommandName 'ten-upgrade'"}},
	} {
		t.Run(tt.shell, func(t *testing.T) {
			code, out, errOut := runCmd(t, "completion", tt.shell)
			if code != 0 || errOut != "" {
				t.Fatalf("ten-upgrade completion %s: exit %d, stderr %q", tt.shell, code, errOut)
			}
			if len(out) < 1000 {
				t.Fatalf("ten-upgrade completion %s printed only %d bytes:\n%s", tt.shell, len(out), out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("ten-upgrade completion %s lacks %q", tt.shell, w)
				}
			}
		})
	}
}

// The scripts ask `ten-upgrade __complete` at completion time.
func TestDynamicCompletion(t *testing.T) {
	_, out, _ := runCmd(t, "__complete", "")
	for _, sub := range []string{"check", "run", "rollback", "status", "history", "completion"} {
		if !strings.Contains(out, "\n"+sub+"\t") && !strings.HasPrefix(out, sub+"\t") {
			t.Errorf("`ten-upgrade __complete ''` does not offer %q:\n%s", sub, out)
		}
	}
	_, out, _ = runCmd(t, "__complete", "check", "--pub")
	if !strings.Contains(out, "--public-key") {
		t.Errorf("`ten-upgrade __complete check --pub` does not offer --public-key:\n%s", out)
	}
}

// TestManPages generates ten-upgrade's man pages and checks them. `make
// man` runs it with TEN_MAN_DIR set, to write them there.
func TestManPages(t *testing.T) {
	mangentest.Check(t, newRootCmd, []string{"ten-upgrade.1", "ten-upgrade-check.1", "ten-upgrade-rollback.1", "ten-upgrade-completion-zsh.1"})
}
