package config

import (
	"fmt"
	"slices"
	"strings"
)

// synonyms maps names people reach for from other tools to tenement's, for
// mistakes too far from the right key for edit distance to catch.
var synonyms = map[string]string{
	"cmd":            "command",
	"exec":           "command",
	"arguments":      "args",
	"environment":    "env",
	"cwd":            "workdir",
	"dir":            "workdir",
	"working_dir":    "workdir",
	"healthcheck":    "health",
	"health_check":   "health",
	"restart_policy": "restart",
	"processes":      "service",
}

// suggest returns a `did you mean "x"?` hint naming the candidate closest to
// name, or "" if none is close enough to be a likely typo.
func suggest(name string, candidates []string) string {
	if best, ok := closest(name, candidates); ok {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return ""
}

func closest(name string, candidates []string) (string, bool) {
	lower := strings.ToLower(name)
	if s, ok := synonyms[lower]; ok && slices.Contains(candidates, s) {
		return s, true
	}
	// Allow two edits, but fewer for short names: every two-letter name is
	// within two edits of every other.
	limit := min(2, len(lower)/2)
	best, bestDist := "", limit+1
	for _, c := range slices.Sorted(slices.Values(candidates)) {
		if d := levenshtein(lower, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best, best != ""
}

// levenshtein returns the edit distance between a and b, counting bytes.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
