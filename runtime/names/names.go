// Package names holds the one rule for instance ids and tenant names. An id
// is a subdomain label and a directory name, and a tenant token is bound to
// an id, so the CLI, the API, the supervisor and the token store all check
// names with Check and can never disagree about what a name is.
package names

import (
	"errors"
	"fmt"
)

// Rule is the rule in words, for error messages and help text. It is what
// tenement accepts in a subdomain label (tenement/src/hypervisor.rs parses
// the id out of the Host header with no further check; ten is stricter so
// that an id is also a safe directory name).
const Rule = "1 to 63 ASCII letters, digits, '-' or '_', not starting with '-'"

// MaxLen is the longest name: a DNS label holds at most 63 bytes.
const MaxLen = 63

// ErrInvalid is wrapped by every error Check returns.
var ErrInvalid = errors.New("invalid name")

// Check returns nil if s is a valid instance id or tenant name, else an
// error wrapping ErrInvalid that says what is wrong and states the rule.
func Check(s string) error {
	if why := problem(s); why != "" {
		return fmt.Errorf("%w %q: %s; a name is %s", ErrInvalid, s, why, Rule)
	}
	return nil
}

// Problem returns what is wrong with s in a few words ("empty", "invalid
// character '/'"), or "" if s is valid. Callers that add their own context
// (the field, the rule) use it instead of Check.
func Problem(s string) string { return problem(s) }

func problem(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) > MaxLen {
		return fmt.Sprintf("longer than %d bytes", MaxLen)
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
		case r == '-' && i > 0:
		default:
			return fmt.Sprintf("invalid character %q", r)
		}
	}
	return ""
}
