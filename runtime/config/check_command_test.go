package config

import (
	"slices"
	"testing"
)

// A command split with shell-words rules (tenement hypervisor.rs:260-275)
// that cannot be split is reported by config --check, with its line, not
// first found at spawn time.
func TestValidationCommandSplitAsTenement(t *testing.T) {
	runDiagCases(t, slices.Concat(keyCases([]keyCase{
		{"unterminated single quote", "service.api", `command = "python3 -c 'print(1)"`, SeverityError, "unterminated single quote (') opened at character 12", "args = [...]"},
		{"only a comment", "service.api", `command = "# ./api"`, SeverityError, "has no words outside a comment", "write the program first"},
		{"bad env_passthrough name", "service.api", `env_passthrough = ["OK", "A=B"]`, SeverityError, `"A=B" cannot be an environment variable name`, "variable names"},
	}), []diagCase{{
		name: "unterminated double quote",
		src: `[service.api]
command = "./api --name \"x"
`,
		wants: []want{{SeverityError, 2, "service.api.command",
			`service.api.command: unterminated double quote (") opened at character 14 in "./api --name \"x"`, "close the quote"}},
	}, {
		// With args, the command is not split: tenement passes it as is.
		name: "quote in a command with args",
		src: `[service.api]
command = "./it's"
args = ["--x"]
`,
	}, {
		name: "negative max_instances",
		src: `[settings]
max_instances = -1
[service.api]
command = "./api"
max_instances = -2
`,
		wants: []want{
			{SeverityError, 2, "settings.max_instances", "must not be negative", ""},
			{SeverityError, 5, "service.api.max_instances", "must not be negative", ""},
		},
	}}), nil)
}
