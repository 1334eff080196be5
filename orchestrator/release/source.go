// Package release finds a candidate `ten` release, downloads it, verifies it
// and unpacks it, failing closed: nothing it returns has skipped a check.
//
// A release comes from a Source: GitHub releases (see GitHub) or a local
// file (see Local). Fetching a remote release verifies a minisign signature
// over checksums.txt with a pinned public key, then the SHA-256 of the
// downloaded asset against checksums.txt, then unpacks the archive with
// hardened extraction and checks that the binary is built for this OS and
// architecture. Every step is recorded in Candidate.Steps; a failure comes
// back as an *Error naming the step.
package release

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goversion "github.com/hashicorp/go-version"
)

// Step names, shared with the check report.
const (
	StepRelease   = "release"
	StepAsset     = "asset"
	StepDownload  = "download"
	StepSignature = "signature"
	StepChecksum  = "checksum"
	StepBinary    = "binary"
)

// Release is a candidate release as its source describes it, before
// anything is downloaded.
type Release struct {
	Source     string  `json:"source"`         // "github" or "file"
	Repo       string  `json:"repo,omitempty"` // owner/name, for GitHub
	Tag        string  `json:"tag,omitempty"`  // git tag, e.g. "v1.2.3"
	Version    string  `json:"version"`        // semantic version without "v"; empty when unknown
	Name       string  `json:"name,omitempty"`
	Notes      string  `json:"-"` // release body (Markdown)
	Prerelease bool    `json:"prerelease,omitempty"`
	URL        string  `json:"url,omitempty"`  // release page
	Path       string  `json:"path,omitempty"` // local file
	Assets     []Asset `json:"-"`
}

// Asset is one file attached to a release.
type Asset struct {
	ID   int64
	Name string
	Size int64
	URL  string // browser download URL
}

// Candidate is a release fetched to disk, verified and unpacked.
type Candidate struct {
	Release Release
	// Asset is the name of the downloaded asset or of the local file.
	Asset string
	// File is the downloaded asset (or the copy of the local file).
	File string
	// Binary is the executable inside the work directory: ten, or the
	// binary GitHubOptions.Binary asked for.
	Binary string
	// SHA256 is the hex SHA-256 of File.
	SHA256 string
	// Signed is true when SHA256 was found in a checksums.txt whose minisign
	// signature verified with the pinned key (always false for local files,
	// which are trusted as given).
	Signed bool
	// KeyID is the minisign key ID that signed checksums.txt.
	KeyID string
	// Changelog is CHANGELOG.md from the archive, if it has one.
	Changelog string
	// Steps lists what was checked, in order.
	Steps []Step
}

// Step is one completed step of Fetch.
type Step struct {
	Name   string
	Detail string
}

func (c *Candidate) step(name, format string, args ...any) {
	c.Steps = append(c.Steps, Step{Name: name, Detail: fmt.Sprintf(format, args...)})
}

// Source is where a candidate release comes from.
type Source interface {
	// Resolve finds the release without downloading it.
	Resolve(ctx context.Context) (*Release, error)
	// Fetch downloads (or copies) rel into dir, verifies it and unpacks the
	// binary. dir must be an empty private directory owned by the caller.
	Fetch(ctx context.Context, rel *Release, dir string) (*Candidate, error)
}

// NotesSource is implemented by sources that can list the release notes of
// every release in a version range.
type NotesSource interface {
	// NotesBetween returns the notes of the releases with after < version
	// <= upTo, oldest first.
	NotesBetween(ctx context.Context, after, upTo *goversion.Version) ([]Notes, error)
}

// Notes are the release notes of one release.
type Notes struct {
	Version string
	Body    string
}

// Error is a failed step. Unsafe says whether the release itself failed a
// check (it is not safe to install) or whether the step could not be
// carried out (network, configuration: no decision was possible).
type Error struct {
	Step   string
	Unsafe bool
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func fail(step string, format string, args ...any) *Error {
	return &Error{Step: step, Unsafe: true, Err: fmt.Errorf(format, args...)}
}

func broken(step string, err error) *Error {
	var re *Error
	if errors.As(err, &re) {
		return re
	}
	return &Error{Step: step, Err: err}
}

// ParseVersion parses a release tag or version ("v1.2.3", "1.2.3-rc.1")
// as a semantic version.
func ParseVersion(s string) (*goversion.Version, error) {
	v, err := goversion.NewSemver(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%q is not a semantic version (want vMAJOR.MINOR.PATCH)", s)
	}
	return v, nil
}

// CanonicalVersion returns the version of a tag without its "v" prefix, or
// "" when the tag is not a semantic version.
func CanonicalVersion(tag string) string {
	v, err := ParseVersion(tag)
	if err != nil {
		return ""
	}
	return v.String()
}
