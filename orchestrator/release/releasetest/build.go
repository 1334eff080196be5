package releasetest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"runtime"
	"sort"
	"testing"

	"aead.dev/minisign"
)

// File is one archive entry.
type File struct {
	Name     string
	Body     []byte
	Mode     fs.FileMode // permission bits; 0 means 0o644
	Dir      bool
	Symlink  string // target: the entry is a symbolic link
	Hardlink string // target: the entry is a hard link (tar only)
	// Size overrides the size written in the tar header (to lie about it).
	Size int64
}

// TarGz builds a gzip-compressed tar archive.
func TarGz(t testing.TB, files ...File) []byte {
	t.Helper()
	return tarGz(t, gzip.DefaultCompression, files...)
}

func tarGz(t testing.TB, level int, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(gz)
	for _, f := range files {
		hdr := &tar.Header{Name: f.Name, Mode: int64(perm(f.Mode)), Size: int64(len(f.Body)), Typeflag: tar.TypeReg}
		switch {
		case f.Dir:
			hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeDir, 0, 0o755
		case f.Symlink != "":
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeSymlink, f.Symlink, 0
		case f.Hardlink != "":
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, f.Hardlink, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %s: %v", f.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Body); err != nil {
				t.Fatalf("tar body %s: %v", f.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Zip builds a zip archive.
func Zip(t testing.TB, files ...File) []byte {
	t.Helper()
	return zipFiles(t, zip.Deflate, files...)
}

func zipFiles(t testing.TB, method uint16, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		fh := &zip.FileHeader{Name: f.Name, Method: method}
		switch {
		case f.Dir:
			fh.SetMode(fs.ModeDir | 0o755)
		case f.Symlink != "":
			fh.SetMode(fs.ModeSymlink | 0o777)
		default:
			fh.SetMode(perm(f.Mode))
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatalf("zip header %s: %v", f.Name, err)
		}
		body := f.Body
		if f.Symlink != "" {
			body = []byte(f.Symlink)
		}
		if !f.Dir {
			if _, err := w.Write(body); err != nil {
				t.Fatalf("zip body %s: %v", f.Name, err)
			}
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func perm(m fs.FileMode) fs.FileMode {
	if m == 0 {
		return 0o644
	}
	return m
}

// NewKey generates a minisign key pair.
func NewKey(t testing.TB) (minisign.PublicKey, minisign.PrivateKey) {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// Sign makes a minisign signature of data.
func Sign(key minisign.PrivateKey, data []byte) []byte {
	return minisign.SignWithComments(key, data, "timestamp:0\tfile:checksums.txt", "signature from test key")
}

// Checksums formats a GoReleaser checksums.txt for the assets, sorted by
// name.
func Checksums(assets ...*Asset) []byte {
	sorted := append([]*Asset(nil), assets...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var b bytes.Buffer
	for _, a := range sorted {
		sum := sha256.Sum256(a.Data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), a.Name)
	}
	return b.Bytes()
}

// FakeELF returns an ELF header for goarch, valid enough for header checks
// but not to run. A Linux OS ABI is used (Go writes ELFOSABI_NONE).
func FakeELF(goarch string) []byte {
	type arch struct {
		m     elf.Machine
		is64  bool
		order binary.ByteOrder
	}
	a := map[string]arch{
		"amd64": {elf.EM_X86_64, true, binary.LittleEndian},
		"arm64": {elf.EM_AARCH64, true, binary.LittleEndian},
		"386":   {elf.EM_386, false, binary.LittleEndian},
		"arm":   {elf.EM_ARM, false, binary.LittleEndian},
		"s390x": {elf.EM_S390, true, binary.BigEndian},
	}[goarch]
	var ident [elf.EI_NIDENT]byte
	copy(ident[:], elf.ELFMAG)
	ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	if a.order == binary.BigEndian {
		ident[elf.EI_DATA] = byte(elf.ELFDATA2MSB)
	}
	ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var buf bytes.Buffer
	if a.is64 {
		ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
		binary.Write(&buf, a.order, elf.Header64{ //nolint:errcheck // bytes.Buffer
			Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(a.m), Version: uint32(elf.EV_CURRENT),
			Ehsize: 64, Phentsize: 56, Shentsize: 64,
		})
	} else {
		ident[elf.EI_CLASS] = byte(elf.ELFCLASS32)
		binary.Write(&buf, a.order, elf.Header32{ //nolint:errcheck // bytes.Buffer
			Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(a.m), Version: uint32(elf.EV_CURRENT),
			Ehsize: 52, Phentsize: 32, Shentsize: 40,
		})
	}
	// Some padding, so the file looks like more than a header.
	buf.Write(make([]byte, 256))
	return buf.Bytes()
}

// Build describes a GoReleaser release of one ten binary.
type Build struct {
	Version string // without "v"
	Binary  []byte
	// Upgrader, when set, is packed as ten-upgrade beside ten, as real
	// releases do (not in a bare-binary build).
	Upgrader []byte
	// Format is "tar.gz" (default), "zip" or "binary" (a bare executable).
	Format       string
	GOOS, GOARCH string // default: this machine
	// Changelog, when set, is packed as CHANGELOG.md.
	Changelog string
	// Key signs checksums.txt.
	Key minisign.PrivateKey
	// Stored packs the archive without compression: tests with real,
	// large binaries stay fast (under the race detector above all) and
	// still go through gzip or zip.
	Stored bool
}

// AssetName is GoReleaser's default name for the build's artifact.
func (b Build) AssetName() string {
	goos, goarch := b.platform()
	name := fmt.Sprintf("ten_%s_%s_%s", b.Version, goos, goarch)
	switch b.Format {
	case "", "tar.gz":
		return name + ".tar.gz"
	case "zip":
		return name + ".zip"
	default:
		return name
	}
}

func (b Build) platform() (string, string) {
	goos, goarch := b.GOOS, b.GOARCH
	if goos == "" {
		goos = runtime.GOOS
	}
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	return goos, goarch
}

// Artifact returns the archive (or bare binary) asset.
func (b Build) Artifact(t testing.TB) *Asset {
	t.Helper()
	files := []File{
		{Name: "LICENSE", Body: []byte("MIT\n")},
		{Name: "README.md", Body: []byte("# ten\n")},
		{Name: "ten", Body: b.Binary, Mode: 0o755},
	}
	if b.Upgrader != nil {
		files = append(files, File{Name: "ten-upgrade", Body: b.Upgrader, Mode: 0o755})
	}
	if b.Changelog != "" {
		files = append(files, File{Name: "CHANGELOG.md", Body: []byte(b.Changelog)})
	}
	var data []byte
	level, method := gzip.DefaultCompression, zip.Deflate
	if b.Stored {
		level, method = gzip.NoCompression, zip.Store
	}
	switch b.Format {
	case "", "tar.gz":
		data = tarGz(t, level, files...)
	case "zip":
		data = zipFiles(t, method, files...)
	default:
		data = b.Binary
	}
	return &Asset{Name: b.AssetName(), Data: data}
}

// Assets returns the artifact, checksums.txt (listing the artifact and the
// extra assets) and its minisign signature.
func (b Build) Assets(t testing.TB, extra ...*Asset) []*Asset {
	t.Helper()
	art := b.Artifact(t)
	all := append([]*Asset{art}, extra...)
	sums := Checksums(all...)
	return append(all,
		&Asset{Name: "checksums.txt", Data: sums},
		&Asset{Name: "checksums.txt.minisig", Data: Sign(b.Key, sums)},
	)
}

// Find returns the asset called name, or nil.
func Find(assets []*Asset, name string) *Asset {
	for _, a := range assets {
		if a.Name == name {
			return a
		}
	}
	return nil
}
