package release

import (
	"errors"
	"os"
	"path/filepath"
)

// binaryName is the file name of the program name on goos.
func binaryName(name, goos string) string {
	if goos == "windows" {
		return name + ".exe"
	}
	return name
}

// prepareBinary turns a fetched file into an executable candidate binary:
// it unpacks an archive (keeping its CHANGELOG.md) and takes the
// executable called name out of it, takes a bare binary as is, and checks
// the executable's header against goos/goarch.
func prepareBinary(c *Candidate, file, dir, name, goos, goarch string, lim Limits) error {
	format, err := Sniff(file)
	if err != nil {
		return broken(StepBinary, err)
	}
	// A bare binary asset is the runtime itself (GoReleaser names it after
	// the project); taking it for another program would install ten under
	// that program's name.
	if format == FormatNone && name != ProjectName {
		return fail(StepBinary, "%s is a bare %s binary, not an archive: it holds no %s", filepath.Base(file), ProjectName, name)
	}
	exe := binaryName(name, goos)
	bin := file
	if format != FormatNone {
		out := filepath.Join(dir, "unpacked")
		if err := os.Mkdir(out, 0o700); err != nil {
			return broken(StepBinary, err)
		}
		files, err := Unpack(file, out, lim)
		if err != nil {
			// A refused archive leaves none of its files behind.
			if rerr := os.RemoveAll(out); rerr != nil {
				err = errors.Join(err, rerr)
			}
			return fail(StepBinary, "%w", err)
		}
		rel, err := FindFile(files, exe)
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
		c.step(StepBinary, "unpacked %s from %s; executable for %s/%s", exe, c.Asset, goos, goarch)
	} else {
		c.step(StepBinary, "%s is an executable for %s/%s", c.Asset, goos, goarch)
	}
	return nil
}
