package config

import (
	"bytes"
	"strconv"
	"strings"
)

// The TOML decoder reports positions only for syntax errors, so the lines of
// keys are recovered by scanning the source again. The document has already
// been decoded successfully when this runs, which lets the scanner be small:
// it only has to follow the structure of valid TOML (tables, dotted and
// quoted keys, inline tables, arrays and the four kinds of string) closely
// enough not to mistake a value for a key.

// keyLines maps a key path, joined by pathID, to the line on which the key is
// first mentioned: its own line for a key/value pair, the header's line for a
// table, and for a table created implicitly (the "a" in a.b = 1 or [a.b]) the
// line of the first key or header that created it.
type keyLines map[string]int

// pathID joins a key path into a map key. NUL cannot occur in a TOML key, so
// unlike a dot it cannot make two different paths collide.
func pathID(path []string) string {
	return strings.Join(path, "\x00")
}

// scanKeyLines returns the line of every key defined in src.
func scanKeyLines(src []byte) keyLines {
	s := &keyScanner{src: src, line: 1, lines: keyLines{}}
	s.document()
	return s.lines
}

type keyScanner struct {
	src   []byte
	i     int // read offset in src
	line  int // line of src[i], from 1
	lines keyLines
}

func (s *keyScanner) document() {
	if bytes.HasPrefix(s.src, bomUTF8) {
		s.i = len(bomUTF8)
	}
	var table []string
	for s.i < len(s.src) {
		s.skipSpace()
		if s.i >= len(s.src) {
			break
		}
		switch s.src[s.i] {
		case '\n':
			s.line++
			s.i++
		case '\r':
			s.i++
		case '#':
			s.skipLine()
		case '[':
			s.i++
			if s.at('[') { // array of tables: its keys have no index in our paths
				s.i++
			}
			if key, ok := s.key(); ok {
				table = key
				s.define(table)
			}
			s.skipLine()
		default:
			s.keyValue(table)
			s.skipLine()
		}
	}
}

// define records path and each of its prefixes at the current line unless
// they were mentioned earlier.
func (s *keyScanner) define(path []string) {
	for k := 1; k <= len(path); k++ {
		id := pathID(path[:k])
		if _, ok := s.lines[id]; !ok {
			s.lines[id] = s.line
		}
	}
}

// key reads a dotted key such as a."b.c".'d'.
func (s *keyScanner) key() ([]string, bool) {
	var path []string
	for {
		s.skipSpace()
		part, ok := s.simpleKey()
		if !ok {
			return nil, false
		}
		path = append(path, part)
		s.skipSpace()
		if !s.at('.') {
			return path, true
		}
		s.i++
	}
}

func (s *keyScanner) simpleKey() (string, bool) {
	if s.i >= len(s.src) {
		return "", false
	}
	switch q := s.src[s.i]; q {
	case '"', '\'':
		s.i++
		start := s.i
		for s.i < len(s.src) && s.src[s.i] != q && s.src[s.i] != '\n' {
			if q == '"' && s.src[s.i] == '\\' {
				s.i++
			}
			s.i++
		}
		end := min(s.i, len(s.src))
		raw := string(s.src[start:end])
		s.i = min(s.i+1, len(s.src)) // closing quote
		if q == '"' {
			// TOML escapes are a subset of Go's apart from \e; a key using
			// that is left as written, which only costs its line number.
			if u, err := strconv.Unquote(`"` + raw + `"`); err == nil {
				return u, true
			}
		}
		return raw, true
	default:
		start := s.i
		for s.i < len(s.src) && isBareKeyByte(s.src[s.i]) {
			s.i++
		}
		return string(s.src[start:s.i]), s.i > start
	}
}

// value skips one value, recording the keys of inline tables it contains
// under path.
func (s *keyScanner) value(path []string) {
	s.skipSpace()
	if s.i >= len(s.src) {
		return
	}
	switch s.src[s.i] {
	case '"', '\'':
		s.str()
	case '[':
		s.items(']', func() { s.value(path) }) // inline tables in an array share the array's path
	case '{':
		s.items('}', func() { s.keyValue(path) })
	default:
		s.scalar()
	}
}

// keyValue scans "key = value", defining the key, and any keys inside
// its value, under table.
func (s *keyScanner) keyValue(table []string) {
	key, ok := s.key()
	if !ok {
		return
	}
	s.skipSpace()
	if s.at('=') {
		s.i++
		full := join(table, key)
		s.define(full)
		s.value(full)
	}
}

// items skips the comma-separated items of an array or an inline table
// (TOML 1.1 lets both span lines) up to and including end, scanning each
// item with item.
func (s *keyScanner) items(end byte, item func()) {
	s.i++
	for s.i < len(s.src) {
		s.skipBlank()
		if s.i >= len(s.src) {
			return
		}
		start := s.i
		switch s.src[s.i] {
		case end:
			s.i++
			return
		case ',':
			s.i++
		default:
			item()
		}
		if s.i == start {
			s.i++
		}
	}
}

// str skips a basic, literal or multi-line string.
func (s *keyScanner) str() {
	q := s.src[s.i]
	delim := []byte{q, q, q}
	if bytes.HasPrefix(s.src[s.i:], delim) {
		s.i += 3
		for s.i < len(s.src) {
			switch c := s.src[s.i]; {
			case c == '\\' && q == '"':
				s.i++
				if s.i < len(s.src) && s.src[s.i] == '\n' { // line-ending backslash
					s.line++
				}
				s.i++
			case c == '\n':
				s.line++
				s.i++
			case bytes.HasPrefix(s.src[s.i:], delim):
				s.i += 3
				// Up to two quotes may directly precede the closing delimiter
				// ("""a"""" is `a"`), which makes them look like it follows.
				for k := 0; k < 2 && s.at(q); k++ {
					s.i++
				}
				return
			default:
				s.i++
			}
		}
		return
	}
	s.i++
	for s.i < len(s.src) && s.src[s.i] != q && s.src[s.i] != '\n' {
		if q == '"' && s.src[s.i] == '\\' {
			s.i++
		}
		s.i++
	}
	s.i = min(s.i+1, len(s.src))
}

// scalar skips a number, boolean or date-time.
func (s *keyScanner) scalar() {
	start := s.i
	s.skipScalarBytes()
	// A date and a time may be separated by a space: 1979-05-27 07:32:00.
	if s.i-start == len("2006-01-02") && s.src[start+4] == '-' && s.src[start+7] == '-' &&
		s.i+1 < len(s.src) && s.src[s.i] == ' ' && isDigit(s.src[s.i+1]) {
		s.i++
		s.skipScalarBytes()
	}
}

func (s *keyScanner) skipScalarBytes() {
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case ' ', '\t', '\r', '\n', ',', ']', '}', '#':
			return
		}
		s.i++
	}
}

// skipSpace skips spaces and tabs.
func (s *keyScanner) skipSpace() {
	for s.i < len(s.src) && (s.src[s.i] == ' ' || s.src[s.i] == '\t') {
		s.i++
	}
}

// skipBlank skips whitespace, newlines and comments, as allowed between the
// elements of an array.
func (s *keyScanner) skipBlank() {
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case ' ', '\t', '\r':
			s.i++
		case '\n':
			s.line++
			s.i++
		case '#':
			s.skipLine()
		default:
			return
		}
	}
}

// skipLine advances to the next newline without consuming it.
func (s *keyScanner) skipLine() {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.i++
	}
}

func (s *keyScanner) at(c byte) bool {
	return s.i < len(s.src) && s.src[s.i] == c
}

var bomUTF8 = []byte("\xef\xbb\xbf")

// isBareKeyByte reports whether c may appear in an unquoted key. Bytes of
// multi-byte UTF-8 sequences are accepted because TOML 1.1 allows letters
// beyond ASCII.
func isBareKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '_' || c == '-' || c >= 0x80
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// join returns a new slice holding a followed by b.
func join(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

// keyString formats a key path as it would be written in TOML, quoting the
// parts that are not bare keys: routing.subdomain."api.example.com".
func keyString(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = p
		if p == "" || strings.ContainsFunc(p, func(r rune) bool { return r >= 0x80 || !isBareKeyByte(byte(r)) }) {
			parts[i] = strconv.Quote(p)
		}
	}
	return strings.Join(parts, ".")
}
