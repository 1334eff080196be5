// Package doccheck finds broken relative links in Markdown files: links to
// files that do not exist, links that leave the repository, and #anchors
// that no heading of the target document defines.
//
// Anchors are GitHub's: the heading text, lowercased, with punctuation
// other than "-" and "_" removed and each space turned into "-"; a
// repeated heading gets "-1", "-2", ... Explicit <a id="..."> or
// <a name="..."> anchors count too. Only ATX headings ("## Title") are
// read. Links inside code (fenced blocks and `code spans`) are not links
// and are skipped; absolute URLs (https:, mailto:, ...) are not checked.
package doccheck

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Problem is one broken link.
type Problem struct {
	File   string // relative to the root, slash-separated
	Line   int
	Link   string
	Reason string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Link, p.Reason)
}

// Link is a link target found in a document.
type Link struct {
	Line   int
	Target string
}

var (
	inlineLink = regexp.MustCompile(`!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)`)
	refDef     = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)`)
	atxHeading = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	htmlAnchor = regexp.MustCompile(`<a\s[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']`)
	codeSpan   = regexp.MustCompile("(`+)(.*?)(`+)")
	scheme     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// lines yields the lines of a Markdown document that are not inside a
// fenced code block, with their 1-based numbers.
func lines(md []byte, fn func(n int, line string)) {
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	fence := ""
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		indent := len(line) - len(trimmed)
		if fence != "" {
			if indent < 4 && strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]+" \t") == "" {
				fence = ""
			}
			continue
		}
		if indent < 4 && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
			c := trimmed[:1]
			fence = trimmed[:len(trimmed)-len(strings.TrimLeft(trimmed, c))]
			continue
		}
		fn(n, line)
	}
}

// stripCode blanks out code spans, which hold text, not links.
func stripCode(line string) string {
	return codeSpan.ReplaceAllStringFunc(line, func(s string) string {
		m := codeSpan.FindStringSubmatch(s)
		if len(m[1]) != len(m[3]) {
			return s
		}
		return strings.Repeat(" ", len(s))
	})
}

// Links returns the link targets of a Markdown document: inline links and
// images, and reference definitions.
func Links(md []byte) []Link {
	var out []Link
	lines(md, func(n int, line string) {
		line = stripCode(line)
		if m := refDef.FindStringSubmatch(line); m != nil {
			out = append(out, Link{n, strings.Trim(m[1], "<>")})
			return
		}
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			out = append(out, Link{n, strings.Trim(m[1], "<>")})
		}
	})
	return out
}

// Anchors returns the anchors a Markdown document defines.
func Anchors(md []byte) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	lines(md, func(_ int, line string) {
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			anchors[m[1]] = true
		}
		m := atxHeading.FindStringSubmatch(line)
		if m == nil {
			return
		}
		slug := Slug(m[2])
		if k := seen[slug]; k > 0 {
			anchors[slug+"-"+strconv.Itoa(k)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	})
	return anchors
}

var (
	mdLink     = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	htmlTag    = regexp.MustCompile(`<[^>]+>`)
	emphasis   = regexp.MustCompile(`\*+|(^|[^\p{L}\p{N}])_+|_+([^\p{L}\p{N}]|$)`)
	backticked = regexp.MustCompile("`+([^`]*)`+")
)

// Slug is GitHub's anchor for a heading's Markdown text.
func Slug(heading string) string {
	// Render the inline Markdown to text: links to their text, no tags,
	// no emphasis markers (outside code), code without its backticks.
	var parts []string
	rest := heading
	for {
		loc := backticked.FindStringSubmatchIndex(rest)
		if loc == nil {
			parts = append(parts, plain(rest))
			break
		}
		parts = append(parts, plain(rest[:loc[0]]), rest[loc[2]:loc[3]])
		rest = rest[loc[1]:]
	}
	text := strings.ToLower(strings.Join(parts, ""))
	var b strings.Builder
	for _, r := range text {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.M, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func plain(s string) string {
	s = mdLink.ReplaceAllString(s, "$1")
	s = htmlTag.ReplaceAllString(s, "")
	return emphasis.ReplaceAllString(s, "$1$2")
}

// Check checks the relative links of files (slash-separated paths relative
// to root) and returns the broken ones, sorted by file and line.
func Check(root string, files []string) ([]Problem, error) {
	cache := map[string]map[string]bool{}
	anchorsOf := func(rel string) (map[string]bool, error) {
		if a, ok := cache[rel]; ok {
			return a, nil
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		cache[rel] = Anchors(data)
		return cache[rel], nil
	}
	var problems []Problem
	for _, file := range files {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
		if err != nil {
			return nil, err
		}
		for _, l := range Links(data) {
			reason, err := checkLink(root, file, l.Target, anchorsOf)
			if err != nil {
				return nil, err
			}
			if reason != "" {
				problems = append(problems, Problem{File: file, Line: l.Line, Link: l.Target, Reason: reason})
			}
		}
	}
	sort.SliceStable(problems, func(i, j int) bool {
		if problems[i].File != problems[j].File {
			return problems[i].File < problems[j].File
		}
		return problems[i].Line < problems[j].Line
	})
	return problems, nil
}

// checkLink returns why target, linked from file, is broken, or "".
func checkLink(root, file, target string, anchorsOf func(string) (map[string]bool, error)) (string, error) {
	if target == "" {
		return "empty link", nil
	}
	if scheme.MatchString(target) || strings.HasPrefix(target, "//") {
		return "", nil // absolute: not checked here
	}
	p, frag, _ := strings.Cut(target, "#")
	p, err := url.PathUnescape(p)
	if err != nil {
		return "malformed link: " + err.Error(), nil
	}
	if q := strings.IndexByte(p, '?'); q >= 0 {
		p = p[:q]
	}
	rel := file
	if p != "" {
		if strings.HasPrefix(p, "/") {
			rel = path.Clean(strings.TrimPrefix(p, "/"))
		} else {
			rel = path.Join(path.Dir(file), p)
		}
		if rel == ".." || strings.HasPrefix(rel, "../") {
			return "points outside the repository", nil
		}
		fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return "no such file: " + rel, nil
		}
		if fi.IsDir() {
			if frag != "" {
				return "an anchor on a directory", nil
			}
			return "", nil
		}
	}
	if frag == "" {
		return "", nil
	}
	if !strings.EqualFold(path.Ext(rel), ".md") {
		return "", nil // anchors of other files (line numbers, HTML ids) are not checked
	}
	frag, err = url.PathUnescape(frag)
	if err != nil {
		return "malformed anchor: " + err.Error(), nil
	}
	anchors, err := anchorsOf(rel)
	if err != nil {
		return "", err
	}
	if !anchors[frag] {
		return fmt.Sprintf("%s has no heading with anchor #%s", rel, frag), nil
	}
	return "", nil
}

// MarkdownFiles lists the .md files under dir (relative to root, walking
// subdirectories), slash-separated and sorted.
func MarkdownFiles(root, dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".md") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}
