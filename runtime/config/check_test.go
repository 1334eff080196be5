package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestValidation(t *testing.T) {
	runDiagCases(t, []diagCase{{
		name: "missing command",
		src: `[service.api]
health = "/health"
`,
		wants: []want{{SeverityError, 1, "service.api", "service.api: command is required", "command ="}},
	}, {
		name: "service named after the upgrader's state directory",
		src: `[service.upgrade]
command = "./api"
`,
		wants: []want{{SeverityError, 1, "service.upgrade", `service name "upgrade" is reserved: ten keeps its own files under {data_dir}/upgrade; reserved names are "acme", "api_token" and "upgrade"`, "rename"}},
	}, {
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
		name: "invalid user",
		src: `[service.api]
command = "./api"
user = "Bad User"
`,
		wants: []want{{SeverityError, 3, "service.api.user", `"Bad User" is not a valid user name`, "tenement"}},
	}, {
		name: "blank command",
		src: `[service.api]
command = "  "
`,
		wants: []want{{SeverityError, 1, "service.api", "command is required", ""}},
	}, {
		name: "unsupported isolation",
		src: `[service.api]
command = "./api"
isolation = "sandbox"
`,
		wants: []want{{SeverityError, 3, "service.api.isolation", `unsupported value "sandbox"; supported values are "process" and "namespace"`, `"namespace"`}},
	}, {
		name: "misspelt isolation",
		src: `[service.api]
command = "./api"
isolation = "Namespace"
`,
		wants: []want{{SeverityError, 3, "service.api.isolation", `unsupported value "Namespace"`, `did you mean "namespace"?`}},
	}, {
		name: "unsupported restart",
		src: `[service.api]
command = "./api"
restart = "on_failure"
`,
		wants: []want{{SeverityError, 3, "service.api.restart", `supported values are "always", "on-failure" and "never"`, `did you mean "on-failure"?`}},
	}, {
		name: "cpu shares out of range",
		src: `[service.api]
command = "./api"
cpu_shares = 20000
`,
		wants: []want{{SeverityError, 3, "service.api.cpu_shares", "1 to 10000", ""}},
	}, {
		name: "storage_enforce without a quota",
		src: `[service.api]
command = "./api"
storage_enforce = true
`,
		wants: []want{{SeverityError, 3, "service.api.storage_enforce", "needs a storage_quota_mb", "set storage_quota_mb"}},
	}, {
		name: "port out of range",
		src: `[service.api]
command = "./api"
port = 70000
`,
		wants: []want{{SeverityError, 3, "service.api.port", "not a TCP port", ""}},
	}, {
		name: "health without slash",
		src: `[service.api]
command = "./api"
health = "health"
`,
		wants: []want{{SeverityWarning, 3, "service.api.health", "not an absolute URL path", `"/health"`}},
	}, {
		name: "env name with =",
		src: `[service.api]
command = "./api"
env = { "A=B" = "x" }
`,
		wants: []want{{SeverityError, 3, `service.api.env."A=B"`, "cannot be an environment variable name", ""}},
	}, {
		name: "service name not a DNS label",
		src: `[service.My_App]
command = "./app"
`,
		wants: []want{{SeverityError, 1, "service.My_App", `service name "My_App" is not a valid DNS label`, "lowercase"}},
	}, {
		name: "service name with a dot",
		src: `[service."api.v2"]
command = "./app"
`,
		wants: []want{{SeverityError, 1, `service."api.v2"`, "not a valid DNS label", ""}},
	}, {
		name: "instances of an unknown service",
		src: `[service.api]
command = "./api"

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
		src: `[service.api]
command = "./api"

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
		src: `[service.api]
command = "./api"

[instances]
api = ["a", "0", "prod-1", "under_score", "` + strings.Repeat("a", 63) + `"]
`,
	}, {
		name: "routes to unknown services",
		src: `[service.api]
command = "./api"

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
		name: "tilde data dir",
		src: `[settings]
data_dir = "~/tenement"
`,
		wants: []want{{SeverityError, 2, "settings.data_dir", "starts with ~", "absolute path"}},
	}, {
		name: "tls ports",
		src: `[settings.tls]
https_port = 0
`,
		wants: []want{{SeverityError, 2, "settings.tls.https_port", "not a TCP port", ""}},
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
	}}, nil)
}

func TestNegativeNumbers(t *testing.T) {
	tests := []struct{ table, key string }{
		{"settings", "max_restarts"},
		{"settings", "restart_window"},
		{"settings", "backoff_base_ms"},
		{"settings", "backoff_max_ms"},
		{"service.api", "idle_timeout"},
		{"service.api", "startup_timeout"},
		{"service.api", "request_timeout"},
		{"service.api", "storage_quota_mb"},
		{"service.api", "memory_limit_mb"},
		{"service.api", "cpu_shares"},
		{"service.api", "memory_mb"},
		{"service.api", "vcpus"},
		{"service.api", "vsock_port"},
		{"upgrade", "keep_backups"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			src := fmt.Sprintf("[service.api]\ncommand = \"./api\"\n\n[%s]\n%s = -1\n", tt.table, tt.key)
			if tt.table == "service.api" {
				src = fmt.Sprintf("[service.api]\ncommand = \"./api\"\n\n%s = -1\n", tt.key)
			}
			_, ds := mustParse(t, src)
			key := tt.table + "." + tt.key
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
