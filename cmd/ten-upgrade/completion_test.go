package main

import (
	"testing"

	"github.com/tenement/ten/internal/cli/clitest"
	"github.com/tenement/ten/internal/mangen/mangentest"
)

func TestCompletionScripts(t *testing.T) {
	clitest.CompletionScripts(t, "ten-upgrade", run)
}

// The scripts ask `ten-upgrade __complete` at completion time.
func TestDynamicCompletion(t *testing.T) {
	clitest.DynamicCompletion(t, "ten-upgrade", run,
		[]string{"check", "run", "rollback", "status", "history", "completion"},
		[]string{"check", "--pub"}, "--public-key")
}

// TestManPages generates ten-upgrade's man pages and checks them. `make
// man` runs it with TEN_MAN_DIR set, to write them there.
func TestManPages(t *testing.T) {
	mangentest.Check(t, newRootCmd, []string{"ten-upgrade.1", "ten-upgrade-check.1", "ten-upgrade-rollback.1", "ten-upgrade-completion-zsh.1"})
}
