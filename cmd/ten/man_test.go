package main

import (
	"testing"

	"github.com/tenement/ten/internal/mangen/mangentest"
)

// TestManPages generates ten's man pages and checks them. `make man` runs
// it with TEN_MAN_DIR set, to write them there.
func TestManPages(t *testing.T) {
	mangentest.Check(t, newRootCmd, []string{"ten.1", "ten-serve.1", "ten-config.1", "ten-completion-bash.1"})
}
