// Package mangen writes the man pages of a cobra command tree: one page in
// section 1 per command (ten.1, ten-serve.1, ten-completion-bash.1, ...),
// with the shell completion commands included.
//
// The page date is $SOURCE_DATE_EPOCH when set (cobra's convention), so a
// rebuild from the same commit gives the same pages; `make man` sets it to
// the commit date.
package mangen

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// Write generates the pages of root and every command under it into dir,
// creating dir, and returns the file names written, sorted. source is the
// footer's source, e.g. "ten 1.2.3".
func Write(root *cobra.Command, dir, source string) ([]string, error) {
	// cobra adds `completion` only when the command runs; the pages
	// should describe it too.
	root.InitDefaultCompletionCmd()
	disableAutoGenTag(root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	header := &doc.GenManHeader{Section: "1", Source: source, Manual: "ten manual"}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return nil, fmt.Errorf("man pages of %s: %w", root.Name(), err)
	}
	names := Pages(root)
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return nil, fmt.Errorf("man page %s was not written: %w", n, err)
		}
	}
	return names, nil
}

// Pages lists the pages Write makes for root, without writing them.
func Pages(root *cobra.Command) []string {
	root.InitDefaultCompletionCmd()
	var names []string
	walk(root, func(c *cobra.Command) {
		names = append(names, strings.ReplaceAll(c.CommandPath(), " ", "-")+".1")
	})
	sort.Strings(names)
	return names
}

// walk visits the commands that get a page: not hidden, not deprecated,
// not the help command.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
			walk(sub, fn)
		}
	}
}

func disableAutoGenTag(c *cobra.Command) {
	c.DisableAutoGenTag = true
	for _, sub := range c.Commands() {
		disableAutoGenTag(sub)
	}
}
