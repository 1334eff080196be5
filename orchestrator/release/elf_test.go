package release

import (
	"bytes"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
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

// TestCheckExecutableMachOPE checks the Mach-O and PE headers of binaries
// for darwin and windows.
func TestCheckExecutableMachOPE(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name         string
		data         []byte
		goos, goarch string
		errHas       string
	}{
		{"Mach-O arm64", fakeMachO(macho.CpuArm64, macho.TypeExec), "darwin", "arm64", ""},
		{"Mach-O amd64 on ios", fakeMachO(macho.CpuAmd64, macho.TypeExec), "ios", "amd64", ""},
		{"Mach-O amd64 on arm64", fakeMachO(macho.CpuAmd64, macho.TypeExec), "darwin", "arm64", "wrong platform: Mach-O CpuAmd64, this server is darwin/arm64"},
		{"Mach-O for an unknown GOARCH", fakeMachO(macho.CpuAmd64, macho.TypeExec), "darwin", "386", "wrong platform"},
		{"Mach-O object file", fakeMachO(macho.CpuArm64, macho.TypeObj), "darwin", "arm64", "not a Mach-O executable"},
		{"PE amd64", fakePE(pe.IMAGE_FILE_MACHINE_AMD64), "windows", "amd64", ""},
		{"PE 386", fakePE(pe.IMAGE_FILE_MACHINE_I386), "windows", "386", ""},
		{"PE arm64 on amd64", fakePE(pe.IMAGE_FILE_MACHINE_ARM64), "windows", "amd64", "wrong platform: PE machine 0xaa64, this server is windows/amd64"},
		{"Mach-O on windows", fakeMachO(macho.CpuAmd64, macho.TypeExec), "windows", "amd64", "not a PE executable"},
		{"PE on darwin", fakePE(pe.IMAGE_FILE_MACHINE_AMD64), "darwin", "amd64", "not a Mach-O executable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := os.WriteFile(p, tt.data, 0o755); err != nil {
				t.Fatal(err)
			}
			rt.WantErr(t, CheckExecutable(p, tt.goos, tt.goarch), tt.errHas)
		})
	}
}

// fakeMachO is a 64-bit Mach-O header with no load commands.
func fakeMachO(cpu macho.Cpu, typ macho.Type) []byte {
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, macho.FileHeader{Magic: macho.Magic64, Cpu: cpu, Type: typ}) //nolint:errcheck // bytes.Buffer
	buf.Write(make([]byte, 4))                                                                           // reserved word of the 64-bit header
	return buf.Bytes()
}

// fakePE is a DOS stub pointing at a PE header with no sections.
func fakePE(machine uint16) []byte {
	dos := make([]byte, 64)
	copy(dos, "MZ")
	binary.LittleEndian.PutUint32(dos[0x3c:], uint32(len(dos)))
	buf := bytes.NewBuffer(dos)
	buf.WriteString("PE\x00\x00")
	binary.Write(buf, binary.LittleEndian, pe.FileHeader{Machine: machine}) //nolint:errcheck // bytes.Buffer
	buf.Write(make([]byte, 32))                                             // debug/pe reads 96 bytes of DOS header
	return buf.Bytes()
}
