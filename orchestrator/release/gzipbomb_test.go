package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	rt "github.com/tenement/ten/orchestrator/release/releasetest"
)

// tarGzWith builds a tar.gz of files whose gzip stream goes on with
// trailer bytes after the tar end marker; pax, when not empty, is put as a
// PAX record on every entry.
func tarGzWith(t *testing.T, files []rt.File, pax string, trailer []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		hdr := &tar.Header{Name: f.Name, Mode: 0o755, Size: int64(len(f.Body)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if f.Dir {
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
		}
		if pax != "" {
			hdr.PAXRecords = map[string]string{"comment": pax}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := gz.Write(trailer); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestUnpackRefusesGzipBombs: a tar.gz that inflates to far more than the
// files it may hold is refused once it passes that bound, with an error
// saying so, and leaves nothing behind; tar's usual zero padding is fine.
func TestUnpackRefusesGzipBombs(t *testing.T) {
	lim := Limits{MaxFile: 1 << 10, MaxTotal: 2 << 10, MaxFiles: 50}
	bin := []rt.File{{Name: "ten", Body: []byte("bin")}}
	var dirs []rt.File
	for i := range 40 {
		dirs = append(dirs, rt.File{Name: strings.Repeat("d", i+1) + "/", Dir: true})
	}
	tests := []struct {
		name   string
		data   []byte
		errHas string
	}{
		{"tar padding after the end", tarGzWith(t, bin, "", make([]byte, 64<<10)), ""},
		{"8 MiB of zeros after the end", tarGzWith(t, bin, "", make([]byte, 8<<20)), "after the end of its tar stream, more than 1.0 MiB (a compression bomb?)"},
		{"huge PAX headers", tarGzWith(t, append(bin, dirs...), strings.Repeat("x", 100<<10), nil), "decompresses to more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.data) > 64<<10 {
				t.Fatalf("the bomb is %d bytes compressed: not a bomb", len(tt.data))
			}
			base := t.TempDir()
			src := filepath.Join(base, "archive")
			if err := os.WriteFile(src, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(base, "out")
			if err := os.Mkdir(out, 0o700); err != nil {
				t.Fatal(err)
			}
			_, err := Unpack(src, out, lim)
			rt.WantErr(t, err, tt.errHas)
		})
	}
}

// TestFetchLeavesNothingOfARefusedArchive: a local archive refused while
// unpacking leaves no unpacked file in the work directory.
func TestFetchLeavesNothingOfARefusedArchive(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "ten.tar.gz")
	bomb := tarGzWith(t, []rt.File{{Name: "ten", Body: rt.FakeELF(runtime.GOARCH)}}, "", make([]byte, 8<<20))
	if err := os.WriteFile(src, bomb, 0o600); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(base, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	l := NewLocal(LocalOptions{Path: src})
	rel, err := l.Resolve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Fetch(t.Context(), rel, work)
	if err == nil || !strings.Contains(err.Error(), "compression bomb") {
		t.Fatalf("err = %v, want a refused compression bomb", err)
	}
	if _, err := os.Stat(filepath.Join(work, "unpacked")); err == nil {
		t.Error("the refused archive's files were left in the work directory")
	}
}
