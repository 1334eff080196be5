// Package names holds the one rule for instance ids and tenant names. An id
// is a subdomain label and a directory name, and a tenant token is bound to
// an id, so the CLI, the API, the supervisor and the token store all check
// names with Check and can never disagree about what a name is.
package names

import (
	"errors"
	"fmt"
)

// Rule is the rule in words, for error messages and help text. An id is a
// DNS label in the Host header, which ten lower-cases before routing, so
// upper case could never be reached; '_' is kept because earlier releases
// accepted it and existing ids (user_1) use it.
const Rule = "1 to 63 lowercase ASCII letters, digits, '-' or '_', starting with a letter or digit and not ending with '-'"

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
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case r >= 'A' && r <= 'Z':
			return fmt.Sprintf("upper-case letter %q", r)
		case (r == '-' || r == '_') && i == 0:
			return fmt.Sprintf("starts with %q", r)
		case r == '_':
		case r == '-':
			if i == len(s)-1 {
				return "ends with '-'"
			}
		default:
			return fmt.Sprintf("invalid character %q", r)
		}
	}
	return ""
}

// Stored reports whether s may be an id that an earlier ten release
// stored: those releases also accepted upper case, a leading '_' and a
// trailing '-'. Instances with such ids keep being supervised after an
// upgrade (they were started, their directories exist); only new names
// must pass Check.
func Stored(s string) bool {
	if s == "" || len(s) > MaxLen || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
