package testbin

import (
	"os"
	"os/exec"
	"testing"
)

// HelperEnv makes a test binary run as a helper process instead of its
// tests (see MainWithHelper); its value is the helper's mode.
const HelperEnv = "TESTBIN_HELPER"

// MainWithHelper is Main for a test binary that doubles as a helper
// process, for tests of what happens to a real process (killed, stopped,
// handed a socket): started by Helper, it runs helper with the mode and
// returns its exit status without running any test.
//
//	func TestMain(m *testing.M) { os.Exit(testbin.MainWithHelper(m, helper)) }
func MainWithHelper(m *testing.M, helper func(mode string) int) int {
	if mode := os.Getenv(HelperEnv); mode != "" {
		return helper(mode)
	}
	return Main(m)
}

// Helper returns a command that re-runs this test binary as a helper
// process in mode, with env (KEY=VALUE) added to its environment.
func Helper(mode string, env ...string) *exec.Cmd {
	// -test.run=^$: should the binary have no MainWithHelper, it runs no
	// test rather than every test again.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = HelperEnviron(mode, env...)
	return cmd
}

// HelperEnviron is the environment of a helper process in mode, for tests
// that start the test binary themselves (through a shell, or the code
// under test).
func HelperEnviron(mode string, env ...string) []string {
	return append(append(os.Environ(), HelperEnv+"="+mode), env...)
}
