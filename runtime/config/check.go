package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/tenement/ten/runtime/names"
)

// Validate reports the semantic problems in c: values outside their allowed
// sets or ranges, and references to services that do not exist. Parse and
// Load run the same checks and add file positions; Validate is for a Config
// built or changed in code, such as after OverrideDataDir.
func (c *Config) Validate() []Diagnostic {
	p := &parser{}
	p.check(c)
	sortDiagnostics(p.diags)
	return p.diags
}

func (p *parser) check(c *Config) {
	p.checkSettings(&c.Settings)
	for _, name := range c.ServiceNames() {
		p.checkService(name, c.Services[name])
	}
	p.checkInstances(c)
	p.checkRouting(c)
	p.checkUpgrade(&c.Upgrade)
	p.checkStateDir(c)
}

func (p *parser) checkSettings(s *Settings) {
	at := func(key ...string) []string { return join([]string{"settings"}, key) }
	switch {
	case s.DataDir == "":
		p.errorf(at("data_dir"), "", "must not be empty")
	case strings.HasPrefix(s.DataDir, "~"):
		// The path is used as written; a literal "~" directory would be
		// created in the working directory.
		p.errorf(at("data_dir"), "~ is not expanded; write an absolute path",
			"%q starts with ~", s.DataDir)
	}
	if s.HealthCheckInterval < 1 {
		p.errorf(at("health_check_interval"), "", "must be at least 1 second, not %d", s.HealthCheckInterval)
	}
	p.nonNegative(at("max_restarts"), s.MaxRestarts)
	p.nonNegative(at("restart_window"), s.RestartWindow)
	p.nonNegative(at("backoff_base_ms"), s.BackoffBaseMS)
	p.nonNegative(at("backoff_max_ms"), s.BackoffMaxMS)
	p.nonNegative(at("max_instances"), s.MaxInstances)
	if s.BackoffMaxMS >= 0 && s.BackoffMaxMS < s.BackoffBaseMS {
		p.warnf(at("backoff_max_ms"), "", "%d is less than backoff_base_ms (%d), so every restart waits %d ms",
			s.BackoffMaxMS, s.BackoffBaseMS, s.BackoffMaxMS)
	}
	p.nonNegative(at("log_retention_days"), s.LogRetentionDays)
	p.nonNegative(at("log_max_rows"), s.LogMaxRows)
	p.port(at("tls", "https_port"), s.TLS.HTTPSPort, false)
	p.port(at("tls", "http_port"), s.TLS.HTTPPort, false)
	for _, e := range s.TrustedProxies {
		if !isAddrOrPrefix(e) {
			p.errorf(at("trusted_proxies"), `write an IP address or a CIDR prefix, e.g. "127.0.0.1" or "10.0.0.0/8"`,
				"%q is not an IP address or CIDR prefix", e)
		}
	}
}

func isAddrOrPrefix(s string) bool {
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

func (p *parser) checkService(name string, s *Service) {
	base := []string{"service", name}
	at := func(key string) []string { return join(base, []string{key}) }
	if !isDNSLabel(name) {
		p.errorf(base, dnsLabelHint, "service name %q is not a valid DNS label; instance URLs use it as a subdomain", name)
	} else if ReservedName(name) {
		p.errorf(base, "rename the service", "%v", ReservedNameError(name))
	}
	if strings.TrimSpace(s.Command) == "" {
		p.errorf(base, `add command = "./your-app"`, "command is required")
	} else {
		p.checkCommand(at("command"), s)
	}
	p.checkPassthrough(at("env_passthrough"), s.EnvPassthrough)
	p.nonNegative(at("max_instances"), s.MaxInstances)
	p.oneOf(at("isolation"), s.Isolation, isolations)
	p.checkUser(at("user"), s.User)
	p.oneOf(at("restart"), s.Restart, restarts)
	if s.Health != "" && !strings.HasPrefix(s.Health, "/") {
		p.warnf(at("health"), fmt.Sprintf("write %q", "/"+s.Health), "%q is not an absolute URL path", s.Health)
	}
	for _, k := range sortedKeys(s.Env) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			p.errorf(join(base, []string{"env", k}), "", "%q cannot be an environment variable name", k)
		}
	}
	p.nonNegative(at("idle_timeout"), s.IdleTimeout)
	p.nonNegative(at("startup_timeout"), s.StartupTimeout)
	p.nonNegative(at("request_timeout"), s.RequestTimeout)
	p.nonNegative(at("storage_quota_mb"), s.StorageQuotaMB)
	if s.StorageEnforce && s.StorageQuotaMB <= 0 {
		p.errorf(at("storage_enforce"), "set storage_quota_mb, or remove storage_enforce", "storage_enforce needs a storage_quota_mb to enforce")
	}
	p.nonNegative(at("memory_limit_mb"), s.MemoryLimitMB)
	if p.nonNegative(at("cpu_shares"), s.CPUShares) && s.CPUShares > 10000 {
		p.errorf(at("cpu_shares"), "100 is normal priority", "%d is out of range; the cgroup weight is 1 to 10000", s.CPUShares)
	}
	p.port(at("port"), s.Port, true)
	p.nonNegative(at("memory_mb"), s.MemoryMB)
	p.nonNegative(at("vcpus"), s.VCPUs)
	p.nonNegative(at("vsock_port"), s.VsockPort)
}

func (p *parser) checkInstances(c *Config) {
	services := c.ServiceNames()
	for _, name := range sortedKeys(c.Instances) {
		path := []string{"instances", name}
		if _, ok := c.Services[name]; !ok {
			hint := suggest(name, services)
			if hint == "" {
				hint = fmt.Sprintf("define [%s] or remove this entry", keyString([]string{"service", name}))
			}
			p.errorf(path, hint, "no service named %q", name)
		}
		seen := map[string]bool{}
		for _, id := range c.Instances[name] {
			if why := names.Problem(id); why != "" {
				p.errorf(path, "an instance id is "+names.Rule, "instance id %q is invalid (%s); instance URLs use it as a subdomain", id, why)
			}
			if seen[id] {
				p.warnf(path, "", "instance id %q is listed more than once", id)
			}
			seen[id] = true
		}
	}
}

// checkRouting warns about routes to services that do not exist. These are
// not errors because tenement never checked them: such a route only fails
// when a request takes it.
func (p *parser) checkRouting(c *Config) {
	names := c.ServiceNames()
	target := func(path []string, svc string) {
		if _, ok := c.Services[svc]; !ok {
			p.warnf(path, suggest(svc, names), "no service named %q", svc)
		}
	}
	if c.Routing.Default != "" {
		target([]string{"routing", "default"}, c.Routing.Default)
	}
	for _, k := range sortedKeys(c.Routing.Subdomain) {
		target([]string{"routing", "subdomain", k}, c.Routing.Subdomain[k])
	}
	for _, k := range sortedKeys(c.Routing.Path) {
		target([]string{"routing", "path", k}, c.Routing.Path[k])
	}
}

func (p *parser) checkUpgrade(u *Upgrade) {
	at := func(key string) []string { return []string{"upgrade", key} }
	if u.Repo != "" {
		owner, name, ok := strings.Cut(u.Repo, "/")
		if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			p.errorf(at("repo"), `write it as "owner/name"`, "%q is not a GitHub repository", u.Repo)
		}
	}
	p.oneOf(at("proxy"), u.Proxy, proxies)
	if u.HealthTimeout < 1 {
		p.errorf(at("health_timeout"), "", "must be at least 1 second, not %d", u.HealthTimeout)
	}
	p.nonNegative(at("keep_backups"), u.KeepBackups)
}

// otherIsolations are tenement's isolation levels that ten does not run.
var otherIsolations = []string{"sandbox", "gvisor", "litebox", "quark", "firecracker", "qemu"}

// oneOf reports v if it is not one of allowed.
func (p *parser) oneOf(path []string, v string, allowed []string) {
	if slices.Contains(allowed, v) {
		return
	}
	hint := suggest(v, allowed)
	if hint == "" && path[len(path)-1] == "isolation" && slices.Contains(otherIsolations, v) {
		hint = fmt.Sprintf(`tenement's %s isolation is not available; "namespace" is the strongest supported`, v)
	}
	p.errorf(path, hint, "unsupported value %q; supported values are %s", v, quotedList(allowed))
}

// nonNegative reports n if it is negative, and returns whether it is not.
func (p *parser) nonNegative(path []string, n int) bool {
	if n < 0 {
		p.errorf(path, "", "must not be negative, got %d", n)
		return false
	}
	return true
}

// port reports n if it is not a TCP port number; zero is allowed if optional.
func (p *parser) port(path []string, n int, optional bool) {
	if optional && n == 0 {
		return
	}
	if n < 1 || n > 65535 {
		p.errorf(path, "", "%d is not a TCP port (1 to 65535)", n)
	}
}

const dnsLabelHint = "use 1 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit"

// isDNSLabel reports whether s is a DNS label as RFC 1123 defines it, in
// lowercase: service names and instance ids become subdomains.
func isDNSLabel(s string) bool {
	if len(s) < 1 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || isDigit(c) || c == '-') {
			return false
		}
	}
	return true
}

// quotedList formats values as `"a", "b" and "c"`.
func quotedList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = fmt.Sprintf("%q", v)
	}
	return joinList(q, "and")
}
