package config

import "testing"

func TestLevenshtein(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"health", "health", 0},
		{"helth", "health", 1},
		{"healht", "health", 2},
		{"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		if got := levenshtein(tt.a, tt.b); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := sortedKeys(serviceFields)
	tests := []struct {
		name string
		want string
	}{
		{"helth", `did you mean "health"?`},
		{"Command", `did you mean "command"?`},
		{"comand", `did you mean "command"?`},
		{"workdri", `did you mean "workdir"?`},
		{"idle_timout", `did you mean "idle_timeout"?`},
		{"cmd", `did you mean "command"?`},
		{"environment", `did you mean "env"?`},
		{"working_dir", `did you mean "workdir"?`},
		{"zzz", ""},
		{"ab", ""}, // too short for two edits
		{"x", ""},  // likewise
		{"timeout", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.name, keys); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
