// Package compattest builds real ten binaries for tests: cmd/ten at a
// given version, optionally with one of the test-only migrations
// (ten_testmigration_expand, ten_testmigration_contract).
package compattest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Build tags that add a test-only migration 0003 to cmd/ten.
const (
	TagExpand   = "ten_testmigration_expand"
	TagContract = "ten_testmigration_contract"
)

// Variant is one build of cmd/ten.
type Variant struct {
	Name    string // file name in the output directory
	Version string // stamped into version.Version
	Tags    string // build tags, comma-separated
}

// Build compiles every variant into dir (CGO_ENABLED=0, in parallel) and
// returns the binaries' paths by variant name.
func Build(dir string, variants ...Variant) (map[string]string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("building test binaries needs the go command: %w", err)
	}
	out := make(map[string]string, len(variants))
	errs := make([]error, len(variants))
	var wg sync.WaitGroup
	for i, v := range variants {
		path := filepath.Join(dir, v.Name)
		out[v.Name] = path
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"build", "-o", path,
				"-ldflags", "-X github.com/tenement/ten/version.Version=" + v.Version + " -X github.com/tenement/ten/version.Commit=test"}
			if v.Tags != "" {
				args = append(args, "-tags", v.Tags)
			}
			args = append(args, "./cmd/ten")
			cmd := exec.Command(goBin, args...)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				errs[i] = fmt.Errorf("build %s (%s, tags %q): %v\n%s", v.Name, v.Version, v.Tags, err, strings.TrimSpace(stderr.String()))
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// ModuleRoot finds the directory of go.mod above the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}
