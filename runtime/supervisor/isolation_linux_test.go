//go:build linux

package supervisor

import (
	"strings"
	"testing"
)

// Namespace isolation is the default (tenement runtime/mod.rs:43-45). A
// server that is not root cannot provide it: the spawn fails, loudly and
// with the fix, as tenement's fails on unshare(2) (runtime/namespace.rs),
// and never runs the tenant unisolated instead.
func TestNamespaceIsolationNeedsRoot(t *testing.T) {
	tests := []struct {
		level string
		euid  int
		want  string // "" means allowed
	}{
		{"namespace", 0, ""},
		{"namespace", 1000, `isolation "namespace" (the default) needs root`},
		{"process", 1000, ""},
		{"", 1000, ""},
		{"sandbox", 0, `isolation "sandbox" is not supported`},
	}
	for _, tt := range tests {
		err := checkIsolationAs(tt.level, tt.euid)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q as %d: %v", tt.level, tt.euid, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q as %d: %v, want %q", tt.level, tt.euid, err, tt.want)
		case tt.want != "" && tt.level == "namespace" && !strings.Contains(err.Error(), `set isolation = "process"`):
			t.Errorf("%q as %d: %v does not say how to fix it", tt.level, tt.euid, err)
		}
	}
}
