package orchestrator

import (
	"fmt"
	"io"

	"github.com/tenement/ten/compat"
)

// CheckSchema identifies the JSON shape of a CheckReport. It changes only
// when a field is removed or changes meaning; new fields may appear at any
// time.
const CheckSchema = "ten-upgrade.check/v1"

// Verdict is the answer of `ten-upgrade check`.
type Verdict string

// Verdicts and their exit codes.
const (
	VerdictSafe      Verdict = "safe"      // exit 0
	VerdictUnsafe    Verdict = "unsafe"    // exit 1: at least one check failed
	VerdictUndecided Verdict = "undecided" // exit 2: a check could not be carried out
)

// CheckReport is the result of Check, printed by `ten-upgrade check` as
// text or JSON. docs/json-output.md documents the JSON form.
type CheckReport struct {
	Schema   string  `json:"schema"`
	Verdict  Verdict `json:"verdict"`
	ExitCode int     `json:"exit_code"`
	// UpToDate is true when the candidate is the installed version: there
	// is nothing to do (the verdict is then safe).
	UpToDate bool `json:"up_to_date"`
	// OverlapPossible: the installed binary still runs on the database as
	// the candidate migrates it, so the old and new servers can overlap for
	// a zero-downtime upgrade. null when the database check did not run.
	OverlapPossible *bool `json:"overlap_possible"`
	// RollbackNeedsDBRestore: rolling back after the upgrade would need the
	// database backup restored. null when the database check did not run.
	RollbackNeedsDBRestore *bool `json:"rollback_needs_db_restore"`

	Installed *InstalledInfo         `json:"installed"`
	Candidate *CandidateInfo         `json:"candidate"`
	Config    *ConfigInfo            `json:"config"`
	Database  *compat.DatabaseReport `json:"database"`
	Changelog *ChangelogInfo         `json:"changelog"`
	// Checks are the report lines, in the order they ran.
	Checks []compat.Result `json:"checks"`
}

// InstalledInfo describes the installed binary.
type InstalledInfo struct {
	Path    string              `json:"path"`
	Found   string              `json:"found_by"` // "--installed", "binary_path" or "PATH"
	SHA256  string              `json:"sha256"`
	Version string              `json:"version"`
	Info    *compat.VersionInfo `json:"info"` // its `ten version --json`; null for binaries without it
}

// CandidateInfo describes the candidate release and binary.
type CandidateInfo struct {
	Source     string              `json:"source"` // "github" or "file"
	Repo       string              `json:"repo,omitempty"`
	Tag        string              `json:"tag,omitempty"`
	Version    string              `json:"version,omitempty"`
	Prerelease bool                `json:"prerelease"`
	URL        string              `json:"url,omitempty"`
	Path       string              `json:"path,omitempty"` // --binary
	Asset      string              `json:"asset,omitempty"`
	SHA256     string              `json:"sha256,omitempty"`
	Signed     bool                `json:"signed"`
	KeyID      string              `json:"key_id,omitempty"`
	Info       *compat.VersionInfo `json:"info"`
	// Kept and KeptSHA256 name the copy of the verified binary made for
	// `ten-upgrade run` (CheckOptions.KeepCandidate); empty for check.
	Kept       string `json:"kept,omitempty"`
	KeptSHA256 string `json:"kept_sha256,omitempty"`
}

// ConfigInfo is the candidate's verdict on the production config.
type ConfigInfo struct {
	File     string              `json:"file"`
	DataDir  string              `json:"data_dir,omitempty"`
	OK       bool                `json:"ok"`
	Errors   []compat.Diagnostic `json:"errors"`
	Warnings []compat.Diagnostic `json:"warnings"`
}

// ChangelogInfo lists the changes between the installed and the candidate
// version.
type ChangelogInfo struct {
	Source  string               `json:"source"` // "CHANGELOG.md", "release notes" or "" (none)
	From    string               `json:"from"`
	To      string               `json:"to"`
	Entries []compat.ChangeEntry `json:"entries"`
}

func (r *CheckReport) add(results ...compat.Result) {
	r.Checks = append(r.Checks, results...)
}

// finish sets the verdict from the checks: any fail makes the candidate
// unsafe; otherwise any error leaves the question undecided.
func (r *CheckReport) finish() {
	var failed, errored bool
	for _, c := range r.Checks {
		switch c.Status {
		case compat.StatusFail:
			failed = true
		case compat.StatusError:
			errored = true
		}
	}
	switch {
	case failed:
		r.Verdict, r.ExitCode = VerdictUnsafe, 1
	case errored:
		r.Verdict, r.ExitCode = VerdictUndecided, 2
	default:
		r.Verdict, r.ExitCode = VerdictSafe, 0
	}
}

// Count returns how many checks have status s.
func (r *CheckReport) Count(s compat.Status) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == s {
			n++
		}
	}
	return n
}

// WriteJSON prints the report as indented JSON.
func (r *CheckReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

// WriteText prints one line per check and a summary line:
//
//	ok    signature   checksums.txt signed by key 4A1B... (RWQ...)
//	warn  config      service.api.runtime: runtime is deprecated (tenement.toml:7)
//	fail  version     1.2.0 -> 1.1.0 is a downgrade; use ten-upgrade rollback
func (r *CheckReport) WriteText(w io.Writer) error {
	for _, c := range r.Checks {
		if _, err := fmt.Fprintf(w, "%-6s%-12s%s\n", c.Status, c.Check, c.Message); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, r.summary())
	return err
}

func (r *CheckReport) summary() string {
	switch r.Verdict {
	case VerdictUnsafe:
		return fmt.Sprintf("NOT SAFE: %d check(s) failed", r.Count(compat.StatusFail))
	case VerdictUndecided:
		return fmt.Sprintf("UNDECIDED: %d check(s) could not be carried out", r.Count(compat.StatusError))
	}
	if r.UpToDate {
		return "SAFE: nothing to do, the candidate is the installed version"
	}
	s := "SAFE to roll out"
	if r.Installed != nil && r.Candidate != nil && r.Candidate.Version != "" {
		s += fmt.Sprintf(": ten %s -> %s", r.Installed.Version, r.Candidate.Version)
	}
	switch {
	case r.OverlapPossible == nil:
	case *r.OverlapPossible:
		s += "; zero-downtime overlap possible"
	default:
		s += "; no overlap possible (the old binary cannot run on the migrated database)"
	}
	if n := r.Count(compat.StatusWarn); n > 0 {
		s += fmt.Sprintf("; %d warning(s)", n)
	}
	return s
}

// failures are the checks that failed or could not be made, as
// "check: message".
func (r *CheckReport) failures() []string {
	var out []string
	for _, c := range r.Checks {
		if c.Status == compat.StatusFail || c.Status == compat.StatusError {
			out = append(out, c.Check+": "+c.Message)
		}
	}
	return out
}
