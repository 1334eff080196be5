package config

import (
	"fmt"
	"strings"
)

// A service's command may hold its arguments too (command = "python3 -m
// http.server {port}"): when args is empty, tenement splits the command into
// words with the rules of the Rust shell-words crate (tenement
// hypervisor.rs:260-275, shell_words::split). SplitWords implements the same
// rules, which are the word splitting and quoting of a POSIX shell without
// any expansion:
//
//   - words are separated by spaces, tabs and newlines;
//   - '...' keeps everything literally;
//   - "..." keeps everything literally except that a backslash escapes $ ` " \
//     and a newline (which is removed); before other characters it stays;
//   - an unquoted backslash escapes the next character; a backslash-newline
//     is removed;
//   - a # at the start of a word starts a comment that runs to the end of
//     the line;
//   - a trailing unquoted backslash is kept as a literal backslash.
//
// No library matches these rules: github.com/google/shlex, for one, drops the
// backslash of "\n" inside double quotes and has other comment rules, so the
// same command would run with other arguments under ten than under tenement.

// QuoteError is a command whose quoting is not closed.
type QuoteError struct {
	Quote  rune // ' or "
	Offset int  // byte offset of the opening quote
}

func (e *QuoteError) Error() string {
	kind := "single"
	if e.Quote == '"' {
		kind = "double"
	}
	return fmt.Sprintf("unterminated %s quote (%c) opened at character %d", kind, e.Quote, e.Offset+1)
}

type splitState int

const (
	stDelimiter splitState = iota
	stUnquoted
	stBackslash         // after \ where a word would start
	stUnquotedBackslash // after \ inside a word
	stSingle
	stDouble
	stDoubleBackslash
	stComment
)

// SplitWords splits s into words as tenement's shell_words::split does.
// The only error is an unterminated quote, a *QuoteError.
func SplitWords(s string) ([]string, error) {
	words := []string{}
	var word strings.Builder
	state := stDelimiter
	quoteAt := 0
	for i, c := range s {
		switch state {
		case stDelimiter, stUnquoted:
			// Between words and inside an unquoted word alike, quotes and
			// backslashes start the same states; only blanks, '#' and what
			// a backslash continues differ.
			switch {
			case c == ' ' || c == '\t' || c == '\n':
				if state == stUnquoted {
					words = append(words, word.String())
					word.Reset()
				}
				state = stDelimiter
			case c == '\'':
				state, quoteAt = stSingle, i
			case c == '"':
				state, quoteAt = stDouble, i
			case c == '\\' && state == stDelimiter:
				state = stBackslash
			case c == '\\':
				state = stUnquotedBackslash
			case c == '#' && state == stDelimiter:
				state = stComment
			default:
				word.WriteRune(c)
				state = stUnquoted
			}
		case stBackslash, stUnquotedBackslash:
			switch {
			case c == '\n' && state == stBackslash:
				state = stDelimiter // a line continuation between words
			case c == '\n':
				state = stUnquoted
			default:
				word.WriteRune(c)
				state = stUnquoted
			}
		case stSingle:
			if c == '\'' {
				state = stUnquoted
			} else {
				word.WriteRune(c)
			}
		case stDouble:
			switch c {
			case '"':
				state = stUnquoted
			case '\\':
				state = stDoubleBackslash
			default:
				word.WriteRune(c)
			}
		case stDoubleBackslash:
			switch c {
			case '\n':
			case '$', '`', '"', '\\':
				word.WriteRune(c)
			default:
				word.WriteRune('\\')
				word.WriteRune(c)
			}
			state = stDouble
		case stComment:
			if c == '\n' {
				state = stDelimiter
			}
		}
	}
	switch state {
	case stSingle:
		return nil, &QuoteError{Quote: '\'', Offset: quoteAt}
	case stDouble, stDoubleBackslash:
		return nil, &QuoteError{Quote: '"', Offset: quoteAt}
	case stBackslash, stUnquotedBackslash:
		word.WriteRune('\\')
		words = append(words, word.String())
	case stUnquoted:
		words = append(words, word.String())
	}
	return words, nil
}
