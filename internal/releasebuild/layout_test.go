package releasebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/internal/testfs"
	"github.com/tenement/ten/orchestrator/release"
)

// The names release-local writes are the ones ten-upgrade selects: for
// every target exactly its own archive, among all the assets of a release.
func TestArchiveNamesAreWhatTenUpgradeSelects(t *testing.T) {
	for _, version := range []string{"1.2.3", "v1.2.3", "2.0.0-rc.1"} {
		var assets []release.Asset
		for _, tg := range Targets {
			assets = append(assets, release.Asset{Name: ArchiveName(version, tg)})
		}
		assets = append(assets, release.Asset{Name: ChecksumsName}, release.Asset{Name: SignatureName},
			release.Asset{Name: ThrowawayPublicKey})
		canonical := release.CanonicalVersion(version)
		for _, tg := range Targets {
			name := ArchiveName(version, tg)
			n, ok := release.ParseAssetName(name)
			if !ok || n.Project != release.ProjectName || release.CanonicalVersion(n.Version) != canonical || n.OS != tg.OS || n.Arch != tg.Arch || n.Ext != ".tar.gz" {
				t.Errorf("%s parses as %+v (%v)", name, n, ok)
			}
			got, err := release.SelectAsset(assets, canonical, tg.OS, tg.Arch)
			if err != nil || got.Name != name {
				t.Errorf("%s %s: ten-upgrade selects %q (%v), want %s", version, tg, got.Name, err, name)
			}
		}
		sums, ok := release.ChecksumsAsset(assets)
		if !ok || sums.Name != ChecksumsName {
			t.Errorf("ten-upgrade finds checksums %q (%v)", sums.Name, ok)
		}
	}
	if got := ArchiveName("v1.2.3", Target{"linux", "amd64"}); got != "ten_1.2.3_linux_amd64.tar.gz" {
		t.Errorf("ArchiveName = %q", got)
	}
}

func TestArchiveLayout(t *testing.T) {
	root, bin := t.TempDir(), t.TempDir()
	testfs.WriteFiles(t, root, map[string]string{"CHANGELOG.md": "# Changelog\n", "LICENSE": "MIT\n", "README.md": "# ten\n"})
	testfs.WriteFiles(t, bin, map[string]string{"ten": "ten binary", "ten-upgrade": "ten-upgrade binary"})
	mtime := time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("X", 3600))
	var buf bytes.Buffer
	if err := WriteArchive(&buf, ArchiveEntries(root, bin), mtime); err != nil {
		t.Fatal(err)
	}

	gz, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	type entry struct {
		name  string
		mode  int64
		body  string
		owner string
	}
	var got []entry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if hdr.Typeflag != tar.TypeReg || hdr.Format != tar.FormatUSTAR {
			t.Errorf("%s: type %q format %v, want a regular file in a USTAR header", hdr.Name, hdr.Typeflag, hdr.Format)
		}
		if !hdr.ModTime.Equal(mtime.Truncate(time.Second)) {
			t.Errorf("%s: mtime %v, want %v", hdr.Name, hdr.ModTime, mtime.Truncate(time.Second))
		}
		if hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("%s: uid %d gid %d, want 0", hdr.Name, hdr.Uid, hdr.Gid)
		}
		got = append(got, entry{hdr.Name, hdr.Mode, string(body), hdr.Uname + ":" + hdr.Gname})
	}
	// GoReleaser's order: the extra files by name, then the binaries.
	want := []entry{
		{"CHANGELOG.md", 0o644, "# Changelog\n", "root:root"},
		{"LICENSE", 0o644, "MIT\n", "root:root"},
		{"README.md", 0o644, "# ten\n", "root:root"},
		{"ten", 0o755, "ten binary", "root:root"},
		{"ten-upgrade", 0o755, "ten-upgrade binary", "root:root"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("archive entries:\n got %v\nwant %v", got, want)
	}

	// ten-upgrade's hardened unpacker takes it.
	arch := filepath.Join(t.TempDir(), "a.tar.gz")
	if err := os.WriteFile(arch, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	files, err := release.Unpack(arch, out, release.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if p, err := release.FindFile(files, "ten"); err != nil || p != "ten" {
		t.Errorf("FindFile(ten) = %q, %v", p, err)
	}

	// The same input gives the same bytes.
	var again bytes.Buffer
	if err := WriteArchive(&again, ArchiveEntries(root, bin), mtime); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two archives of the same files differ")
	}
}

func TestArchiveOfMissingFileFails(t *testing.T) {
	root := t.TempDir()
	err := WriteArchive(io.Discard, ArchiveEntries(root, root), time.Unix(0, 0))
	if err == nil {
		t.Fatal("an archive of missing files was written")
	}
}

func TestChecksumFileFormat(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"ten_1.0.0_linux_arm64.tar.gz": "b", "ten_1.0.0_darwin_amd64.tar.gz": "a", "ten_1.0.0_linux_amd64.tar.gz": "c"}
	testfs.WriteFiles(t, dir, files)
	data, err := ChecksumFile(dir, []string{"ten_1.0.0_linux_arm64.tar.gz", "ten_1.0.0_darwin_amd64.tar.gz", "ten_1.0.0_linux_amd64.tar.gz"})
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`^[0-9a-f]{64}  \S+$`)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var names []string
	for _, l := range lines {
		if !line.MatchString(l) {
			t.Errorf("line %q is not \"<sha256>  <name>\"", l)
		}
		sum, name, _ := strings.Cut(l, "  ")
		want := sha256.Sum256([]byte(files[name]))
		if sum != hex.EncodeToString(want[:]) {
			t.Errorf("%s: sum %s, want %x", name, sum, want)
		}
		names = append(names, name)
	}
	if !slices.IsSorted(names) || len(names) != 3 || !strings.HasSuffix(string(data), "\n") {
		t.Errorf("checksums.txt not sorted by name with a final newline:\n%s", data)
	}
	parsed, err := release.ParseChecksums(data)
	if err != nil || len(parsed) != 3 {
		t.Fatalf("ten-upgrade reads %v, %v", parsed, err)
	}
}

func TestParseTargets(t *testing.T) {
	got, err := ParseTargets("linux/arm64, host,linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{Host(), {"linux", "arm64"}}
	slices.SortFunc(want, func(a, b Target) int { return strings.Compare(a.String(), b.String()) })
	want = slices.Compact(want)
	if !slices.Equal(got, want) {
		t.Errorf("ParseTargets = %v, want %v", got, want)
	}
	if all, _ := ParseTargets("all"); !slices.Equal(all, Targets) {
		t.Errorf("all = %v", all)
	}
	for _, bad := range []string{"", "linux", "/amd64", ","} {
		if _, err := ParseTargets(bad); err == nil {
			t.Errorf("ParseTargets(%q) accepted", bad)
		}
	}
}

func TestDistMustNotHoldTheSources(t *testing.T) {
	root := t.TempDir()
	for _, dist := range []string{root, filepath.Dir(root), "/"} {
		if err := checkDist(root, dist); err == nil {
			t.Errorf("dist %s accepted for sources in %s", dist, root)
		}
	}
	for _, dist := range []string{filepath.Join(root, "dist"), root + "-dist"} {
		if err := checkDist(root, dist); err != nil {
			t.Errorf("dist %s refused: %v", dist, err)
		}
	}
}

// The output directory is emptied first: only an empty one, or one an
// earlier build made, may be used.
func TestDistIsOnlyEmptiedWhenOurs(t *testing.T) {
	root := t.TempDir()
	empty := t.TempDir()
	if err := checkDist(root, empty); err != nil {
		t.Errorf("empty dist refused: %v", err)
	}
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkDist(root, foreign); err == nil || !strings.Contains(err.Error(), "not made by release-local") {
		t.Errorf("a directory with someone else's files: %v, want a refusal", err)
	}
	if err := os.WriteFile(filepath.Join(foreign, distMarker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkDist(root, foreign); err != nil {
		t.Errorf("a directory an earlier build made refused: %v", err)
	}
}
