package doccheck

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRepositoryDocsHaveNoBrokenLinks checks README.md, CHANGELOG.md and
// every Markdown file under docs/.
func TestRepositoryDocsHaveNoBrokenLinks(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	files, err := MarkdownFiles(root, "docs")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no Markdown files under docs/")
	}
	files = append([]string{"README.md", "CHANGELOG.md"}, files...)
	problems, err := Check(root, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("checked the links of %d files", len(files))
}
