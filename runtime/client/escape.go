package client

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable makes a string that a tenant (or a server speaking for one)
// controls safe to write to a terminal: control characters other than tab,
// including the C1 range and DEL, are shown escaped (ESC as \x1b), and
// bytes that are not UTF-8 as \xNN. A tenant's output can then neither
// retitle the operator's terminal, clear it, nor hide lines. Everything
// else is left as it is, so ordinary output reads the same.
func Printable(s string) string {
	if isPrintable(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t' || !unicode.IsControl(r):
			b.WriteString(s[i : i+size])
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || (r != '\t' && unicode.IsControl(r)) {
			return false
		}
	}
	return true
}
