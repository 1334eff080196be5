package release

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// ProjectName is the GoReleaser project name of the runtime binary.
const ProjectName = "ten"

// assetPattern matches GoReleaser's default archive and binary names:
// {project}_{version}_{os}_{arch}[.tar.gz|.tgz|.zip|.exe], where arch may
// carry a variant (armv7, amd64v3). The version part is optional, for the
// common custom template without it. A version is a semantic version's
// characters only: anything else (a "/" above all) is not a release file.
var assetPattern = regexp.MustCompile(`^([A-Za-z0-9.-]+?)_(?:v?([0-9][0-9A-Za-z.+-]*)_)?([a-z0-9]+)_([a-z0-9]+?)(?:_[a-z0-9]+)?(\.tar\.gz|\.tgz|\.zip|\.exe)?$`)

// checksumsPattern matches GoReleaser's checksum file names.
var checksumsPattern = regexp.MustCompile(`^(?:` + ProjectName + `_v?[0-9][0-9A-Za-z.+-]*_)?checksums\.txt$`)

// AssetName describes a release file name in GoReleaser's scheme.
type AssetName struct {
	Project string
	Version string
	OS      string
	Arch    string
	Ext     string // ".tar.gz", ".tgz", ".zip", ".exe" or "" for a bare binary
}

// ParseAssetName parses a GoReleaser artifact name. It returns false for
// names outside the scheme (checksums, signatures, SBOMs, ...).
func ParseAssetName(name string) (AssetName, bool) {
	if isSidecar(name) {
		return AssetName{}, false
	}
	m := assetPattern.FindStringSubmatch(name)
	if m == nil {
		return AssetName{}, false
	}
	return AssetName{Project: m[1], Version: m[2], OS: m[3], Arch: m[4], Ext: m[5]}, true
}

// isSidecar reports names that describe other assets rather than being
// one: checksums, signatures, certificates, SBOMs.
func isSidecar(name string) bool {
	lower := strings.ToLower(name)
	for _, suf := range []string{".txt", ".sig", ".minisig", ".asc", ".pem", ".sbom", ".json", ".sha256", ".sha512", ".md", ".pub", ".intoto.jsonl"} {
		if strings.HasSuffix(lower, suf) {
			return true
		}
	}
	return false
}

// goreleaserArch is the arch string GoReleaser writes for GOARCH (with the
// default GOARM=6 / GOAMD64=v1 variants, which carry no suffix).
func goreleaserArch(goarch string) []string {
	switch goarch {
	case "arm":
		return []string{"armv6", "armv7", "arm"}
	default:
		return []string{goarch}
	}
}

// SelectAsset picks the one asset of rel built for goos/goarch. It is an
// error when none or more than one matches; the error lists the
// candidates.
func SelectAsset(assets []Asset, version, goos, goarch string) (Asset, error) {
	var matches []Asset
	var platformAssets []string
	arches := goreleaserArch(goarch)
	for _, a := range assets {
		n, ok := ParseAssetName(a.Name)
		if !ok || n.Project != ProjectName {
			continue
		}
		platformAssets = append(platformAssets, a.Name)
		if n.OS != goos || !slices.Contains(arches, n.Arch) {
			continue
		}
		if n.Version != "" && version != "" && CanonicalVersion(n.Version) != version {
			continue
		}
		if n.Ext == ".exe" && goos != "windows" {
			continue
		}
		matches = append(matches, a)
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		sort.Strings(platformAssets)
		if len(platformAssets) == 0 {
			return Asset{}, fmt.Errorf("the release has no %s_VERSION_OS_ARCH assets (files: %s); publish GoReleaser archives or use --binary", ProjectName, listNames(assets))
		}
		return Asset{}, fmt.Errorf("no asset for %s/%s; the release has: %s", goos, goarch, strings.Join(platformAssets, ", "))
	default:
		names := make([]string, len(matches))
		for i, a := range matches {
			names[i] = a.Name
		}
		sort.Strings(names)
		return Asset{}, fmt.Errorf("%d assets match %s/%s, expected exactly one: %s", len(matches), goos, goarch, strings.Join(names, ", "))
	}
}

func listNames(assets []Asset) string {
	if len(assets) == 0 {
		return "none"
	}
	names := make([]string, len(assets))
	for i, a := range assets {
		names[i] = a.Name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// ChecksumsAsset finds GoReleaser's checksum file: "checksums.txt" or
// "{project}_{version}_checksums.txt".
func ChecksumsAsset(assets []Asset) (Asset, bool) {
	for _, a := range assets {
		if a.Name == "checksums.txt" {
			return a, true
		}
	}
	for _, a := range assets {
		if checksumsPattern.MatchString(a.Name) {
			return a, true
		}
	}
	return Asset{}, false
}

// CheckAssetNames refuses a release with an asset whose name is not a
// plain file name: empty, "." or "..", a path separator, a control
// character, or longer than a file name may be. GitHub never serves such
// a name, so one means a hostile or broken API; and since assets are
// saved under their names, it could write outside the download
// directory. The error names the asset.
func CheckAssetNames(assets []Asset) error {
	for _, a := range assets {
		if why := badFileName(a.Name); why != "" {
			return fmt.Errorf("asset %q is not a plain file name (%s): refusing the release (nothing was downloaded); check --repo and --github-api", a.Name, why)
		}
	}
	return nil
}

func badFileName(name string) string {
	switch {
	case name == "":
		return "it is empty"
	case name == "." || name == "..":
		return "it names a directory"
	case len(name) > 255:
		return "it is longer than 255 bytes"
	case strings.ContainsAny(name, `/\`):
		return "it contains a path separator"
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "it contains a control character"
		}
	}
	return ""
}

// FindAsset returns the asset called name.
func FindAsset(assets []Asset, name string) (Asset, bool) {
	for _, a := range assets {
		if a.Name == name {
			return a, true
		}
	}
	return Asset{}, false
}
