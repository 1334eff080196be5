package release

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Limits bound what an archive may unpack to.
type Limits struct {
	MaxFile  int64 // largest single file
	MaxTotal int64 // all files together
	MaxFiles int   // number of entries
}

// DefaultLimits fits a release archive of a single Go binary with its
// README, LICENSE and CHANGELOG.
func DefaultLimits() Limits {
	return Limits{MaxFile: DefaultMaxSize, MaxTotal: DefaultMaxSize, MaxFiles: 1000}
}

// Archive formats recognised by Sniff.
const (
	FormatTarGz = "tar.gz"
	FormatZip   = "zip"
	FormatNone  = "" // not an archive: a bare binary
)

// Sniff identifies an archive by its first bytes, not by its name.
func Sniff(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 4)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return FormatTarGz, nil
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return FormatZip, nil
	}
	return FormatNone, nil
}

// Unpack extracts the archive at src (tar.gz or zip) into dir and returns
// the regular files it wrote, as slash-separated paths relative to dir.
//
// It refuses the whole archive on the first entry that is an absolute path,
// climbs out with "..", is a symbolic or hard link or a device, exceeds the
// limits, or appears twice. Writes go through an os.Root on dir, so no entry
// can land outside it even if a check were missed.
func Unpack(src, dir string, lim Limits) ([]string, error) {
	format, err := Sniff(src)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	u := &unpacker{root: root, lim: lim}
	switch format {
	case FormatTarGz:
		err = u.tarGz(src)
	case FormatZip:
		err = u.zip(src)
	default:
		return nil, fmt.Errorf("%s is not a tar.gz or zip archive", path.Base(src))
	}
	if err != nil {
		return nil, fmt.Errorf("unsafe or damaged archive %s: %w", path.Base(src), err)
	}
	return u.files, nil
}

type unpacker struct {
	root    *os.Root
	lim     Limits
	total   int64
	entries int
	files   []string
}

// tarTrailerMax bounds what may follow the tar end marker inside the gzip
// stream: tar pads its last record with zeros (10 KiB for GNU tar's
// default blocking factor); anything beyond a generous 1 MiB is not a
// release archive.
const tarTrailerMax = 1 << 20

// tarEntryOverhead is what one tar entry may take beyond its data: its
// header blocks (with PAX records or a GNU long name) and the padding of
// its data to 512 bytes.
const tarEntryOverhead = 4 << 10

// gzipMax is the most a tar.gz may decompress to within lim: the data of
// the files, each entry's overhead, and the trailer. Anything more is a
// compression bomb, refused before it is inflated any further.
func gzipMax(lim Limits) int64 {
	return lim.MaxTotal + int64(max(lim.MaxFiles, 1)+1)*tarEntryOverhead + tarTrailerMax
}

// errBomb is returned by a boundedReader that went past its bound.
type errBomb struct {
	what  string
	bound int64
}

func (e *errBomb) Error() string {
	return fmt.Sprintf("%s more than %s (a compression bomb?): refusing it", e.what, size(e.bound))
}

// boundedReader fails once more than bound bytes have come out of r, so
// that no more is inflated than a valid archive could hold.
type boundedReader struct {
	r     io.Reader
	n     int64
	bound int64
	what  string
}

func (b *boundedReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.bound {
		return n, &errBomb{what: b.what, bound: b.bound}
	}
	return n, err
}

func (u *unpacker) tarGz(src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	defer gz.Close()
	inflated := &boundedReader{r: gz, bound: gzipMax(u.lim), what: "the archive decompresses to"}
	tr := tar.NewReader(inflated)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			// The tar end marker comes before gzip's trailer: read to the
			// real end so that the CRC and length are checked too, but
			// no further than tar's padding can reach.
			trailer := &boundedReader{r: inflated, bound: tarTrailerMax, what: "the archive has, after the end of its tar stream,"}
			if _, err := io.Copy(io.Discard, trailer); err != nil {
				var bomb *errBomb
				if errors.As(err, &bomb) {
					return err
				}
				return fmt.Errorf("archive is corrupt: %w", err)
			}
			return nil
		}
		if err != nil {
			return err
		}
		name, err := u.entry(hdr.Name)
		if err != nil {
			return err
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := u.mkdir(name); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := u.write(name, fs.FileMode(hdr.Mode), hdr.Size, tr); err != nil {
				return err
			}
		case tar.TypeSymlink:
			return fmt.Errorf("entry %q is a symbolic link to %q", hdr.Name, hdr.Linkname)
		case tar.TypeLink:
			return fmt.Errorf("entry %q is a hard link to %q", hdr.Name, hdr.Linkname)
		default:
			return fmt.Errorf("entry %q has unsupported type %q", hdr.Name, string(hdr.Typeflag))
		}
	}
}

func (u *unpacker) zip(src string) error {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, zf := range zr.File {
		name, err := u.entry(zf.Name)
		if err != nil {
			return err
		}
		mode := zf.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			return fmt.Errorf("entry %q is a symbolic link", zf.Name)
		case mode.IsDir():
			if err := u.mkdir(name); err != nil {
				return err
			}
		case mode.IsRegular():
			if zf.UncompressedSize64 > uint64(u.lim.MaxFile) {
				return fmt.Errorf("entry %q is %s, over the %s limit", zf.Name, size(int64(zf.UncompressedSize64)), size(u.lim.MaxFile))
			}
			rc, err := zf.Open()
			if err != nil {
				return err
			}
			err = u.write(name, mode, int64(zf.UncompressedSize64), rc)
			rc.Close()
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("entry %q has unsupported mode %s", zf.Name, mode)
		}
	}
	return nil
}

// entry validates an archive path and returns it cleaned.
func (u *unpacker) entry(name string) (string, error) {
	u.entries++
	if u.lim.MaxFiles > 0 && u.entries > u.lim.MaxFiles {
		return "", fmt.Errorf("more than %d entries", u.lim.MaxFiles)
	}
	switch {
	case name == "":
		return "", errors.New("entry with an empty name")
	case strings.ContainsAny(name, "\x00\\"):
		return "", fmt.Errorf("entry %q has a NUL or backslash in its name", name)
	case path.IsAbs(name) || (len(name) > 1 && name[1] == ':'):
		return "", fmt.Errorf("entry %q is an absolute path", name)
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == ".." {
			return "", fmt.Errorf("entry %q climbs out of the archive with \"..\"", name)
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", nil
	}
	return clean, nil
}

func (u *unpacker) mkdir(name string) error {
	if name == "" {
		return nil
	}
	return u.root.MkdirAll(name, 0o755)
}

func (u *unpacker) write(name string, mode fs.FileMode, declared int64, r io.Reader) error {
	if name == "" {
		return errors.New("file entry without a name")
	}
	if declared > u.lim.MaxFile {
		return fmt.Errorf("entry %q is %s, over the %s limit", name, size(declared), size(u.lim.MaxFile))
	}
	if u.total+declared > u.lim.MaxTotal {
		return fmt.Errorf("archive unpacks to more than %s", size(u.lim.MaxTotal))
	}
	if dir := path.Dir(name); dir != "." {
		if err := u.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	perm := fs.FileMode(0o644)
	if mode&0o111 != 0 {
		perm = 0o755
	}
	f, err := u.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("entry %q appears twice", name)
	}
	if err != nil {
		return err
	}
	// Never trust the declared size: copy at most the limit and compare.
	n, err := io.Copy(f, io.LimitReader(r, u.lim.MaxFile+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	if n > u.lim.MaxFile {
		return fmt.Errorf("entry %q is over the %s limit", name, size(u.lim.MaxFile))
	}
	if n != declared {
		return fmt.Errorf("entry %q is %d bytes, but its header says %d", name, n, declared)
	}
	u.total += n
	u.files = append(u.files, name)
	return nil
}

// FindFile returns the one unpacked file whose base name is base, at the
// shallowest depth (GoReleaser puts files at the top level, or in one
// wrapping directory). Two files at that depth are an error.
func FindFile(files []string, base string) (string, error) {
	best, depth, dup := "", -1, ""
	for _, f := range files {
		if path.Base(f) != base {
			continue
		}
		d := strings.Count(f, "/")
		switch {
		case depth < 0 || d < depth:
			best, depth, dup = f, d, ""
		case d == depth:
			dup = f
		}
	}
	if best == "" {
		return "", fmt.Errorf("no file named %s in the archive", base)
	}
	if dup != "" {
		return "", fmt.Errorf("the archive has two files named %s: %s and %s", base, best, dup)
	}
	return best, nil
}
