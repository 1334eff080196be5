package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestValidation(t *testing.T) {
	runDiagCases(t, slices.Concat(keyCases([]keyCase{
		{"invalid user", "service.api", `user = "Bad User"`, SeverityError, `"Bad User" is not a valid user name`, "tenement"},
		{"unsupported isolation", "service.api", `isolation = "sandbox"`, SeverityError, `unsupported value "sandbox"; supported values are "process" and "namespace"`, `"namespace"`},
		{"misspelt isolation", "service.api", `isolation = "Namespace"`, SeverityError, `unsupported value "Namespace"`, `did you mean "namespace"?`},
		{"unsupported restart", "service.api", `restart = "on_failure"`, SeverityError, `supported values are "always", "on-failure" and "never"`, `did you mean "on-failure"?`},
		{"cpu shares out of range", "service.api", `cpu_shares = 20000`, SeverityError, "1 to 10000", ""},
		{"storage_enforce without a quota", "service.api", `storage_enforce = true`, SeverityError, "needs a storage_quota_mb", "set storage_quota_mb"},
		{"port out of range", "service.api", `port = 70000`, SeverityError, "not a TCP port", ""},
		{"health without slash", "service.api", `health = "health"`, SeverityWarning, "not an absolute URL path", `"/health"`},
		{"tilde data dir", "settings", `data_dir = "~/tenement"`, SeverityError, "starts with ~", "absolute path"},
		{"tls ports", "settings.tls", `https_port = 0`, SeverityError, "not a TCP port", ""},
	}), tableCases([]tableCase{
		{"missing command", "service.api", `health = "/health"`, "service.api: command is required", "command ="},
		{"service named after the upgrader's state directory", "service.upgrade", `command = "./api"`, `service name "upgrade" is reserved: ten keeps its own files under {data_dir}/upgrade; reserved names are "acme", "api_token" and "upgrade"`, "rename"},
		{"blank command", "service.api", `command = "  "`, "command is required", ""},
		{"service name not a DNS label", "service.My_App", `command = "./app"`, `service name "My_App" is not a valid DNS label`, "lowercase"},
		{"service name with a dot", `service."api.v2"`, `command = "./app"`, "not a valid DNS label", ""},
	}), []diagCase{{
		name: "upgrade state_dir inside a service's data",
		src: `[settings]
data_dir = "/srv/ten"
[service.notes]
command = "./api"
[upgrade]
state_dir = "/srv/ten/notes/x"
`,
		wants: []want{{SeverityError, 6, "upgrade.state_dir", `"/srv/ten/notes/x" is inside the data directory of service "notes"`, "outside"}},
	}, {
		name: "env name with =",
		src: apiTable + `env = { "A=B" = "x" }
`,
		wants: []want{{SeverityError, 3, `service.api.env."A=B"`, "cannot be an environment variable name", ""}},
	}, {
		name: "instances of an unknown service",
		src: apiTable + `
[instances]
apii = ["prod"]
worker = ["bg"]
`,
		wants: []want{
			{SeverityError, 5, "instances.apii", `no service named "apii"`, `did you mean "api"?`},
			{SeverityError, 6, "instances.worker", `no service named "worker"`, "define [service.worker]"},
		},
	}, {
		name: "instance ids",
		src: apiTable + `
[instances]
api = ["prod", "Prod", "under_score", "-lead", "trail-", "", "prod", "` + strings.Repeat("a", 64) + `"]
`,
		wants: []want{
			{SeverityError, 5, "instances.api", `instance id "Prod" is invalid (upper-case letter 'P')`, "lowercase"},
			{SeverityError, 5, "instances.api", `"-lead"`, ""},
			{SeverityError, 5, "instances.api", `"trail-"`, ""},
			{SeverityError, 5, "instances.api", `instance id ""`, ""},
			{SeverityError, 5, "instances.api", `"aaaa`, ""},
			{SeverityWarning, 5, "instances.api", `instance id "prod" is listed more than once`, ""},
		},
	}, {
		name: "valid instance ids",
		src: apiTable + `
[instances]
api = ["a", "0", "prod-1", "under_score", "` + strings.Repeat("a", 63) + `"]
`,
	}, {
		name: "routes to unknown services",
		src: apiTable + `
[routing]
default = "web"

[routing.subdomain]
"api.example.com" = "apu"

[routing.path]
"/api" = "api"
`,
		wants: []want{
			{SeverityWarning, 5, "routing.default", `no service named "web"`, ""},
			{SeverityWarning, 8, `routing.subdomain."api.example.com"`, `no service named "apu"`, `did you mean "api"?`},
		},
	}, {
		name: "settings",
		src: `[settings]
data_dir = ""
health_check_interval = 0
backoff_base_ms = 5000
backoff_max_ms = 1000
log_retention_days = -1
log_max_rows = -5
`,
		wants: []want{
			{SeverityError, 2, "settings.data_dir", "must not be empty", ""},
			{SeverityError, 3, "settings.health_check_interval", "at least 1", ""},
			{SeverityWarning, 5, "settings.backoff_max_ms", "less than backoff_base_ms", ""},
			{SeverityError, 6, "settings.log_retention_days", "must not be negative", ""},
			{SeverityError, 7, "settings.log_max_rows", "must not be negative", ""},
		},
	}, {
		// strategy is ten-upgrade's to check (orchestrator TestValidation).
		name: "upgrade",
		src: `[upgrade]
repo = "tenement"
strategy = "blue-green"
proxy = "haproxy"
health_timeout = 0
keep_backups = -1
`,
		wants: []want{
			{SeverityError, 2, "upgrade.repo", "not a GitHub repository", "owner/name"},
			{SeverityError, 4, "upgrade.proxy", `supported values are "none", "caddy" and "nginx"`, ""},
			{SeverityError, 5, "upgrade.health_timeout", "at least 1", ""},
			{SeverityError, 6, "upgrade.keep_backups", "must not be negative", ""},
		},
	}, {
		name: "every upgrade strategy and proxy",
		src: `[upgrade]
strategy = "restart"
proxy = "nginx"
`,
	}}), nil)
}

func TestNegativeNumbers(t *testing.T) {
	for _, group := range []struct {
		table string
		keys  []string
	}{
		{"settings", []string{"max_restarts", "restart_window", "backoff_base_ms", "backoff_max_ms"}},
		{"service.api", []string{"idle_timeout", "startup_timeout", "request_timeout", "storage_quota_mb",
			"memory_limit_mb", "cpu_shares", "memory_mb", "vcpus", "vsock_port"}},
		{"upgrade", []string{"keep_backups"}},
	} {
		for _, k := range group.keys {
			t.Run(k, func(t *testing.T) {
				src := fmt.Sprintf("%s\n[%s]\n%s = -1\n", apiTable, group.table, k)
				if group.table == "service.api" {
					src = fmt.Sprintf("%s\n%s = -1\n", apiTable, k)
				}
				_, ds := mustParse(t, src)
				key := group.table + "." + k
				line := strings.Count(src, "\n")
				var found bool
				for _, d := range ds {
					if d.Severity == SeverityError && d.Key == key && d.Line == line && strings.Contains(d.Message, "must not be negative") {
						found = true
					}
				}
				if !found {
					t.Errorf("no negative-number error for %s on line %d:\n%s", key, line, dump(ds))
				}
			})
		}
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.Services["api"] = DefaultService()
	c.Services["api"].Isolation = "vm"
	c.Instances["web"] = []string{"prod"}
	ds := c.Validate()
	if !HasErrors(ds) {
		t.Fatalf("Validate() found no errors")
	}
	keys := map[string]bool{}
	for _, d := range ds {
		if d.File != "" || d.Line != 0 {
			t.Errorf("diagnostic has a position without a file: %+v", d)
		}
		keys[d.Key] = true
	}
	for _, k := range []string{"service.api", "service.api.isolation", "instances.web"} {
		if !keys[k] {
			t.Errorf("no diagnostic for %s in\n%s", k, dump(ds))
		}
	}
}

func TestIsDNSLabel(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"a", true},
		{"api", true},
		{"prod-1", true},
		{"1", true},
		{"a-b-c", true},
		{strings.Repeat("x", 63), true},
		{"", false},
		{strings.Repeat("x", 64), false},
		{"-a", false},
		{"a-", false},
		{"A", false},
		{"a_b", false},
		{"a.b", false},
		{"a b", false},
		{"é", false},
	}
	for _, tt := range tests {
		if got := isDNSLabel(tt.s); got != tt.want {
			t.Errorf("isDNSLabel(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// tableCase is a case whose source is one table with one key line, and
// whose one diagnostic is an error about the table itself, on line 1.
type tableCase struct {
	name    string
	table   string
	line    string // key = value
	message string
	hint    string
}

// tableCases turns rows into the diagCases they stand for.
func tableCases(rows []tableCase) []diagCase {
	cases := make([]diagCase, len(rows))
	for i, r := range rows {
		cases[i] = diagCase{
			name:  r.name,
			src:   "[" + r.table + "]\n" + r.line + "\n",
			wants: []want{{SeverityError, 1, r.table, r.message, r.hint}},
		}
	}
	return cases
}
