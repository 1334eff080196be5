package compat

import (
	"strings"
	"testing"
)

func TestEvaluateConfig(t *testing.T) {
	deprecated := Diagnostic{Severity: "warning", File: "/etc/tenement/tenement.toml", Line: 7, Key: "service.api.runtime",
		Message: "runtime is deprecated; it is the old name of isolation", Hint: `rename "runtime" to "isolation"`}
	unknown := Diagnostic{Severity: "error", File: "/etc/tenement/tenement.toml", Line: 3, Key: "service.api.helth", Message: "unknown key", Hint: `did you mean "health"?`}
	tests := []struct {
		name   string
		rep    ConfigReport
		strict bool
		want   []string // "status message-part"
	}{
		{"valid", ConfigReport{OK: true, File: "/etc/tenement/tenement.toml"}, false,
			[]string{"ok /etc/tenement/tenement.toml is valid"}},
		{"warning", ConfigReport{OK: true, Warnings: []Diagnostic{deprecated}}, false,
			[]string{`warn service.api.runtime: runtime is deprecated; it is the old name of isolation (tenement.toml:7; rename "runtime" to "isolation")`}},
		{"warning with --strict", ConfigReport{OK: true, Warnings: []Diagnostic{deprecated}}, true,
			[]string{"fail service.api.runtime", "[--strict]"}},
		{"error and warning", ConfigReport{Errors: []Diagnostic{unknown}, Warnings: []Diagnostic{deprecated}}, false,
			[]string{`fail service.api.helth: unknown key (tenement.toml:3; did you mean "health"?)`, "warn service.api.runtime"}},
		{"not ok without diagnostics", ConfigReport{File: "/x/tenement.toml"}, false,
			[]string{"fail tenement.toml: rejected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EvaluateConfig(tt.rep, tt.strict)
			var lines []string
			for _, r := range got {
				if r.Check != NameConfig {
					t.Errorf("check name %q", r.Check)
				}
				lines = append(lines, string(r.Status)+" "+r.Message)
			}
			joined := strings.Join(lines, "\n")
			for _, w := range tt.want {
				if !strings.Contains(joined, w) {
					t.Errorf("results\n%s\ndo not contain %q", joined, w)
				}
			}
			if tt.name == "error and warning" && len(got) != 2 {
				t.Errorf("want one line per diagnostic, got %d", len(got))
			}
		})
	}
}

func TestFormatDiagnostic(t *testing.T) {
	for _, tt := range []struct {
		d    Diagnostic
		want string
	}{
		{Diagnostic{Message: "bad"}, "bad"},
		{Diagnostic{Message: "bad", Hint: "fix it"}, "bad (fix it)"},
		{Diagnostic{Message: "bad", File: "a/b.toml"}, "bad (b.toml)"},
		{Diagnostic{Message: "bad", File: "b.toml", Line: 2, Key: "k"}, "k: bad (b.toml:2)"},
	} {
		if got := FormatDiagnostic(tt.d); got != tt.want {
			t.Errorf("FormatDiagnostic(%+v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
