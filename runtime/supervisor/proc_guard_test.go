package supervisor

import (
	"syscall"
	"testing"
)

// kill(2) reads pid -1 as every process and 0 as the caller's group: a pid
// of 0 or 1 (a corrupt row, or a namespaced tenant's own view of itself)
// must never be signalled as a tenant. Signal 0 only checks, so the test
// itself is harmless even if the guard were missing.
func TestSignalRefusesPIDsThatAreNoTenant(t *testing.T) {
	for _, pid := range []int{0, 1} {
		if killGroup(pid, syscall.Signal(0)) {
			t.Errorf("killGroup(%d) signalled a group", pid)
		}
		if err := signal(&process{pid: pid}, syscall.Signal(0)); err == nil {
			t.Errorf("signal(pid %d) = nil, want a refusal", pid)
		}
	}
}
