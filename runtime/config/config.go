// Package config reads tenement.toml, the file that describes the services a
// ten server supervises.
//
// The format is the one tenement v0.2.x defines, so existing files keep
// working: [process.NAME] is still accepted as the older spelling of
// [service.NAME], and a service's runtime key as the older spelling of
// isolation. Both are reported as deprecated instead of silently accepted so
// that files can be migrated before the aliases go away.
//
// Parsing never stops at the first mistake. Everything beyond TOML syntax is
// reported as a [Diagnostic] carrying the file, line and dotted key, so that
// `ten config --check` can show every problem at once.
package config

import (
	"path/filepath"
	"slices"
)

// FileName is the name Discover looks for.
const FileName = "tenement.toml"

// Isolation levels.
const (
	IsolationProcess   = "process"
	IsolationNamespace = "namespace"
)

// Restart policies.
const (
	RestartAlways    = "always"
	RestartOnFailure = "on-failure"
	RestartNever     = "never"
)

// Reverse proxies the upgrader may reconfigure.
const (
	ProxyNone  = "none"
	ProxyCaddy = "caddy"
	ProxyNginx = "nginx"
)

// The accepted values of the enumerated keys, in the order they are listed in
// diagnostics.
var (
	isolations = []string{IsolationProcess, IsolationNamespace}
	restarts   = []string{RestartAlways, RestartOnFailure, RestartNever}
	proxies    = []string{ProxyNone, ProxyCaddy, ProxyNginx}
)

// Config is the effective configuration: the file's values with aliases
// resolved and defaults filled in. Its JSON form is what
// `ten config --check --json` reports as "effective".
type Config struct {
	Path      string              `json:"path,omitempty"` // file loaded from ("" if defaults only)
	Settings  Settings            `json:"settings"`
	Services  map[string]*Service `json:"service"`   // [service.NAME]; [process.NAME] is an alias
	Instances map[string][]string `json:"instances"` // [instances] svc = ["id1", "id2"]: auto-spawn on boot
	Routing   Routing             `json:"routing"`
	Upgrade   Upgrade             `json:"upgrade"`
}

// Settings is the [settings] table.
type Settings struct {
	DataDir             string `json:"data_dir"`              // default "./tenement-data", as tenement's config.rs
	HealthCheckInterval int    `json:"health_check_interval"` // seconds, default 10
	MaxRestarts         int    `json:"max_restarts"`          // default 3
	RestartWindow       int    `json:"restart_window"`        // seconds, default 300
	BackoffBaseMS       int    `json:"backoff_base_ms"`       // default 1000
	BackoffMaxMS        int    `json:"backoff_max_ms"`        // default 60000
	LogRetentionDays    int    `json:"log_retention_days"`    // default 14; 0 keeps lines forever
	LogMaxRows          int    `json:"log_max_rows"`          // 0 means no cap
	TLS                 TLS    `json:"tls"`                   // [settings.tls]

	// MaxInstances bounds the instances that may be up at once, over all
	// services (0: no bound): a request for a subdomain nobody spawned
	// starts a process, so without a bound any visitor could start
	// thousands.
	MaxInstances int `json:"max_instances"` // default DefaultMaxInstances
	// TrustedProxies are the reverse proxies (IP addresses or CIDR
	// prefixes) whose X-Forwarded-For the API believes when it counts
	// failed authentications per client.
	TrustedProxies []string `json:"trusted_proxies"`
}

// TLS is the [settings.tls] table: HTTPS served by `ten serve` itself
// (runtime/tlsserve resolves it together with the command-line flags).
type TLS struct {
	Enabled     bool   `json:"enabled"`
	ACMEEmail   string `json:"acme_email,omitempty"`
	Domain      string `json:"domain,omitempty"`
	CacheDir    string `json:"cache_dir,omitempty"` // "" means {data_dir}/acme
	Staging     bool   `json:"staging"`
	HTTPSPort   int    `json:"https_port"` // default 443
	HTTPPort    int    `json:"http_port"`  // default 80
	DNSProvider string `json:"dns_provider,omitempty"`
}

// Service is one [service.NAME] table: a template from which instances are
// spawned. The JSON names are the TOML keys.
type Service struct {
	Command        string            `json:"command"`
	Args           []string          `json:"args"`
	Health         string            `json:"health"` // HTTP path probed for health; default "/health"
	Env            map[string]string `json:"env"`
	Workdir        string            `json:"workdir,omitempty"`
	Isolation      string            `json:"isolation"`       // "namespace" (default, as tenement) or "process"; key alias "runtime"
	Restart        string            `json:"restart"`         // "always", "on-failure" (default) or "never"
	IdleTimeout    int               `json:"idle_timeout"`    // seconds; 0 never stops an idle instance
	StartupTimeout int               `json:"startup_timeout"` // seconds, default 10
	RequestTimeout int               `json:"request_timeout"` // seconds, default 30
	StoragePersist bool              `json:"storage_persist"`
	StorageQuotaMB int               `json:"storage_quota_mb"` // 0 means no quota
	StorageEnforce bool              `json:"storage_enforce"`  // refuse to start an instance over its quota
	MemoryLimitMB  int               `json:"memory_limit_mb"`  // 0 means no limit
	CPUShares      int               `json:"cpu_shares"`       // cgroup cpu.weight 1-10000; 0 means unset
	// User runs the instances; "" means DefaultTenantUser when ten runs as
	// root, else ten's own user (see runtime/supervisor/credential.go).
	User string `json:"user,omitempty"`

	// EnvPassthrough names variables of the server's environment that the
	// tenant also gets, beyond the allowlist (runtime/supervisor/environ.go):
	// tenants never inherit the server's whole environment.
	EnvPassthrough []string `json:"env_passthrough"`
	// MaxInstances bounds the instances of this service up at once (0: only
	// [settings] max_instances applies).
	MaxInstances int `json:"max_instances"`

	// Socket is the Unix socket path pattern; it may use {name} and {id}.
	Socket string `json:"socket"`
	// Port is a fixed TCP port; 0 lets the supervisor allocate one.
	Port int `json:"port,omitempty"`

	// The keys below belong to tenement's container and VM isolation levels.
	// They are kept so that such files still load, but process and namespace
	// isolation ignore them.
	Image     string  `json:"image,omitempty"`
	Mounts    []Mount `json:"mounts,omitempty"`
	Kernel    string  `json:"kernel,omitempty"`
	Rootfs    string  `json:"rootfs,omitempty"`
	MemoryMB  int     `json:"memory_mb,omitempty"`
	VCPUs     int     `json:"vcpus,omitempty"`
	VsockPort int     `json:"vsock_port,omitempty"`
}

// Mount is one [[service.NAME.mounts]] entry (tenement's OCI runtimes).
type Mount struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	ReadOnly    bool   `json:"readonly"`
}

// Routing is the [routing] table.
type Routing struct {
	Default   string            `json:"default,omitempty"` // service that serves the bare domain
	Subdomain map[string]string `json:"subdomain"`         // host pattern -> service
	Path      map[string]string `json:"path"`              // path prefix -> service
}

// Upgrade is the [upgrade] table, read by the self-upgrade machinery.
type Upgrade struct {
	Repo          string `json:"repo"`           // GitHub owner/name releases come from
	PublicKey     string `json:"public_key"`     // minisign key release assets are verified with
	Strategy      string `json:"strategy"`       // ten-upgrade's: stored, never interpreted here
	Proxy         string `json:"proxy"`          // none (default), caddy or nginx
	BinaryPath    string `json:"binary_path"`    // "" means the running executable
	HealthTimeout int    `json:"health_timeout"` // seconds, default 30
	StateDir      string `json:"state_dir"`      // "" means {data_dir}/upgrade
	KeepBackups   int    `json:"keep_backups"`   // default 3
}

// Defaults that tenement v0.2.2 defines in its config.rs and
// runtime/mod.rs:43-45 (isolation), kept so that a tenement.toml that
// relies on them means the same under ten: data under ./tenement-data
// relative to where the server runs, tenant data kept when an instance
// stops (storage_persist = true), and namespace isolation.
const DefaultDataDir = "./tenement-data"

// DefaultMaxInstances is [settings] max_instances when unset: far above
// what one host runs on purpose, low enough that random subdomains cannot
// exhaust its memory or its port range (30000-40000).
const DefaultMaxInstances = 200

// Default returns the configuration used when no file exists: every default
// and no services.
func Default() *Config {
	return &Config{
		Settings: Settings{
			DataDir:             DefaultDataDir,
			HealthCheckInterval: 10,
			MaxRestarts:         3,
			RestartWindow:       300,
			BackoffBaseMS:       1000,
			BackoffMaxMS:        60000,
			LogRetentionDays:    14,
			MaxInstances:        DefaultMaxInstances,
			TLS: TLS{
				HTTPSPort: 443,
				HTTPPort:  80,
			},
		},
		Services:  map[string]*Service{},
		Instances: map[string][]string{},
		Routing: Routing{
			Subdomain: map[string]string{},
			Path:      map[string]string{},
		},
		Upgrade: Upgrade{
			// ten-upgrade's default, stored so that the effective
			// config shows what it will use; ten-upgrade checks the value.
			Strategy:      "auto",
			Proxy:         ProxyNone,
			HealthTimeout: 30,
			KeepBackups:   3,
		},
	}
}

// DefaultService returns a service with every default filled in and no
// command.
func DefaultService() *Service {
	return &Service{
		Args:           []string{},
		Health:         "/health",
		Env:            map[string]string{},
		EnvPassthrough: []string{},
		Isolation:      IsolationNamespace,
		Restart:        RestartOnFailure,
		StartupTimeout: 10,
		RequestTimeout: 30,
		StoragePersist: true,
		Socket:         "/tmp/tenement/{name}-{id}.sock",
	}
}

// ServiceNames returns the names of the configured services, sorted.
func (c *Config) ServiceNames() []string {
	names := make([]string, 0, len(c.Services))
	for name := range c.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// DBPath is the path of the state database inside the data directory.
func (c *Config) DBPath() string {
	return filepath.Join(c.Settings.DataDir, "tenement.db")
}

// UpgradeStateDir is where the upgrader keeps its state: Upgrade.StateDir, or
// {data_dir}/upgrade when that is empty.
func (c *Config) UpgradeStateDir() string {
	if c.Upgrade.StateDir != "" {
		return c.Upgrade.StateDir
	}
	return filepath.Join(c.Settings.DataDir, "upgrade")
}
