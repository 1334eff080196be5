package config

import "regexp"

// DefaultTenantUser is the user instances run as when ten runs as root and
// the service names none: never root, which could read ten's own files.
const DefaultTenantUser = "tenement"

// userNameRE is the portable user name that useradd accepts by default.
var userNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// checkUser refuses a user key that cannot name a system user.
func (p *parser) checkUser(path []string, user string) {
	if user != "" && !userNameRE.MatchString(user) {
		p.errorf(path, `a user name such as "tenement": 1-32 of a-z, 0-9, '_' and '-', starting with a letter or '_'`,
			"%q is not a valid user name", user)
	}
}
