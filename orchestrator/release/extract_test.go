package release

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rt "github.com/tenement/ten/orchestrator/release/releasetest"
)

func TestUnpack(t *testing.T) {
	small := Limits{MaxFile: 1024, MaxTotal: 2048, MaxFiles: 10}
	tests := []struct {
		name   string
		build  func(t *testing.T) []byte
		lim    Limits
		want   []string
		errHas string
	}{
		{
			name: "tar.gz with a wrapping directory",
			build: func(t *testing.T) []byte {
				return rt.TarGz(t, rt.File{Name: "ten_1.0.0/", Dir: true}, rt.File{Name: "ten_1.0.0/ten", Body: []byte("bin"), Mode: 0o755}, rt.File{Name: "ten_1.0.0/CHANGELOG.md", Body: []byte("# c")})
			},
			want: []string{"ten_1.0.0/CHANGELOG.md", "ten_1.0.0/ten"},
		},
		{
			name:  "zip",
			build: func(t *testing.T) []byte { return rt.Zip(t, rt.File{Name: "ten", Body: []byte("bin"), Mode: 0o755}) },
			want:  []string{"ten"},
		},
		{
			name: "tar.gz with a corrupt gzip checksum",
			build: func(t *testing.T) []byte {
				b := rt.TarGz(t, rt.File{Name: "ten", Body: []byte("bin"), Mode: 0o755})
				b[len(b)-8] ^= 0xff // the CRC-32 in gzip's trailer
				return b
			},
			errHas: "corrupt",
		},
		{
			name:   "tar dot-dot path",
			build:  func(t *testing.T) []byte { return rt.TarGz(t, rt.File{Name: "../evil", Body: []byte("x")}) },
			errHas: "climbs out",
		},
		{
			name:   "tar dot-dot inside a path",
			build:  func(t *testing.T) []byte { return rt.TarGz(t, rt.File{Name: "a/../../evil", Body: []byte("x")}) },
			errHas: "climbs out",
		},
		{
			name:   "tar absolute path",
			build:  func(t *testing.T) []byte { return rt.TarGz(t, rt.File{Name: "/etc/evil", Body: []byte("x")}) },
			errHas: "absolute",
		},
		{
			name: "tar symlink",
			build: func(t *testing.T) []byte {
				return rt.TarGz(t, rt.File{Name: "ten", Symlink: "/usr/bin/sudo"})
			},
			errHas: "symbolic link",
		},
		{
			name: "tar hard link",
			build: func(t *testing.T) []byte {
				return rt.TarGz(t, rt.File{Name: "a", Body: []byte("x")}, rt.File{Name: "ten", Hardlink: "a"})
			},
			errHas: "hard link",
		},
		{
			name:   "tar oversize entry",
			build:  func(t *testing.T) []byte { return rt.TarGz(t, rt.File{Name: "ten", Body: make([]byte, 2000)}) },
			lim:    small,
			errHas: "over the 1.0 KiB limit",
		},
		{
			name: "tar total over the limit",
			build: func(t *testing.T) []byte {
				return rt.TarGz(t, rt.File{Name: "a", Body: make([]byte, 1000)}, rt.File{Name: "b", Body: make([]byte, 1000)}, rt.File{Name: "c", Body: make([]byte, 1000)})
			},
			lim:    small,
			errHas: "more than 2.0 KiB",
		},
		{
			name: "too many entries",
			build: func(t *testing.T) []byte {
				var fs []rt.File
				for i := range 11 {
					fs = append(fs, rt.File{Name: strings.Repeat("f", i+1)})
				}
				return rt.TarGz(t, fs...)
			},
			lim:    small,
			errHas: "more than 10 entries",
		},
		{
			name: "duplicate entry",
			build: func(t *testing.T) []byte {
				return rt.TarGz(t, rt.File{Name: "ten", Body: []byte("a")}, rt.File{Name: "./ten", Body: []byte("b")})
			},
			errHas: "twice",
		},
		{
			name:   "zip dot-dot path",
			build:  func(t *testing.T) []byte { return rt.Zip(t, rt.File{Name: "../../evil", Body: []byte("x")}) },
			errHas: "climbs out",
		},
		{
			name:   "zip symlink",
			build:  func(t *testing.T) []byte { return rt.Zip(t, rt.File{Name: "ten", Symlink: "/bin/sh"}) },
			errHas: "symbolic link",
		},
		{
			name:   "zip oversize entry",
			build:  func(t *testing.T) []byte { return rt.Zip(t, rt.File{Name: "ten", Body: make([]byte, 5000)}) },
			lim:    small,
			errHas: "over the 1.0 KiB limit",
		},
		{
			name:   "zip backslash path",
			build:  func(t *testing.T) []byte { return rt.Zip(t, rt.File{Name: `..\evil`, Body: []byte("x")}) },
			errHas: "backslash",
		},
		{
			name:   "not an archive",
			build:  func(t *testing.T) []byte { return []byte("plain text") },
			errHas: "not a tar.gz or zip",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			src := filepath.Join(base, "archive")
			if err := os.WriteFile(src, tt.build(t), 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(base, "out")
			if err := os.Mkdir(out, 0o700); err != nil {
				t.Fatal(err)
			}
			lim := tt.lim
			if lim == (Limits{}) {
				lim = DefaultLimits()
			}
			files, err := Unpack(src, out, lim)
			if rt.WantErr(t, err, tt.errHas) {
				// Nothing may have been written outside the output dir.
				entries, _ := os.ReadDir(base)
				for _, e := range entries {
					if e.Name() != "archive" && e.Name() != "out" {
						t.Errorf("unexpected file %s next to the output dir", e.Name())
					}
				}
				return
			}
			slices.Sort(files)
			if !slices.Equal(files, tt.want) {
				t.Errorf("files = %v, want %v", files, tt.want)
			}
			for _, f := range files {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestFindFile(t *testing.T) {
	tests := []struct {
		files  []string
		want   string
		errHas string
	}{
		{[]string{"README.md", "ten"}, "ten", ""},
		{[]string{"dist/ten", "dist/docs/ten"}, "dist/ten", ""},
		{[]string{"a/ten", "b/ten"}, "", "two files named ten"},
		{[]string{"ten-upgrade", "README.md"}, "", "no file named ten"},
	}
	for _, tt := range tests {
		got, err := FindFile(tt.files, "ten")
		if tt.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("FindFile(%v): err = %v, want %q", tt.files, err, tt.errHas)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("FindFile(%v) = %q, %v; want %q", tt.files, got, err, tt.want)
		}
	}
}
