// Package releasebuild makes the release artifacts that .goreleaser.yaml
// describes, with `go build` and Go code alone, for `make release-local`
// on machines without GoReleaser:
//
//	dist/ten_{version}_{os}_{arch}.tar.gz   ten, ten-upgrade, CHANGELOG.md, LICENSE, README.md
//	dist/checksums.txt                      "{sha256}  {archive}\n", sorted by name
//	dist/checksums.txt.minisig              minisign signature of checksums.txt
//
// The names, the archive layout (entries, order, modes, owner, mtime) and
// the checksums format are those GoReleaser produces from .goreleaser.yaml;
// a test keeps the two in step. The compressed bytes may differ from
// GoReleaser's: only the content is the contract.
package releasebuild

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/tenement/ten/orchestrator/release"
)

// Project is GoReleaser's project_name: the first part of every archive
// name, and the name ten-upgrade looks for.
const Project = "ten"

// VersionPackage is where the build identity is stamped.
const VersionPackage = "github.com/tenement/ten/version"

// Names of the checksum file and its signature.
const (
	ChecksumsName = "checksums.txt"
	SignatureName = ChecksumsName + ".minisig"
)

// Binary is one program in every archive.
type Binary struct {
	Name    string // file name in the archive
	Package string // main package, relative to the module root
}

// Binaries are built for every target, and packed in this order after
// ExtraFiles.
var Binaries = []Binary{
	{Name: "ten", Package: "./cmd/ten"},
	{Name: "ten-upgrade", Package: "./cmd/ten-upgrade"},
}

// ExtraFiles are copied from the module root into every archive, sorted by
// name as GoReleaser adds them.
var ExtraFiles = []string{"CHANGELOG.md", "LICENSE", "README.md"}

// File modes and owner of archive entries (archives.files.info and
// archives.builds_info in .goreleaser.yaml).
const (
	FileMode   fs.FileMode = 0o644
	BinaryMode fs.FileMode = 0o755
	Owner                  = "root"
	Group                  = "root"
)

// Target is a platform a release is built for.
type Target struct {
	OS   string
	Arch string
}

func (t Target) String() string { return t.OS + "/" + t.Arch }

// Targets are the platforms of a release (builds.goos x builds.goarch).
var Targets = []Target{
	{"darwin", "amd64"},
	{"darwin", "arm64"},
	{"linux", "amd64"},
	{"linux", "arm64"},
}

// Host is the platform this program runs on.
func Host() Target { return Target{runtime.GOOS, runtime.GOARCH} }

// ParseTargets reads "linux/amd64,darwin/arm64"; "all" means Targets and
// "host" this machine.
func ParseTargets(s string) ([]Target, error) {
	var out []Target
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		switch part {
		case "":
			continue
		case "all":
			out = append(out, Targets...)
			continue
		case "host":
			out = append(out, Host())
			continue
		}
		goos, goarch, ok := strings.Cut(part, "/")
		if !ok || goos == "" || goarch == "" {
			return nil, fmt.Errorf("target %q: want os/arch, such as linux/amd64", part)
		}
		out = append(out, Target{goos, goarch})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no targets in %q", s)
	}
	slices.SortFunc(out, func(a, b Target) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(out), nil
}

// ArchiveName is GoReleaser's default archive name for a target:
// {project}_{version}_{os}_{arch}.tar.gz. The version has no "v".
func ArchiveName(version string, t Target) string {
	return fmt.Sprintf("%s_%s_%s_%s.tar.gz", Project, strings.TrimPrefix(version, "v"), t.OS, t.Arch)
}

// LDFlags are the linker flags of a release build (builds.ldflags).
func LDFlags(version, commit string) string {
	return fmt.Sprintf("-s -w -X %s.Version=%s -X %s.Commit=%s", VersionPackage, strings.TrimPrefix(version, "v"), VersionPackage, commit)
}

// Entry is one file of an archive.
type Entry struct {
	Name string      // path inside the archive
	Path string      // file to copy
	Mode fs.FileMode // permission bits
}

// ArchiveEntries lists what the archive of one target holds: ExtraFiles
// from root, then the binaries from binDir.
func ArchiveEntries(root, binDir string) []Entry {
	var es []Entry
	for _, f := range ExtraFiles {
		es = append(es, Entry{Name: f, Path: filepath.Join(root, f), Mode: FileMode})
	}
	for _, b := range Binaries {
		es = append(es, Entry{Name: b.Name, Path: filepath.Join(binDir, b.Name), Mode: BinaryMode})
	}
	return es
}

// WriteArchive writes entries as a gzip-compressed tar to w, the way
// GoReleaser writes a tar.gz archive: regular files only, no directories,
// owner root:root (uid and gid 0), the given mode and mtime, USTAR
// headers, and gzip at its best compression.
func WriteArchive(w io.Writer, entries []Entry, mtime time.Time) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		if err := addFile(tw, e, mtime); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func addFile(tw *tar.Writer, e Entry, mtime time.Time) error {
	f, err := os.Open(e.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", e.Path)
	}
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     e.Name,
		Mode:     int64(e.Mode.Perm()),
		Size:     fi.Size(),
		ModTime:  mtime.UTC().Truncate(time.Second),
		Uname:    Owner,
		Gname:    Group,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", e.Name, err)
	}
	n, err := io.Copy(tw, f)
	if err != nil {
		return fmt.Errorf("%s: %w", e.Name, err)
	}
	if n != fi.Size() {
		return fmt.Errorf("%s changed while it was archived", e.Path)
	}
	return nil
}

// ChecksumFile is GoReleaser's checksums.txt for the named files in dir:
// one "{sha256 hex}  {name}\n" line per file, sorted by name.
func ChecksumFile(dir string, names []string) ([]byte, error) {
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	var b strings.Builder
	for _, name := range sorted {
		sum, err := release.FileSHA256(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, name)
	}
	return []byte(b.String()), nil
}
