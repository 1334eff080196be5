package release

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// LocalOptions configure a local-file source.
type LocalOptions struct {
	// Path is a ten binary or a release archive (tar.gz or zip).
	Path string
	// GOOS and GOARCH are checked against the binary; empty means this
	// machine.
	GOOS, GOARCH string
	// MaxSize caps the file (DefaultMaxSize when 0).
	MaxSize int64
	// Limits bound archive extraction (DefaultLimits when zero).
	Limits Limits
}

// Local is a Source for a file already on this machine: an air-gapped
// server, or CI that just built the binary. The file is trusted as given
// (no signature); its SHA-256 is recorded.
type Local struct {
	opts LocalOptions
}

var _ Source = (*Local)(nil)

// NewLocal returns a source for opts.Path.
func NewLocal(opts LocalOptions) *Local {
	if opts.GOOS == "" {
		opts.GOOS = runtime.GOOS
	}
	if opts.GOARCH == "" {
		opts.GOARCH = runtime.GOARCH
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	return &Local{opts: opts}
}

// Resolve checks that the file exists. Its version is only known once the
// binary is asked.
func (l *Local) Resolve(context.Context) (*Release, error) {
	abs, err := filepath.Abs(l.opts.Path)
	if err != nil {
		return nil, broken(StepRelease, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, broken(StepRelease, fmt.Errorf("--binary: %w", err))
	}
	if !fi.Mode().IsRegular() {
		return nil, broken(StepRelease, fmt.Errorf("--binary %s is not a regular file", abs))
	}
	return &Release{Source: "file", Path: abs, Name: filepath.Base(abs)}, nil
}

// Fetch copies the file into dir (so that what is checked is what runs,
// even if the original changes), records its SHA-256 and unpacks it.
func (l *Local) Fetch(ctx context.Context, rel *Release, dir string) (*Candidate, error) {
	c := &Candidate{Release: *rel, Asset: filepath.Base(rel.Path)}
	src, err := os.Open(rel.Path)
	if err != nil {
		return c, broken(StepRelease, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return c, broken(StepRelease, err)
	}
	name := "candidate-" + filepath.Base(rel.Path)
	c.File = filepath.Join(dir, name)
	sum, n, err := saveStream(src, dir, name, c.Asset, fi.Size(), l.opts.MaxSize, nil)
	if err != nil {
		return c, broken(StepRelease, err)
	}
	c.SHA256 = sum
	c.step(StepRelease, "local file %s (%s), sha256 %s; trusted as given, not signature-checked", rel.Path, size(n), sum)
	if err := prepareBinary(c, c.File, dir, ProjectName, l.opts.GOOS, l.opts.GOARCH, l.opts.Limits); err != nil {
		return c, err
	}
	return c, nil
}
