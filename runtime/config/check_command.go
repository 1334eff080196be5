package config

import (
	"errors"
	"strings"
)

// checkCommand reports a command that cannot be split into words. With
// args empty the command is split as tenement does (hypervisor.rs:260-275),
// so an unclosed quote would otherwise only show at the first spawn.
func (p *parser) checkCommand(path []string, s *Service) {
	if len(s.Args) > 0 {
		return // the command is the program as written, not split
	}
	words, err := SplitWords(s.Command)
	var qe *QuoteError
	switch {
	case errors.As(err, &qe):
		p.errorf(path, "close the quote, or list the arguments in args = [...]: without args the command is split like a shell command line",
			"%s in %q", qe, s.Command)
	case err != nil:
		p.errorf(path, "", "%v", err)
	case len(words) == 0:
		p.errorf(path, `write the program first, e.g. command = "./your-app --flag"`, "%q has no words outside a comment", s.Command)
	}
}

// checkPassthrough reports env_passthrough entries that cannot be names of
// environment variables.
func (p *parser) checkPassthrough(path []string, names []string) {
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, "=\x00") {
			p.errorf(path, "list variable names, such as \"DATABASE_URL\"", "%q cannot be an environment variable name", n)
		}
	}
}
