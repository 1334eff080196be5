package compat

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	goversion "github.com/hashicorp/go-version"
)

// TestRepositoryChangelogParses holds the project's CHANGELOG.md to the
// format `ten-upgrade check` reads: Keep a Changelog, an Unreleased
// section on top, then "## [X.Y.Z] - YYYY-MM-DD" sections, newest first,
// each with "### Added" / "### Breaking" / ... lists.
func TestRepositoryChangelogParses(t *testing.T) {
	data, err := os.ReadFile("../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	released := regexp.MustCompile(`^## \[([^\]]+)\] - (\d{4}-\d{2}-\d{2})$`)
	kinds := []string{"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security", "Breaking"}

	var sections []string // "Unreleased" or versions, in file order
	var versions []*goversion.Version
	current := ""
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		switch {
		case line == "## [Unreleased]":
			if len(sections) != 0 {
				t.Errorf("line %d: [Unreleased] must be the first section", n)
			}
			sections = append(sections, "Unreleased")
			current = "Unreleased"
		case strings.HasPrefix(line, "## "):
			m := released.FindStringSubmatch(line)
			if m == nil || versionHeading.FindStringSubmatch(line) == nil {
				t.Errorf("line %d: %q is neither \"## [Unreleased]\" nor \"## [X.Y.Z] - YYYY-MM-DD\"", n, line)
				current = ""
				continue
			}
			v, err := goversion.NewSemver(m[1])
			if err != nil {
				t.Errorf("line %d: %s is not a semantic version", n, m[1])
				continue
			}
			if len(versions) > 0 && !v.LessThan(versions[len(versions)-1]) {
				t.Errorf("line %d: %s is not older than the section above it", n, v)
			}
			versions = append(versions, v)
			sections = append(sections, v.String())
			current = v.String()
		case strings.HasPrefix(line, "### "):
			if current == "" {
				t.Errorf("line %d: %q is outside a release section", n, line)
			}
			if kind := strings.TrimPrefix(line, "### "); !slices.Contains(kinds, kind) {
				t.Errorf("line %d: %q: the kinds of change are %v", n, kind, kinds)
			}
		}
	}
	if len(sections) == 0 || sections[0] != "Unreleased" {
		t.Fatalf("no ## [Unreleased] section on top: %v", sections)
	}

	// Cutting a release must give `check` every entry: name the Unreleased
	// section as a version and read it back as check does.
	const next = "99.0.0"
	cut := strings.Replace(text, "## [Unreleased]", "## [Unreleased]\n\n## ["+next+"] - 2099-01-01", 1)
	unreleased := section(text, "## [Unreleased]")
	items := regexp.MustCompile(`(?m)^[-*+] `).FindAllString(unreleased, -1)
	entries, found := ChangelogBetween(cut, semver("0.0.0"), semver(next))
	var mine []ChangeEntry
	for _, e := range entries {
		if e.Version == next {
			mine = append(mine, e)
		}
	}
	if !found || len(mine) != len(items) || len(items) == 0 {
		t.Fatalf("as release %s: found %v, %d entries parsed, %d list items written", next, found, len(mine), len(items))
	}
	for _, e := range mine {
		if !slices.Contains(kinds, e.Section) || strings.TrimSpace(e.Text) == "" {
			t.Errorf("entry %q under %q", e.Text, e.Section)
		}
	}
}

// section returns the text under heading, up to the next "## ".
func section(text, heading string) string {
	_, rest, ok := strings.Cut(text, heading+"\n")
	if !ok {
		return ""
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		return rest[:i]
	}
	return rest
}

// semver parses a version the test itself writes; a bad one is a bug in
// the test.
func semver(s string) *goversion.Version { return goversion.Must(goversion.NewSemver(s)) }
