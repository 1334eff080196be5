package doccheck

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tenement/ten/internal/testfs"
)

const modulePath = "github.com/tenement/ten"

// leafPackages may not depend on the runtime or the orchestrator: an old
// ten-upgrade judges a new ten through them, so they must not link the
// code they judge (docs/architecture.md, "identity", "schema" and the
// upgrade's compat).
var leafPackages = []string{"compat", "migrations", "version"}

// upperLayers are the trees the leaf packages must not reach.
var upperLayers = []string{"runtime", "orchestrator"}

// TestLeafPackagesImportNoUpperLayer fails when compat, migrations or
// version import, directly or through other packages of the module,
// anything under runtime/ or orchestrator/.
func TestLeafPackagesImportNoUpperLayer(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range forbiddenDeps(t, root, leafPackages, upperLayers) {
		t.Error(v)
	}
}

// TestForbiddenDeps shows the check above can fail: it runs it on small
// module trees written for the test.
func TestForbiddenDeps(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // path -> source
		want  []string
	}{
		{
			name: "clean",
			files: map[string]string{
				"compat/a.go":     "package compat\nimport (\"fmt\"; \"github.com/tenement/ten/internal/x\")\n",
				"internal/x/x.go": "package x\n",
			},
		},
		{
			name: "direct",
			files: map[string]string{
				"compat/a.go":        "package compat\nimport \"github.com/tenement/ten/runtime/store\"\n",
				"runtime/store/s.go": "package store\n",
			},
			want: []string{"compat imports runtime/store"},
		},
		{
			name: "through another package",
			files: map[string]string{
				"compat/a.go":                  "package compat\nimport \"github.com/tenement/ten/internal/x\"\n",
				"internal/x/x.go":              "package x\nimport \"github.com/tenement/ten/orchestrator/proxy\"\n",
				"orchestrator/proxy/p.go":      "package proxy\n",
				"orchestrator/proxy/p_test.go": "package proxy\n",
			},
			want: []string{"compat imports orchestrator/proxy (through internal/x)"},
		},
		{
			name: "tests may",
			files: map[string]string{
				"compat/a_test.go":   "package compat\nimport \"github.com/tenement/ten/runtime/store\"\n",
				"runtime/store/s.go": "package store\n",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			testfs.WriteFiles(t, root, tt.files)
			if got := forbiddenDeps(t, root, []string{"compat"}, upperLayers); !slices.Equal(got, tt.want) {
				t.Errorf("forbiddenDeps = %q, want %q", got, tt.want)
			}
		})
	}
}

// forbiddenDeps follows the imports of the non-test Go files of each of
// pkgs (directories relative to root, the module's root) through the
// module and returns one message for every package under one of the
// forbidden trees that is reached, naming the package it came through.
func forbiddenDeps(t *testing.T, root string, pkgs, forbidden []string) []string {
	t.Helper()
	var found []string
	for _, start := range pkgs {
		via := map[string]string{start: ""} // package -> the package that imported it
		queue := []string{start}
		for len(queue) > 0 {
			pkg := queue[0]
			queue = queue[1:]
			for _, dep := range localImports(t, root, pkg) {
				if _, seen := via[dep]; seen {
					continue
				}
				via[dep] = pkg
				if slices.ContainsFunc(forbidden, func(f string) bool { return dep == f || strings.HasPrefix(dep, f+"/") }) {
					msg := start + " imports " + dep
					if pkg != start {
						msg += " (through " + pkg + ")"
					}
					found = append(found, msg)
					continue
				}
				queue = append(queue, dep)
			}
		}
	}
	slices.Sort(found)
	return found
}

// localImports returns the packages of this module that the non-test Go
// files in root/pkg import, relative to the module's root.
func localImports(t *testing.T, root, pkg string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(pkg), "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var deps []string
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if rel, ok := strings.CutPrefix(path, modulePath+"/"); ok && !slices.Contains(deps, rel) {
				deps = append(deps, rel)
			}
		}
	}
	return deps
}
