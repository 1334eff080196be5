package release

import (
	"fmt"
	"strings"
	"testing"

	rt "github.com/tenement/ten/orchestrator/release/releasetest"
)

func TestParseAssetName(t *testing.T) {
	tests := []struct {
		name string
		want AssetName
		ok   bool
	}{
		{"ten_1.2.3_linux_amd64.tar.gz", AssetName{"ten", "1.2.3", "linux", "amd64", ".tar.gz"}, true},
		{"ten_1.2.3_darwin_arm64.zip", AssetName{"ten", "1.2.3", "darwin", "arm64", ".zip"}, true},
		{"ten_1.2.3_linux_arm64", AssetName{"ten", "1.2.3", "linux", "arm64", ""}, true},
		{"ten_1.2.3-rc.1_linux_armv7.tgz", AssetName{"ten", "1.2.3-rc.1", "linux", "armv7", ".tgz"}, true},
		{"ten_linux_amd64.tar.gz", AssetName{"ten", "", "linux", "amd64", ".tar.gz"}, true},
		{"ten_1.2.3_windows_amd64.exe", AssetName{"ten", "1.2.3", "windows", "amd64", ".exe"}, true},
		{"ten-upgrade_1.2.3_linux_amd64.tar.gz", AssetName{"ten-upgrade", "1.2.3", "linux", "amd64", ".tar.gz"}, true},
		{"checksums.txt", AssetName{}, false},
		{"checksums.txt.minisig", AssetName{}, false},
		{"ten_1.2.3_checksums.txt", AssetName{}, false},
		{"ten_1.2.3_linux_amd64.tar.gz.sbom.json", AssetName{}, false},
		{"README", AssetName{}, false},
		{"ten_1.0/../../x_linux_amd64.tar.gz", AssetName{}, false},
		{"ten_1.0\\..\\x_linux_amd64", AssetName{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseAssetName(tt.name)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseAssetName(%q) = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSelectAsset(t *testing.T) {
	assets := func(names ...string) []Asset {
		var out []Asset
		for i, n := range names {
			out = append(out, Asset{ID: int64(i + 1), Name: n, Size: 10})
		}
		return out
	}
	tests := []struct {
		name         string
		assets       []Asset
		goos, goarch string
		want         string
		errHas       []string
	}{
		{
			name:   "exact match among platforms",
			assets: assets("checksums.txt", "ten_1.2.3_linux_amd64.tar.gz", "ten_1.2.3_linux_arm64.tar.gz", "ten_1.2.3_darwin_amd64.tar.gz", "ten-upgrade_1.2.3_linux_amd64.tar.gz"),
			goos:   "linux", goarch: "amd64",
			want: "ten_1.2.3_linux_amd64.tar.gz",
		},
		{
			name:   "bare binary",
			assets: assets("ten_1.2.3_linux_arm64", "ten_1.2.3_linux_amd64"),
			goos:   "linux", goarch: "arm64",
			want: "ten_1.2.3_linux_arm64",
		},
		{
			name:   "amd64v3 variant is not plain amd64",
			assets: assets("ten_1.2.3_linux_amd64v3.tar.gz", "ten_1.2.3_linux_amd64.tar.gz"),
			goos:   "linux", goarch: "amd64",
			want: "ten_1.2.3_linux_amd64.tar.gz",
		},
		{
			name:   "no match lists the candidates",
			assets: assets("ten_1.2.3_linux_arm64.tar.gz", "ten_1.2.3_darwin_amd64.zip", "checksums.txt"),
			goos:   "linux", goarch: "amd64",
			errHas: []string{"no asset for linux/amd64", "ten_1.2.3_darwin_amd64.zip", "ten_1.2.3_linux_arm64.tar.gz"},
		},
		{
			name:   "two matches",
			assets: assets("ten_1.2.3_linux_amd64.tar.gz", "ten_1.2.3_linux_amd64.zip"),
			goos:   "linux", goarch: "amd64",
			errHas: []string{"2 assets match linux/amd64", "ten_1.2.3_linux_amd64.tar.gz", "ten_1.2.3_linux_amd64.zip"},
		},
		{
			name:   "asset of another version is ignored",
			assets: assets("ten_1.2.2_linux_amd64.tar.gz"),
			goos:   "linux", goarch: "amd64",
			errHas: []string{"no asset for linux/amd64"},
		},
		{
			name:   "no goreleaser assets at all",
			assets: assets("source.tar.gz"),
			goos:   "linux", goarch: "amd64",
			errHas: []string{"no ten_VERSION_OS_ARCH assets", "source.tar.gz"},
		},
		{
			name:   "exe only on windows",
			assets: assets("ten_1.2.3_linux_amd64.exe"),
			goos:   "linux", goarch: "amd64",
			errHas: []string{"no asset"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SelectAsset(tt.assets, "1.2.3", tt.goos, tt.goarch)
			if rt.WantErr(t, err, tt.errHas...) {
				return
			}
			if got.Name != tt.want {
				t.Errorf("SelectAsset = %s, want %s", got.Name, tt.want)
			}
		})
	}
}

func TestChecksumsAsset(t *testing.T) {
	for _, tt := range []struct {
		names []string
		want  string
	}{
		{[]string{"ten_1.0.0_linux_amd64.tar.gz", "checksums.txt"}, "checksums.txt"},
		{[]string{"ten_1.0.0_checksums.txt", "ten_1.0.0_linux_amd64.tar.gz"}, "ten_1.0.0_checksums.txt"},
		{[]string{"ten_1.0.0_linux_amd64.tar.gz"}, ""},
		{[]string{"ten_x/../../../../evil_checksums.txt"}, ""},
		{[]string{"ten_1.0.0_sbom_checksums.txt"}, ""},
	} {
		var assets []Asset
		for _, n := range tt.names {
			assets = append(assets, Asset{Name: n})
		}
		got, ok := ChecksumsAsset(assets)
		if got.Name != tt.want || ok != (tt.want != "") {
			t.Errorf("ChecksumsAsset(%v) = %q, %v; want %q", tt.names, got.Name, ok, tt.want)
		}
	}
}

func TestCheckAssetNames(t *testing.T) {
	for _, tt := range []struct {
		name   string
		errHas string
	}{
		{"ten_1.0.0_linux_amd64.tar.gz", ""},
		{"checksums.txt.minisig", ""},
		{"ten 1.0.0 (notes).pdf", ""},
		{"ten_x/../../../../evil_checksums.txt", "path separator"},
		{`..\evil.txt`, "path separator"},
		{"..", "names a directory"},
		{".", "names a directory"},
		{"", "empty"},
		{"evil\x00.txt", "control character"},
		{"evil\n.txt", "control character"},
		{strings.Repeat("a", 256), "longer than 255"},
	} {
		assets := []Asset{{Name: "checksums.txt"}, {Name: tt.name}}
		err := CheckAssetNames(assets)
		switch {
		case tt.errHas == "" && err != nil:
			t.Errorf("%q: %v", tt.name, err)
		case tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.name))):
			t.Errorf("%q: err = %v, want one naming the asset and %q", tt.name, err, tt.errHas)
		}
	}
}
