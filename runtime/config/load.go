package config

import (
	"errors"
	"fmt"
	"os"

	"github.com/BurntSushi/toml"
)

// Parse decodes a tenement.toml document. file names it in diagnostics and
// errors, and becomes the Config's Path.
//
// The returned error is non-nil only when data is not valid TOML; it is then
// a *SyntaxError. Everything else that is wrong with the document, including
// values of the wrong type, comes back as diagnostics alongside a Config
// that holds every value that could be used; check HasErrors before running
// it.
func Parse(data []byte, file string) (*Config, []Diagnostic, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, nil, syntaxError(file, err)
	}
	p := &parser{
		file:   file,
		lines:  scanKeyLines(data),
		origin: map[string][]string{},
	}
	c := p.decode(raw)
	c.Path = file
	p.check(c)
	sortDiagnostics(p.diags)
	return c, p.diags, nil
}

// Load reads the file at path and parses it. A file that cannot be read is
// an error naming path.
func Load(path string) (*Config, []Diagnostic, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// The *fs.PathError already names the file.
		return nil, nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(data, path)
}

// SyntaxError reports a document that is not valid TOML.
type SyntaxError struct {
	File   string
	Line   int
	Column int
	Msg    string
	Err    error // the toml.ParseError, for its ErrorWithPosition
}

func (e *SyntaxError) Error() string {
	d := Diagnostic{File: e.File, Line: e.Line, Message: "invalid TOML: " + e.Msg}
	return d.String()
}

func (e *SyntaxError) Unwrap() error { return e.Err }

func syntaxError(file string, err error) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("parse %s: %w", file, err)
	}
	return &SyntaxError{
		File:   file,
		Line:   pe.Position.Line,
		Column: pe.Position.Col,
		Msg:    pe.Message,
		Err:    pe,
	}
}
