package config

import "testing"

// A command split with shell-words rules (tenement hypervisor.rs:260-275)
// that cannot be split is reported by config --check, with its line, not
// first found at spawn time.
func TestValidationCommandSplitAsTenement(t *testing.T) {
	runDiagCases(t, []diagCase{{
		name: "unterminated double quote",
		src: `[service.api]
command = "./api --name \"x"
`,
		wants: []want{{SeverityError, 2, "service.api.command",
			`service.api.command: unterminated double quote (") opened at character 14 in "./api --name \"x"`, "close the quote"}},
	}, {
		name: "unterminated single quote",
		src: `[service.api]
command = "python3 -c 'print(1)"
`,
		wants: []want{{SeverityError, 2, "service.api.command", "unterminated single quote (') opened at character 12", "args = [...]"}},
	}, {
		name: "only a comment",
		src: `[service.api]
command = "# ./api"
`,
		wants: []want{{SeverityError, 2, "service.api.command", "has no words outside a comment", "write the program first"}},
	}, {
		// With args, the command is not split: tenement passes it as is.
		name: "quote in a command with args",
		src: `[service.api]
command = "./it's"
args = ["--x"]
`,
	}, {
		name: "bad env_passthrough name",
		src: `[service.api]
command = "./api"
env_passthrough = ["OK", "A=B"]
`,
		wants: []want{{SeverityError, 3, "service.api.env_passthrough", `"A=B" cannot be an environment variable name`, "variable names"}},
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
	}}, nil)
}
