package supervisor

import (
	"slices"
	"sort"
	"strings"

	"github.com/tenement/ten/runtime/config"
)

// A tenant runs untrusted code next to the server, so it does not inherit
// the server's environment, which may hold the admin token
// (TENEMENT_TOKEN), database credentials or cloud keys. It gets, in this
// order, each layer overriding the one before:
//
//  1. the allowlisted variables of the server's environment that describe
//     the host rather than the server (envAllowed, LC_*);
//  2. the service's env_passthrough names, for operators who need more;
//  3. the service's [service.NAME.env], interpolated;
//  4. the variables ten sets: PORT and SOCKET_PATH.
//
// This is Nomad's task environment model (an allowlist, never the
// agent's own environment). tenement passed its whole environment on; that
// is the one place ten does not copy it.
var envAllowed = []string{"PATH", "HOME", "LANG", "TZ", "TMPDIR", "USER"}

// envAllowedPrefixes are allowlisted by prefix: the locale categories.
var envAllowedPrefixes = []string{"LC_"}

// envNeverPassed are refused even when an operator lists them in
// env_passthrough: they describe the server's own sockets and supervisor,
// and a tenant inheriting LISTEN_FDS would believe it was socket-activated.
var envNeverPassed = []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC"}

// tenantEnv returns the environment of a tenant of svc, from the server's
// environment base; set holds the variables ten sets itself.
func tenantEnv(base []string, svc *config.Service, vars config.Vars, set map[string]string) []string {
	m := map[string]string{}
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if ok && passes(k, svc.EnvPassthrough) {
			m[k] = v
		}
	}
	for k, v := range svc.EnvFor(vars) {
		m[k] = v
	}
	for k, v := range set {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// passes reports whether the server's variable k reaches a tenant.
func passes(k string, passthrough []string) bool {
	if slices.Contains(envNeverPassed, k) {
		return false
	}
	if slices.Contains(envAllowed, k) || slices.Contains(passthrough, k) {
		return true
	}
	for _, p := range envAllowedPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}
