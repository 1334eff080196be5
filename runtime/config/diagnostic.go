package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Severity says whether a Diagnostic stops the configuration from being used.
type Severity string

const (
	// SeverityError marks a configuration that must not be run.
	SeverityError Severity = "error"
	// SeverityWarning marks something that works but should be changed.
	SeverityWarning Severity = "warning"
)

// Diagnostic is one problem found in a configuration.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	File     string   `json:"file,omitempty"`
	Line     int      `json:"line,omitempty"`
	Key      string   `json:"key,omitempty"` // dotted, e.g. "service.api.runtime"
	Message  string   `json:"message"`
	Hint     string   `json:"hint,omitempty"` // e.g. `did you mean "health"?`
}

// String formats d the way compilers do, so that editors can jump to it:
//
//	tenement.toml:12: unknown key service.api.helth (did you mean "health"?)
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
	}
	if d.Line > 0 {
		if d.File == "" {
			b.WriteString("line ")
		} else {
			b.WriteString(":")
		}
		b.WriteString(strconv.Itoa(d.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	if d.Hint != "" {
		fmt.Fprintf(&b, " (%s)", d.Hint)
	}
	return b.String()
}

// HasErrors reports whether any diagnostic in ds is an error.
func HasErrors(ds []Diagnostic) bool {
	return slices.ContainsFunc(ds, func(d Diagnostic) bool { return d.Severity == SeverityError })
}

// Filter returns the diagnostics in ds with severity s, in order.
func Filter(ds []Diagnostic, s Severity) []Diagnostic {
	out := []Diagnostic{}
	for _, d := range ds {
		if d.Severity == s {
			out = append(out, d)
		}
	}
	return out
}

// sortDiagnostics orders ds by position so that output reads top to bottom,
// errors before warnings about the same key; diagnostics without a line go
// last.
func sortDiagnostics(ds []Diagnostic) {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Key, b.Key),
			cmp.Compare(severityRank(a.Severity), severityRank(b.Severity)),
		)
	})
}

func severityRank(s Severity) int {
	if s == SeverityError {
		return 0
	}
	return 1
}
