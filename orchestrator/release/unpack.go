package release

import (
	"os"
	"path/filepath"
)

// binaryName is the runtime's executable name inside a release.
func binaryName(goos string) string {
	if goos == "windows" {
		return ProjectName + ".exe"
	}
	return ProjectName
}

// prepareBinary turns a fetched file into an executable candidate binary:
// it unpacks an archive (keeping its CHANGELOG.md), takes a bare binary as
// is, and checks the executable's header against goos/goarch.
func prepareBinary(c *Candidate, file, dir, goos, goarch string, lim Limits) error {
	format, err := Sniff(file)
	if err != nil {
		return broken(StepBinary, err)
	}
	bin := file
	if format != FormatNone {
		out := filepath.Join(dir, "unpacked")
		if err := os.Mkdir(out, 0o700); err != nil {
			return broken(StepBinary, err)
		}
		files, err := Unpack(file, out, lim)
		if err != nil {
			return fail(StepBinary, "%w", err)
		}
		rel, err := FindFile(files, binaryName(goos))
		if err != nil {
			return fail(StepBinary, "%s: %w", filepath.Base(file), err)
		}
		bin = filepath.Join(out, filepath.FromSlash(rel))
		if cl, err := FindFile(files, "CHANGELOG.md"); err == nil {
			data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(cl)))
			if err != nil {
				return broken(StepBinary, err)
			}
			c.Changelog = string(data)
		}
	}
	if err := CheckExecutable(bin, goos, goarch); err != nil {
		return fail(StepBinary, "%s: %w", filepath.Base(bin), err)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		return broken(StepBinary, err)
	}
	c.Binary = bin
	if format != FormatNone {
		c.step(StepBinary, "unpacked %s from %s; executable for %s/%s", binaryName(goos), c.Asset, goos, goarch)
	} else {
		c.step(StepBinary, "%s is an executable for %s/%s", c.Asset, goos, goarch)
	}
	return nil
}
