package doccheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// packageRef is a code span that names a package of this module:
// `runtime/supervisor`, `orchestrator/proxy`, `version`, ...
var packageRef = regexp.MustCompile("`((?:cmd|runtime|orchestrator|internal|compat|migrations|version)(?:/[a-z0-9_-]+)*)`")

// TestArchitecturePageNamesRealPackages keeps docs/architecture.md true: a
// package it names that was renamed or removed fails here, and so does a
// package of the module that the page leaves out.
func TestArchitecturePageNamesRealPackages(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, m := range packageRef.FindAllStringSubmatch(string(page), -1) {
		named[m[1]] = true
	}
	if len(named) < 10 {
		t.Fatalf("docs/architecture.md names %d packages; the pattern is broken", len(named))
	}
	for pkg := range named {
		if !hasGoFiles(filepath.Join(root, pkg)) {
			t.Errorf("docs/architecture.md names %s, which is not a package of this module", pkg)
		}
	}
	for _, pkg := range modulePackages(t, root) {
		if !named[pkg] && !strings.Contains(pkg, "test") && !strings.HasPrefix(pkg, "internal/cmd/") &&
			!strings.Contains(pkg, "/internal/") {
			t.Errorf("package %s is missing from docs/architecture.md", pkg)
		}
	}
}

func hasGoFiles(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".go") {
			return true
		}
	}
	return false
}

// modulePackages lists every directory of the module holding non-test Go
// files, relative to root.
func modulePackages(t *testing.T, root string) []string {
	t.Helper()
	var pkgs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "dist" || name == "docs" || name == "examples" || name == "scripts") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			if rel != "." && (len(pkgs) == 0 || pkgs[len(pkgs)-1] != rel) {
				pkgs = append(pkgs, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}
