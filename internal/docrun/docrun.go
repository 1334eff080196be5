// Package docrun extracts the shell code blocks of a Markdown guide so that
// a test can run them in order, the way a reader would type them.
//
// A block is a fenced code block whose info string starts with "sh":
//
//	```sh expect="COMMITTED" needs=caddy
//	ten-upgrade run --binary "$NEW" --yes
//	```
//
// Attributes after the language: expect=TEXT (repeatable; TEXT must appear
// in the block's output), needs=PROGRAM (the block is skipped when PROGRAM
// is not installed). A block that cannot run in a test says so, with the
// reason: "```sh no-run: needs systemd and root". Every other fence must
// name a language that is not a shell (toml, ini, json, text, ...), so no
// command escapes the test by accident.
package docrun

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Block is one fenced code block.
type Block struct {
	Line   int    // line of the opening fence, 1-based
	Lang   string // first word of the info string
	Code   string
	NoRun  bool
	Reason string   // why a no-run block cannot run
	Expect []string // output substrings
	Needs  []string // programs the block needs
}

// Shell reports whether the block holds shell commands.
func (b Block) Shell() bool { return shellLangs[b.Lang] }

var shellLangs = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true, "zsh": true}

var attrRE = regexp.MustCompile(`([a-z][a-z-]*)=("(?:[^"\\]|\\.)*"|\S+)`)

// Parse returns the fenced code blocks of a Markdown document. It reports
// unterminated fences, shell blocks in another dialect than "sh", fences
// without a language, no-run blocks without a reason and unknown
// attributes.
func Parse(md string) ([]Block, error) {
	var blocks []Block
	var cur *Block
	var code strings.Builder
	var fence string
	sc := bufio.NewScanner(strings.NewReader(md))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		if cur != nil {
			if strings.TrimSpace(line) == fence {
				cur.Code = code.String()
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			code.WriteString(line)
			code.WriteByte('\n')
			continue
		}
		if !strings.HasPrefix(trimmed, "```") && !strings.HasPrefix(trimmed, "~~~") {
			continue
		}
		fence = trimmed[:3]
		for len(fence) < len(trimmed) && trimmed[len(fence)] == fence[0] {
			fence += fence[:1]
		}
		b, err := parseInfo(strings.TrimSpace(trimmed[len(fence):]), n)
		if err != nil {
			return nil, err
		}
		cur = &b
		code.Reset()
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: code block is not closed", cur.Line)
	}
	return blocks, sc.Err()
}

func parseInfo(info string, line int) (Block, error) {
	b := Block{Line: line}
	lang, rest, _ := strings.Cut(info, " ")
	b.Lang = lang
	rest = strings.TrimSpace(rest)
	switch {
	case lang == "":
		return b, fmt.Errorf("line %d: code block without a language (use text for output, sh for commands)", line)
	case b.Shell() && lang != "sh":
		return b, fmt.Errorf("line %d: shell block marked %q: use sh (the blocks run with sh -e)", line, lang)
	case !b.Shell():
		return b, nil
	}
	if r, ok := strings.CutPrefix(rest, "no-run"); ok {
		b.NoRun = true
		b.Reason = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(r), ":"))
		if b.Reason == "" {
			return b, fmt.Errorf("line %d: no-run block without a reason (```sh no-run: why)", line)
		}
		return b, nil
	}
	for _, m := range attrRE.FindAllStringSubmatch(rest, -1) {
		v := m[2]
		if strings.HasPrefix(v, `"`) {
			u, err := strconv.Unquote(v)
			if err != nil {
				return b, fmt.Errorf("line %d: %s: %v", line, m[0], err)
			}
			v = u
		}
		switch m[1] {
		case "expect":
			b.Expect = append(b.Expect, v)
		case "needs":
			b.Needs = append(b.Needs, v)
		default:
			return b, fmt.Errorf("line %d: unknown attribute %q", line, m[1])
		}
	}
	if left := strings.TrimSpace(attrRE.ReplaceAllString(rest, "")); left != "" {
		return b, fmt.Errorf("line %d: cannot read %q in the info string", line, left)
	}
	return b, nil
}
