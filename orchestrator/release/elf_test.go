package release

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	rt "github.com/tenement/ten/orchestrator/release/releasetest"
)

func TestCheckExecutable(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ELF checks are exercised on Linux")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckExecutable(self, runtime.GOOS, runtime.GOARCH); err != nil {
		t.Errorf("this test binary: %v", err)
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	if err := CheckExecutable(self, runtime.GOOS, other); err == nil || !strings.Contains(err.Error(), "wrong platform") {
		t.Errorf("this binary checked as %s: err = %v", other, err)
	}

	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name         string
		path         string
		goos, goarch string
		errHas       string
	}{
		{"matching header", write("amd64", rt.FakeELF("amd64")), "linux", "amd64", ""},
		{"arm64 on amd64", write("arm64", rt.FakeELF("arm64")), "linux", "amd64", "wrong platform"},
		{"32-bit on 64-bit", write("386", rt.FakeELF("386")), "linux", "amd64", "wrong platform"},
		{"big-endian s390x", write("s390x", rt.FakeELF("s390x")), "linux", "s390x", ""},
		{"shell script", write("script", []byte("#!/bin/sh\necho ten 9.9.9\n")), "linux", "amd64", "not an ELF"},
		{"empty file", write("empty", nil), "linux", "amd64", "too short"},
		{"ELF on darwin", write("elf-darwin", rt.FakeELF("arm64")), "darwin", "arm64", "Mach-O"},
		{"ELF on windows", write("elf-windows", rt.FakeELF("amd64")), "windows", "amd64", "PE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckExecutable(tt.path, tt.goos, tt.goarch)
			rt.WantErr(t, err, tt.errHas)
		})
	}
}

func TestCheckExecutableOSABI(t *testing.T) {
	data := rt.FakeELF("amd64")
	data[7] = 9 // ELFOSABI_FREEBSD
	p := filepath.Join(t.TempDir(), "freebsd")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckExecutable(p, "linux", "amd64"); err == nil || !strings.Contains(err.Error(), "another OS") {
		t.Errorf("FreeBSD binary on linux: err = %v", err)
	}
	if err := CheckExecutable(p, "freebsd", "amd64"); err != nil {
		t.Errorf("FreeBSD binary on freebsd: %v", err)
	}
}
