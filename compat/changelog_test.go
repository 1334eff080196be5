package compat

import (
	"strings"
	"testing"
)

const keepAChangelog = `# Changelog

All notable changes.

## [Unreleased]

### Removed
- not released yet, must not show

## [2.0.0] - 2026-03-01

### Breaking
- The /v1 API routes are gone;
  use /v2.

### Added
- Socket handoff.
  - with nested detail

## [1.2.0] - 2026-02-01

### Removed
- ` + "`runtime`" + ` alias support.

### Fixed
* A crash.

## 1.1.0

### Added
- Something old.

## [1.0.0]
- First.
`

func TestChangelogBetween(t *testing.T) {
	tests := []struct {
		after, upTo string
		found       bool
		want        []string // version|section|text|flagged
	}{
		{"1.1.0", "2.0.0", true, []string{
			"1.2.0|Removed|`runtime` alias support.|true",
			"1.2.0|Fixed|A crash.|false",
			"2.0.0|Breaking|The /v1 API routes are gone; use /v2.|true",
			"2.0.0|Added|Socket handoff.; with nested detail|false",
		}},
		{"1.0.0", "1.1.0", true, []string{"1.1.0|Added|Something old.|false"}},
		{"1.2.0", "1.2.0", false, nil},
		{"2.0.0", "2.1.0", false, nil},
	}
	for _, tt := range tests {
		entries, found := ChangelogBetween(keepAChangelog, semver(tt.after), semver(tt.upTo))
		if found != tt.found {
			t.Errorf("(%s, %s]: found = %v, want %v", tt.after, tt.upTo, found, tt.found)
		}
		var got []string
		for _, e := range entries {
			got = append(got, strings.Join([]string{e.Version, e.Section, e.Text, map[bool]string{true: "true", false: "false"}[e.Flagged]}, "|"))
		}
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("(%s, %s]:\ngot\n%s\nwant\n%s", tt.after, tt.upTo, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
}

func TestNotesEntries(t *testing.T) {
	notes := []ReleaseNotes{
		{Version: "1.1.0", Body: "## Changelog\n* 1a2b3c4 feat: add status\n* 5d6e7f8 fix: typo\n\n**Full Changelog**: https://example.com/compare\n"},
		{Version: "2.0.0", Body: "## ⚠️ BREAKING CHANGES\r\n\r\n- drop tenement v0.1 databases\r\n\r\n## Features\r\n* 9a8b7c6 feat!: new API\r\n\r\nBREAKING CHANGE: config key `runtime` removed\r\n"},
	}
	entries := NotesEntries(notes)
	var flagged, plain []string
	for _, e := range entries {
		if e.Flagged {
			flagged = append(flagged, e.Version+" "+e.Text)
		} else {
			plain = append(plain, e.Version+" "+e.Text)
		}
	}
	wantFlagged := []string{"2.0.0 drop tenement v0.1 databases", "2.0.0 9a8b7c6 feat!: new API", "2.0.0 BREAKING CHANGE: config key `runtime` removed"}
	wantPlain := []string{"1.1.0 1a2b3c4 feat: add status", "1.1.0 5d6e7f8 fix: typo"}
	if strings.Join(flagged, "\n") != strings.Join(wantFlagged, "\n") {
		t.Errorf("flagged:\n%s\nwant\n%s", strings.Join(flagged, "\n"), strings.Join(wantFlagged, "\n"))
	}
	if strings.Join(plain, "\n") != strings.Join(wantPlain, "\n") {
		t.Errorf("plain:\n%s\nwant\n%s", strings.Join(plain, "\n"), strings.Join(wantPlain, "\n"))
	}
	if entries[0].Section != "Changelog" || entries[2].Section != "BREAKING CHANGES" {
		t.Errorf("sections: %q, %q", entries[0].Section, entries[2].Section)
	}
}

func TestEvaluateChangelog(t *testing.T) {
	entries := []ChangeEntry{
		{Version: "2.0.0", Section: "Breaking", Text: "The /v1 API routes are gone", Flagged: true},
		{Version: "2.0.0", Section: "Added", Text: "x"},
		{Version: "2.0.0", Text: "BREAKING CHANGE: y", Flagged: true},
	}
	got := EvaluateChangelog(entries, "CHANGELOG.md", "1.0.0", "2.0.0")
	if len(got) != 2 || got[0].Status != StatusWarn || got[0].Message != "2.0.0 Breaking: The /v1 API routes are gone" || got[1].Message != "2.0.0 Breaking: BREAKING CHANGE: y" {
		t.Errorf("flagged results = %+v", got)
	}
	got = EvaluateChangelog(entries[1:2], "release notes", "1.0.0", "1.1.0")
	if len(got) != 1 || got[0].Status != StatusOK || !strings.Contains(got[0].Message, "1 change(s) between 1.0.0 and 1.1.0 in release notes") {
		t.Errorf("plain results = %+v", got)
	}
	got = EvaluateChangelog(nil, "CHANGELOG.md", "1.0.0", "1.1.0")
	if len(got) != 1 || got[0].Status != StatusOK || !strings.Contains(got[0].Message, "no changes") {
		t.Errorf("empty results = %+v", got)
	}
}
