package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Environment variables consulted by Discover and OverrideDataDir.
const (
	EnvConfig  = "TENEMENT_CONFIG"
	EnvDataDir = "TENEMENT_DATA_DIR"
)

// ErrNotFound is returned by Discover when no configuration file was named
// and none exists in the working directory or its parents. Callers that can
// run without a file use Default instead.
var ErrNotFound = errors.New("no " + FileName + " found in the current directory or any parent")

// Discover finds the configuration file to load. In order of precedence:
// flagPath (the --config flag), the TENEMENT_CONFIG environment variable, and
// the first tenement.toml found in cwd or one of its parents, the way
// tenement looks for it.
//
// A file named by the flag or the environment must exist: falling back to
// another file would silently run a different configuration than the one
// asked for. Relative paths are resolved against cwd. A nil getenv means
// os.Getenv and an empty cwd the process's working directory.
func Discover(flagPath string, getenv func(string) string, cwd string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if cwd == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("find %s: %w", FileName, err)
		}
		cwd = wd
	}
	if flagPath != "" {
		return explicitPath(flagPath, "--config", cwd)
	}
	if env := getenv(EnvConfig); env != "" {
		return explicitPath(env, EnvConfig, cwd)
	}
	for dir := filepath.Clean(cwd); ; {
		candidate := filepath.Join(dir, FileName)
		info, err := os.Stat(candidate)
		switch {
		case err == nil && info.Mode().IsRegular():
			return candidate, nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("find %s: %w", FileName, err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNotFound
		}
		dir = parent
	}
}

// explicitPath resolves a path the user named and checks that it is a file.
func explicitPath(path, source, cwd string) (string, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(cwd, path)
	}
	info, err := os.Stat(path)
	if err != nil {
		// The *fs.PathError names the path; fs.ErrNotExist stays matchable.
		return "", fmt.Errorf("config file from %s: %w", source, err)
	}
	if info.IsDir() {
		return "", fmt.Errorf("config file from %s: %s is a directory", source, path)
	}
	return path, nil
}

// OverrideDataDir replaces Settings.DataDir with the --data-dir flag value
// or, if that is empty, the TENEMENT_DATA_DIR environment variable, so that
// one file can serve several data directories. With neither set the file's
// value (or the default) stays. A nil getenv means os.Getenv.
func (c *Config) OverrideDataDir(flagValue string, getenv func(string) string) {
	if getenv == nil {
		getenv = os.Getenv
	}
	switch env := getenv(EnvDataDir); {
	case flagValue != "":
		c.Settings.DataDir = flagValue
	case env != "":
		c.Settings.DataDir = env
	}
}
