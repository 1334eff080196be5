package compat

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	goversion "github.com/hashicorp/go-version"
)

// ChangeEntry is one item of a changelog or of release notes.
type ChangeEntry struct {
	Version string `json:"version"`
	Section string `json:"section,omitempty"` // heading it appears under: "Added", "Removed", ...
	Text    string `json:"text"`
	// Flagged marks entries under a "Breaking" or "Removed" heading, or
	// marked as breaking themselves ("BREAKING CHANGE", "feat!:").
	Flagged bool `json:"flagged"`
}

// ReleaseNotes are the notes of one release (a GitHub release body).
type ReleaseNotes struct {
	Version string
	Body    string
}

// versionHeading matches a Keep a Changelog release heading:
// "## [1.2.0] - 2024-05-01", "## 1.2.0", "## v1.2.0".
var versionHeading = regexp.MustCompile(`^##\s+\[?v?([0-9]+\.[0-9]+(?:\.[0-9]+)?(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)\]?(?:\s|$)`)

// ChangelogBetween reads a Keep a Changelog file and returns the entries of
// the releases after < version <= upTo, oldest release first. found says
// whether upTo itself has a section (a changelog without one says nothing
// about this candidate).
func ChangelogBetween(markdown string, after, upTo *goversion.Version) (entries []ChangeEntry, found bool) {
	type section struct {
		v     *goversion.Version
		lines []string
	}
	var sections []section
	var cur *section
	for _, line := range strings.Split(strings.ReplaceAll(markdown, "\r\n", "\n"), "\n") {
		if strings.HasPrefix(line, "## ") || line == "##" {
			cur = nil
			if m := versionHeading.FindStringSubmatch(line); m != nil {
				if v, err := goversion.NewSemver(m[1]); err == nil {
					sections = append(sections, section{v: v})
					cur = &sections[len(sections)-1]
				}
			}
			continue
		}
		if strings.HasPrefix(line, "# ") {
			cur = nil
			continue
		}
		if cur != nil {
			cur.lines = append(cur.lines, line)
		}
	}
	sort.SliceStable(sections, func(i, j int) bool { return sections[i].v.LessThan(sections[j].v) })
	for _, s := range sections {
		if !s.v.GreaterThan(after) || s.v.GreaterThan(upTo) {
			continue
		}
		if s.v.Equal(upTo) {
			found = true
		}
		entries = append(entries, parseEntries(s.v.String(), s.lines)...)
	}
	return entries, found
}

// NotesEntries parses release notes, one release at a time, oldest first.
func NotesEntries(notes []ReleaseNotes) []ChangeEntry {
	var out []ChangeEntry
	for _, n := range notes {
		out = append(out, parseEntries(n.Version, strings.Split(strings.ReplaceAll(n.Body, "\r\n", "\n"), "\n"))...)
	}
	return out
}

var (
	listItem       = regexp.MustCompile(`^([-*+]|[0-9]+\.)\s+(.*)$`)
	flaggedHeading = regexp.MustCompile(`(?i)\b(breaking|removed|removals?)\b`)
	breakingText   = regexp.MustCompile(`(?i)^\**breaking\b|\bBREAKING[ -]CHANGES?\b|(^|\s)[a-z]+(\([^)]*\))?!:`)
)

// parseEntries collects the list items of one release's Markdown, each
// with the heading above it. Paragraphs are skipped unless they announce a
// breaking change.
func parseEntries(version string, lines []string) []ChangeEntry {
	var out []ChangeEntry
	section := ""
	inItem := false
	for _, raw := range lines {
		line := strings.TrimRight(raw, " \t")
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			inItem = false
		case strings.HasPrefix(trimmed, "#"):
			section = cleanHeading(trimmed)
			inItem = false
		case line == trimmed && listItem.MatchString(trimmed):
			text := listItem.FindStringSubmatch(trimmed)[2]
			out = append(out, ChangeEntry{Version: version, Section: section, Text: text})
			inItem = true
		case inItem:
			// A continuation line or a nested item belongs to the entry.
			prev := &out[len(out)-1]
			if m := listItem.FindStringSubmatch(trimmed); m != nil {
				prev.Text += "; " + m[2]
			} else {
				prev.Text += " " + trimmed
			}
		case breakingText.MatchString(trimmed):
			out = append(out, ChangeEntry{Version: version, Section: section, Text: trimmed})
		}
	}
	for i := range out {
		e := &out[i]
		e.Flagged = flaggedHeading.MatchString(e.Section) || breakingText.MatchString(e.Text)
	}
	return out
}

// cleanHeading strips the #'s and decorations of a Markdown heading.
func cleanHeading(h string) string {
	h = strings.TrimLeft(h, "#")
	h = strings.Trim(h, " \t*_:")
	return strings.TrimSpace(strings.TrimLeft(h, "⚠️🚨💥❗ "))
}

// EvaluateChangelog reports the flagged entries (one warn line each) or an
// ok line counting the entries. source names where they came from.
func EvaluateChangelog(entries []ChangeEntry, source, from, to string) []Result {
	var out []Result
	for _, e := range entries {
		if e.Flagged {
			label := e.Section
			if label == "" {
				label = "Breaking"
			}
			out = append(out, Warn(NameChangelog, fmt.Sprintf("%s %s: %s", e.Version, label, e.Text)))
		}
	}
	if len(out) > 0 {
		return out
	}
	if len(entries) == 0 {
		return []Result{OK(NameChangelog, fmt.Sprintf("%s lists no changes between %s and %s", source, from, to))}
	}
	return []Result{OK(NameChangelog, fmt.Sprintf("%d change(s) between %s and %s in %s, none under Breaking or Removed", len(entries), from, to, source))}
}
