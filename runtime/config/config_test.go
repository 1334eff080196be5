package config

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// mustParse parses src and fails the test on a syntax error.
func mustParse(t *testing.T, src string) (*Config, []Diagnostic) {
	t.Helper()
	c, ds, err := Parse([]byte(src), "tenement.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c, ds
}

// mustParseClean parses src and fails the test on any diagnostic.
func mustParseClean(t *testing.T, src string) *Config {
	t.Helper()
	c, ds := mustParse(t, src)
	for _, d := range ds {
		t.Errorf("unexpected diagnostic: %s: %s", d.Severity, d)
	}
	return c
}

func TestDefault(t *testing.T) {
	want := &Config{
		Settings: Settings{
			// tenement config.rs: data_dir defaults to ./tenement-data.
			DataDir:             "./tenement-data",
			HealthCheckInterval: 10,
			MaxRestarts:         3,
			RestartWindow:       300,
			BackoffBaseMS:       1000,
			BackoffMaxMS:        60000,
			LogRetentionDays:    14,
			TLS:                 TLS{HTTPSPort: 443, HTTPPort: 80},
			MaxInstances:        200,
		},
		Services:  map[string]*Service{},
		Instances: map[string][]string{},
		Routing:   Routing{Subdomain: map[string]string{}, Path: map[string]string{}},
		Upgrade: Upgrade{
			Strategy:      "auto",
			Proxy:         "none",
			HealthTimeout: 30,
			KeepBackups:   3,
		},
	}
	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default() =\n%+v\nwant\n%+v", got, want)
	}
	if ds := Default().Validate(); len(ds) != 0 {
		t.Errorf("Default().Validate() = %v, want no diagnostics", ds)
	}
}

func TestDefaultService(t *testing.T) {
	want := &Service{
		Args:           []string{},
		Health:         "/health",
		Env:            map[string]string{},
		EnvPassthrough: []string{},
		// tenement runtime/mod.rs:43-45: namespace is the default isolation.
		Isolation:      "namespace",
		Restart:        "on-failure",
		IdleTimeout:    0,
		StartupTimeout: 10,
		RequestTimeout: 30,
		// tenement config.rs: storage_persist defaults to true.
		StoragePersist: true,
		Socket:         "/tmp/tenement/{name}-{id}.sock",
	}
	if got := DefaultService(); !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultService() =\n%+v\nwant\n%+v", got, want)
	}
}

// An old file that sets none of the newer keys must parse cleanly and get
// every default.
func TestParseMinimalGetsDefaults(t *testing.T) {
	for _, src := range []string{
		"[service.api]\ncommand = \"./api\"\n",
		"service.api.command = \"./api\"\n",
		"[service]\napi = { command = \"./api\" }\n",
	} {
		c := mustParseClean(t, src)
		want := Default()
		want.Path = "tenement.toml"
		svc := DefaultService()
		svc.Command = "./api"
		want.Services["api"] = svc
		if !reflect.DeepEqual(c, want) {
			t.Errorf("Parse(%q) =\n%+v\nwant\n%+v", src, c, want)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	c := mustParseClean(t, "")
	want := Default()
	want.Path = "tenement.toml"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse(\"\") = %+v, want defaults", c)
	}
}

const everyKey = `
[settings]
data_dir = "/srv/ten"
health_check_interval = 5
max_restarts = 7
restart_window = 120
backoff_base_ms = 250
backoff_max_ms = 8000
log_retention_days = 30
log_max_rows = 500000
max_instances = 50

[settings.tls]
enabled = true
acme_email = "ops@example.com"
domain = "example.com"
cache_dir = "/srv/acme"
staging = true
https_port = 8443
http_port = 8080
dns_provider = "cloudflare"

[service.api]
command = "./api"
args = ["--port", "{port}"]
health = "/healthz"
workdir = "/opt/api"
isolation = "namespace"
restart = "always"
idle_timeout = 300
startup_timeout = 20
request_timeout = 60
storage_persist = true
storage_quota_mb = 512
memory_limit_mb = 256
cpu_shares = 200
env_passthrough = ["DATABASE_URL", "AWS_REGION"]
max_instances = 10
socket = "/run/{name}-{id}.sock"
port = 3000
image = "ghcr.io/acme/api:1"
kernel = "/vm/vmlinux"
rootfs = "/vm/rootfs.ext4"
memory_mb = 512
vcpus = 2
vsock_port = 6000

[service.api.env]
DATABASE_PATH = "{data_dir}/{id}/app.db"
LOG_LEVEL = "info"

[[service.api.mounts]]
source = "/srv/shared"
destination = "/shared"
readonly = true

[[service.api.mounts]]
source = "/srv/tmp"
destination = "/tmp"

[service.web]
command = "./web"

[instances]
api = ["prod", "staging"]
web = []

[routing]
default = "web"

[routing.subdomain]
"api.example.com" = "api"

[routing.path]
"/api" = "api"

[upgrade]
repo = "tenement/ten"
public_key = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"
strategy = "handoff"
proxy = "caddy"
binary_path = "/usr/local/bin/ten"
health_timeout = 45
state_dir = "/srv/upgrade"
keep_backups = 5
`

func TestParseEveryKey(t *testing.T) {
	c := mustParseClean(t, everyKey)
	want := &Config{
		Path: "tenement.toml",
		Settings: Settings{
			DataDir:             "/srv/ten",
			HealthCheckInterval: 5,
			MaxRestarts:         7,
			RestartWindow:       120,
			BackoffBaseMS:       250,
			BackoffMaxMS:        8000,
			LogRetentionDays:    30,
			LogMaxRows:          500000,
			TLS: TLS{
				Enabled:     true,
				ACMEEmail:   "ops@example.com",
				Domain:      "example.com",
				CacheDir:    "/srv/acme",
				Staging:     true,
				HTTPSPort:   8443,
				HTTPPort:    8080,
				DNSProvider: "cloudflare",
			},
			MaxInstances: 50,
		},
		Services: map[string]*Service{
			"api": {
				Command:        "./api",
				Args:           []string{"--port", "{port}"},
				Health:         "/healthz",
				Env:            map[string]string{"DATABASE_PATH": "{data_dir}/{id}/app.db", "LOG_LEVEL": "info"},
				Workdir:        "/opt/api",
				Isolation:      "namespace",
				Restart:        "always",
				IdleTimeout:    300,
				StartupTimeout: 20,
				RequestTimeout: 60,
				StoragePersist: true,
				StorageQuotaMB: 512,
				MemoryLimitMB:  256,
				CPUShares:      200,
				EnvPassthrough: []string{"DATABASE_URL", "AWS_REGION"},
				MaxInstances:   10,
				Socket:         "/run/{name}-{id}.sock",
				Port:           3000,
				Image:          "ghcr.io/acme/api:1",
				Mounts: []Mount{
					{Source: "/srv/shared", Destination: "/shared", ReadOnly: true},
					{Source: "/srv/tmp", Destination: "/tmp"},
				},
				Kernel:    "/vm/vmlinux",
				Rootfs:    "/vm/rootfs.ext4",
				MemoryMB:  512,
				VCPUs:     2,
				VsockPort: 6000,
			},
			"web": func() *Service { s := DefaultService(); s.Command = "./web"; return s }(),
		},
		Instances: map[string][]string{"api": {"prod", "staging"}, "web": {}},
		Routing: Routing{
			Default:   "web",
			Subdomain: map[string]string{"api.example.com": "api"},
			Path:      map[string]string{"/api": "api"},
		},
		Upgrade: Upgrade{
			Repo:          "tenement/ten",
			PublicKey:     "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3",
			Strategy:      "handoff",
			Proxy:         "caddy",
			BinaryPath:    "/usr/local/bin/ten",
			HealthTimeout: 45,
			StateDir:      "/srv/upgrade",
			KeepBackups:   5,
		},
	}
	if !reflect.DeepEqual(c, want) {
		got, _ := json.MarshalIndent(c, "", "  ")
		exp, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("Parse(everyKey) =\n%s\nwant\n%s", got, exp)
	}
}

// Every field of the config structs must be decodable under its JSON name,
// which is also its TOML key; a field added to a struct but not to its
// fieldSet would otherwise be silently unreachable from a file.
func TestFieldSetsCoverStructs(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		keys []string
	}{
		{reflect.TypeFor[Settings](), sortedKeys(settingsFields)},
		{reflect.TypeFor[TLS](), sortedKeys(tlsFields)},
		{reflect.TypeFor[Service](), sortedKeys(serviceFields)},
		{reflect.TypeFor[Mount](), sortedKeys(mountFields)},
		{reflect.TypeFor[Routing](), sortedKeys(routingFields)},
		{reflect.TypeFor[Upgrade](), sortedKeys(upgradeFields)},
	}
	for _, tt := range tests {
		var names []string
		for f := range tt.typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			names = append(names, name)
		}
		slices.Sort(names)
		if !slices.Equal(names, tt.keys) {
			t.Errorf("%s: JSON names %v, decodable keys %v", tt.typ.Name(), names, tt.keys)
		}
	}
}

func TestServiceNamesSorted(t *testing.T) {
	c := Default()
	for _, n := range []string{"web", "api", "worker", "db"} {
		c.Services[n] = DefaultService()
	}
	want := []string{"api", "db", "web", "worker"}
	if got := c.ServiceNames(); !slices.Equal(got, want) {
		t.Errorf("ServiceNames() = %v, want %v", got, want)
	}
	if got := Default().ServiceNames(); len(got) != 0 {
		t.Errorf("Default().ServiceNames() = %v, want empty", got)
	}
}

func TestDBPath(t *testing.T) {
	tests := []struct{ dataDir, want string }{
		{"/var/lib/tenement", "/var/lib/tenement/tenement.db"},
		{"/srv/ten/", "/srv/ten/tenement.db"},
		{"data", "data/tenement.db"},
	}
	for _, tt := range tests {
		c := Default()
		c.Settings.DataDir = tt.dataDir
		if got := c.DBPath(); got != tt.want {
			t.Errorf("DBPath() with data_dir %q = %q, want %q", tt.dataDir, got, tt.want)
		}
	}
}

func TestUpgradeStateDir(t *testing.T) {
	c := Default()
	c.Settings.DataDir = "/srv/ten"
	if got, want := c.UpgradeStateDir(), "/srv/ten/upgrade"; got != want {
		t.Errorf("UpgradeStateDir() = %q, want %q", got, want)
	}
	c.Upgrade.StateDir = "/var/ten-upgrade"
	if got, want := c.UpgradeStateDir(), "/var/ten-upgrade"; got != want {
		t.Errorf("UpgradeStateDir() = %q, want %q", got, want)
	}
}

func TestJSONMarshal(t *testing.T) {
	c, _ := mustParse(t, `
[settings]
data_dir = "/srv/ten"

[service.web]
command = "./web"

[process.api]
command = "./api"
runtime = "namespace"

[instances]
api = ["prod"]
`)
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)

	// Services are marshalled in name order, and the aliases are resolved:
	// the process table appears under "service" with "isolation".
	api, web := strings.Index(out, `"api":{`), strings.Index(out, `"web":{`)
	if api < 0 || web < 0 || api > web {
		t.Errorf("services not present in sorted order in %s", out)
	}
	for _, frag := range []string{
		`"path":"tenement.toml"`,
		`"settings":{"data_dir":"/srv/ten","health_check_interval":10,"max_restarts":3,"restart_window":300,"backoff_base_ms":1000,"backoff_max_ms":60000,`,
		`"service":{"api":{"command":"./api","args":[],"health":"/health","env":{},"isolation":"namespace","restart":"on-failure",`,
		`"instances":{"api":["prod"]}`,
		`"routing":{"subdomain":{},"path":{}}`,
		`"upgrade":{"repo":"","public_key":"","strategy":"auto","proxy":"none","binary_path":"","health_timeout":30,"state_dir":"","keep_backups":3}`,
	} {
		if !strings.Contains(out, frag) {
			t.Errorf("JSON lacks %s\nin %s", frag, out)
		}
	}
	for _, absent := range []string{`"process":{`, `"runtime":`} {
		if strings.Contains(out, absent) {
			t.Errorf("JSON contains alias %s: %s", absent, out)
		}
	}

	// The JSON form holds the whole configuration.
	var back Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, c) {
		t.Errorf("JSON round trip =\n%+v\nwant\n%+v", &back, c)
	}
}

func TestJSONMarshalDefault(t *testing.T) {
	b, err := json.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	if strings.HasPrefix(out, `{"path":`) {
		t.Errorf("Default() JSON has a path: %s", out)
	}
	if !strings.Contains(out, `"service":{}`) || !strings.Contains(out, `"instances":{}`) {
		t.Errorf("Default() JSON should have empty service and instances objects, not null: %s", out)
	}
}
