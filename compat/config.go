package compat

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// EvaluateConfig turns the candidate's `config --check` report into report
// lines: one per error (fail) and one per warning (warn, or fail with
// strict), or a single ok line.
func EvaluateConfig(rep ConfigReport, strict bool) []Result {
	var out []Result
	for _, d := range rep.Errors {
		out = append(out, Fail(NameConfig, FormatDiagnostic(d)))
	}
	for _, d := range rep.Warnings {
		msg := FormatDiagnostic(d)
		if strict {
			out = append(out, Fail(NameConfig, msg+" [--strict]"))
		} else {
			out = append(out, Warn(NameConfig, msg))
		}
	}
	if !rep.OK && len(rep.Errors) == 0 {
		out = append(out, Fail(NameConfig, fmt.Sprintf("%s: rejected by the candidate without a reason", filepath.Base(rep.File))))
	}
	if len(out) == 0 {
		out = append(out, OK(NameConfig, fmt.Sprintf("%s is valid for the candidate", rep.File)))
	}
	return out
}

// FormatDiagnostic renders a diagnostic on one line:
//
//	service.api.runtime: runtime is deprecated (tenement.toml:7; rename "runtime" to "isolation")
func FormatDiagnostic(d Diagnostic) string {
	msg := d.Message
	if d.Key != "" && !strings.HasPrefix(msg, d.Key) {
		msg = d.Key + ": " + msg
	}
	var where string
	if d.File != "" {
		where = filepath.Base(d.File)
		if d.Line > 0 {
			where += ":" + strconv.Itoa(d.Line)
		}
	}
	switch {
	case where != "" && d.Hint != "":
		msg += " (" + where + "; " + d.Hint + ")"
	case where != "":
		msg += " (" + where + ")"
	case d.Hint != "":
		msg += " (" + d.Hint + ")"
	}
	return msg
}
