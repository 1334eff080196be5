package doccheck

import (
	"slices"
	"strings"
	"testing"

	"github.com/tenement/ten/internal/testfs"
)

func TestSlugIsGitHubs(t *testing.T) {
	for heading, want := range map[string]string{
		"Configuration":                                           "configuration",
		"`[service.NAME]`":                                        "servicename",
		"`[[service.NAME.mounts]]`":                               "servicenamemounts",
		"ten-upgrade check --json":                                "ten-upgrade-check---json",
		"`GET /api/instances/{instance}/health`":                  "get-apiinstancesinstancehealth",
		"Checking a release before it ships: `ten-upgrade check`": "checking-a-release-before-it-ships-ten-upgrade-check",
		"What's *new* in **1.2**?":                                "whats-new-in-12",
		"`data_dir` and _emphasis_":                               "data_dir-and-emphasis",
		"A [link](other.md) inside":                               "a-link-inside",
		"Ünïcode Überschrift":                                     "ünïcode-überschrift",
	} {
		if got := Slug(heading); got != want {
			t.Errorf("Slug(%q) = %q, want %q", heading, got, want)
		}
	}
}

func TestAnchorsCountDuplicatesAndSkipCode(t *testing.T) {
	md := "# Title\n\n## Usage\n\n```sh\n# not a heading\n```\n\n## Usage\n\n<a id=\"custom\"></a>\n### Usage ###\n"
	got := Anchors([]byte(md))
	for _, want := range []string{"title", "usage", "usage-1", "usage-2", "custom"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a comment inside a code block became an anchor")
	}
}

func TestLinksSkipCode(t *testing.T) {
	md := "See [a](a.md#x), ![img](img/p.png \"title\") and `[not](code.md)`.\n" +
		"```\n[also not](fenced.md)\n```\n" +
		"[ref]: ref.md\n" +
		"Nested [text [with] brackets](b.md) and <https://example.com>.\n"
	var got []string
	for _, l := range Links([]byte(md)) {
		got = append(got, l.Target)
	}
	want := []string{"a.md#x", "img/p.png", "ref.md", "b.md"}
	if !slices.Equal(got, want) {
		t.Errorf("Links = %q, want %q", got, want)
	}
}

func TestCheckFindsBrokenLinks(t *testing.T) {
	root := t.TempDir()
	testfs.WriteFiles(t, root, map[string]string{
		"README.md": "# ten\n\n## Setup steps\n\n" +
			"[ok](docs/guide.md) [ok anchor](docs/guide.md#the-api) [self](#setup-steps)\n" +
			"[dir](docs/) [file](docs/example.yml) [web](https://example.com/x.md#nope) [mail](mailto:a@b.c)\n" +
			"[missing file](docs/nope.md)\n" +
			"[missing anchor](docs/guide.md#nope)\n" +
			"[missing self anchor](#setup)\n" +
			"[outside](../elsewhere.md)\n",
		"docs/guide.md":    "# Guide\n\n## The API\n\n[back](../README.md#ten) [root-relative](/README.md#setup-steps) [broken back](../README.md#gone)\n",
		"docs/example.yml": "x: 1\n",
	})
	files, err := MarkdownFiles(root, ".")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(files, []string{"README.md", "docs/guide.md"}) {
		t.Fatalf("MarkdownFiles = %v", files)
	}
	problems, err := Check(root, files)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		"README.md:7: docs/nope.md: no such file: docs/nope.md",
		"README.md:8: docs/guide.md#nope: docs/guide.md has no heading with anchor #nope",
		"README.md:9: #setup: README.md has no heading with anchor #setup",
		"README.md:10: ../elsewhere.md: points outside the repository",
		"docs/guide.md:5: ../README.md#gone: README.md has no heading with anchor #gone",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
