package orchestrator

import (
	"os"

	"github.com/tenement/ten/orchestrator/release"
)

// fileIs reports whether path exists with the given SHA-256.
func fileIs(path, sum string) bool {
	got, err := release.FileSHA256(path)
	return err == nil && got == sum
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
