package release

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// elfArch is what an ELF header says for each GOARCH.
type elfArch struct {
	machine elf.Machine
	class   elf.Class
	order   binary.ByteOrder
}

var elfArches = map[string]elfArch{
	"386":      {elf.EM_386, elf.ELFCLASS32, binary.LittleEndian},
	"amd64":    {elf.EM_X86_64, elf.ELFCLASS64, binary.LittleEndian},
	"arm":      {elf.EM_ARM, elf.ELFCLASS32, binary.LittleEndian},
	"arm64":    {elf.EM_AARCH64, elf.ELFCLASS64, binary.LittleEndian},
	"loong64":  {elf.EM_LOONGARCH, elf.ELFCLASS64, binary.LittleEndian},
	"mips":     {elf.EM_MIPS, elf.ELFCLASS32, binary.BigEndian},
	"mipsle":   {elf.EM_MIPS, elf.ELFCLASS32, binary.LittleEndian},
	"mips64":   {elf.EM_MIPS, elf.ELFCLASS64, binary.BigEndian},
	"mips64le": {elf.EM_MIPS, elf.ELFCLASS64, binary.LittleEndian},
	"ppc64":    {elf.EM_PPC64, elf.ELFCLASS64, binary.BigEndian},
	"ppc64le":  {elf.EM_PPC64, elf.ELFCLASS64, binary.LittleEndian},
	"riscv64":  {elf.EM_RISCV, elf.ELFCLASS64, binary.LittleEndian},
	"s390x":    {elf.EM_S390, elf.ELFCLASS64, binary.BigEndian},
}

// elfOSABI lists the OS ABI bytes a Go binary for GOOS may carry. Go writes
// ELFOSABI_NONE for Linux and most others, and the OS's own value for some.
var elfOSABI = map[string][]elf.OSABI{
	"linux":     {elf.ELFOSABI_NONE, elf.ELFOSABI_LINUX},
	"freebsd":   {elf.ELFOSABI_NONE, elf.ELFOSABI_FREEBSD},
	"netbsd":    {elf.ELFOSABI_NONE, elf.ELFOSABI_NETBSD},
	"openbsd":   {elf.ELFOSABI_NONE, elf.ELFOSABI_OPENBSD},
	"dragonfly": {elf.ELFOSABI_NONE},
	"solaris":   {elf.ELFOSABI_NONE, elf.ELFOSABI_SOLARIS},
	"illumos":   {elf.ELFOSABI_NONE, elf.ELFOSABI_SOLARIS},
}

// exeFormat is a non-ELF executable format CheckExecutable reads.
type exeFormat struct {
	name string // "Mach-O", "PE"
	goos string // the server's GOOS as errors name it
	// machine prints the header's machine field in errors.
	machine string
	// machines is the machine field a binary for each GOARCH carries.
	machines map[string]any
	// read parses the file's header: its machine field and whether the
	// file is an executable.
	read func(f *os.File) (machine any, exec bool, err error)
}

var machO = exeFormat{
	name: "Mach-O", goos: "darwin", machine: "Mach-O %s",
	machines: map[string]any{
		"amd64": macho.CpuAmd64,
		"arm64": macho.CpuArm64,
	},
	read: func(f *os.File) (any, bool, error) {
		mf, err := macho.NewFile(f)
		if err != nil {
			return nil, false, err
		}
		defer mf.Close()
		return mf.Cpu, mf.Type == macho.TypeExec, nil
	},
}

var exeFormats = map[string]exeFormat{
	"darwin": machO,
	"ios":    machO,
	"windows": {
		name: "PE", goos: "windows", machine: "PE machine %#x",
		// Typed as PE headers hold them: an untyped constant in an any is an int.
		machines: map[string]any{
			"386":   uint16(pe.IMAGE_FILE_MACHINE_I386),
			"amd64": uint16(pe.IMAGE_FILE_MACHINE_AMD64),
			"arm64": uint16(pe.IMAGE_FILE_MACHINE_ARM64),
		},
		// The PE header says nothing checked here about being an executable.
		read: func(f *os.File) (any, bool, error) {
			pf, err := pe.NewFile(f)
			if err != nil {
				return nil, false, err
			}
			defer pf.Close()
			return pf.Machine, true, nil
		},
	},
}

// CheckExecutable verifies that the file at path is an executable for
// goos/goarch: an ELF file of the right machine, class, byte order and OS
// ABI (Mach-O on darwin, PE on windows). It runs nothing.
func CheckExecutable(path, goos, goarch string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("%s is too short to be an executable", path)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if x, ok := exeFormats[goos]; ok {
		return x.check(f, goarch)
	}
	if !bytes.Equal(head, []byte(elf.ELFMAG)) {
		return fmt.Errorf("not an ELF executable (starts with %q); expected a %s/%s binary", head, goos, goarch)
	}
	return checkELF(f, goos, goarch)
}

func checkELF(f *os.File, goos, goarch string) error {
	want, ok := elfArches[goarch]
	if !ok {
		return fmt.Errorf("cannot check ELF binaries for GOARCH %s", goarch)
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return fmt.Errorf("malformed ELF file: %w", err)
	}
	defer ef.Close()
	got := fmt.Sprintf("%s %s %s", ef.Machine, ef.Class, byteOrder(ef.ByteOrder))
	if ef.Machine != want.machine || ef.Class != want.class || ef.ByteOrder != want.order {
		return fmt.Errorf("built for the wrong platform: ELF %s, this server is %s/%s (%s %s %s)",
			got, goos, goarch, want.machine, want.class, byteOrder(want.order))
	}
	if abis, ok := elfOSABI[goos]; ok && !containsABI(abis, ef.OSABI) {
		return fmt.Errorf("built for another OS: ELF OS ABI %s, this server is %s", ef.OSABI, goos)
	}
	if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
		return fmt.Errorf("not an executable: ELF type %s", ef.Type)
	}
	return nil
}

func (x exeFormat) check(f *os.File, goarch string) error {
	machine, exec, err := x.read(f)
	if err != nil {
		return fmt.Errorf("not a %s executable: %w", x.name, err)
	}
	if want, ok := x.machines[goarch]; !ok || machine != want {
		return fmt.Errorf("built for the wrong platform: %s, this server is %s/%s",
			fmt.Sprintf(x.machine, machine), x.goos, goarch)
	}
	if !exec {
		return fmt.Errorf("not a %s executable", x.name)
	}
	return nil
}

func containsABI(list []elf.OSABI, x elf.OSABI) bool {
	for _, a := range list {
		if a == x {
			return true
		}
	}
	return false
}

func byteOrder(o binary.ByteOrder) string {
	if o == binary.BigEndian {
		return "big-endian"
	}
	return "little-endian"
}
