package supervisor

import "fmt"

// validName accepts what tenement accepts in a subdomain label: ASCII
// letters, digits, '-' and '_', 1..63 bytes, not starting with '-'.
func validName(s string) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if len(s) > 63 {
		return fmt.Errorf("longer than 63 bytes")
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
		case r == '-' && i > 0:
		default:
			return fmt.Errorf("invalid character %q", r)
		}
	}
	return nil
}
