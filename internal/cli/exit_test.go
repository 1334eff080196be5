package cli

import (
	"bytes"
	"errors"
	"testing"

	"github.com/spf13/cobra"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		want    int
		wantErr string
	}{
		{"success", nil, 0, ""},
		{"contract status, already reported", &ExitError{Code: 3}, 3, ""},
		{"contract status with a message", &ExitError{Code: 2, Err: errors.New("bad flag")}, 2, "tool: bad flag\n"},
		{"any other error", errors.New("boom"), 7, "tool: boom\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := &cobra.Command{Use: "tool", SilenceUsage: true, SilenceErrors: true,
				RunE: func(*cobra.Command, []string) error { return tc.err }}
			var stdout, stderr bytes.Buffer
			if got := Run(root, nil, &stdout, &stderr, 7); got != tc.want {
				t.Errorf("exit status %d, want %d", got, tc.want)
			}
			if stderr.String() != tc.wantErr {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.wantErr)
			}
		})
	}
}

func TestEnvOr(t *testing.T) {
	tests := []struct {
		name, env, want string
		set             bool
	}{
		{"unset", "", "default", false},
		{"empty", "", "default", true},
		{"set", "http://10.0.0.1:8080", "http://10.0.0.1:8080", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.set {
				t.Setenv("TEN_CLI_TEST", tt.env)
			}
			if got := EnvOr("TEN_CLI_TEST", "default"); got != tt.want {
				t.Errorf("EnvOr = %q, want %q", got, tt.want)
			}
		})
	}
}
