package releasebuild

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"

	"go.yaml.in/yaml/v3"
)

// goreleaserConfig is the part of .goreleaser.yaml that decides what a
// release contains.
type goreleaserConfig struct {
	Version     int    `yaml:"version"`
	ProjectName string `yaml:"project_name"`
	Builds      []struct {
		ID      string   `yaml:"id"`
		Main    string   `yaml:"main"`
		Binary  string   `yaml:"binary"`
		Env     []string `yaml:"env"`
		GOOS    []string `yaml:"goos"`
		GOARCH  []string `yaml:"goarch"`
		Flags   []string `yaml:"flags"`
		LDFlags []string `yaml:"ldflags"`
	} `yaml:"builds"`
	Archives []struct {
		IDs             []string `yaml:"ids"`
		Formats         []string `yaml:"formats"`
		NameTemplate    string   `yaml:"name_template"`
		WrapInDirectory bool     `yaml:"wrap_in_directory"`
		Files           []struct {
			Src  string   `yaml:"src"`
			Info fileInfo `yaml:"info"`
		} `yaml:"files"`
		BuildsInfo fileInfo `yaml:"builds_info"`
	} `yaml:"archives"`
	Checksum struct {
		NameTemplate string `yaml:"name_template"`
		Algorithm    string `yaml:"algorithm"`
	} `yaml:"checksum"`
	Signs []struct {
		Artifacts string   `yaml:"artifacts"`
		Cmd       string   `yaml:"cmd"`
		Args      []string `yaml:"args"`
		Signature string   `yaml:"signature"`
	} `yaml:"signs"`
}

type fileInfo struct {
	Owner string `yaml:"owner"`
	Group string `yaml:"group"`
	Mode  int    `yaml:"mode"`
	MTime string `yaml:"mtime"`
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

func render(t *testing.T, tmpl string, data map[string]string) string {
	t.Helper()
	tp, err := template.New("").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		t.Fatalf("template %q: %v", tmpl, err)
	}
	var b strings.Builder
	if err := tp.Execute(&b, data); err != nil {
		t.Fatalf("template %q: %v", tmpl, err)
	}
	return b.String()
}

// TestGoReleaserConfigMatchesReleaseLocal keeps .goreleaser.yaml (what a
// tagged release publishes) and this package (what `make release-local`
// builds) describing the same artifacts.
func TestGoReleaserConfigMatchesReleaseLocal(t *testing.T) {
	root := moduleRoot(t)
	data, err := os.ReadFile(filepath.Join(root, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg goreleaserConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Version != 2 || cfg.ProjectName != Project {
		t.Errorf("version %d, project_name %q; want 2 and %q", cfg.Version, cfg.ProjectName, Project)
	}

	const version, commit = "1.2.3", "abc1234"
	var gotBinaries []Binary
	for _, b := range cfg.Builds {
		gotBinaries = append(gotBinaries, Binary{Name: b.Binary, Package: b.Main})
		var targets []Target
		for _, goos := range b.GOOS {
			for _, goarch := range b.GOARCH {
				targets = append(targets, Target{goos, goarch})
			}
		}
		slices.SortFunc(targets, func(a, b Target) int { return strings.Compare(a.String(), b.String()) })
		if !slices.Equal(targets, Targets) {
			t.Errorf("build %s targets %v, release-local builds %v", b.ID, targets, Targets)
		}
		if !slices.Equal(b.Env, []string{"CGO_ENABLED=0"}) || !slices.Equal(b.Flags, []string{"-trimpath"}) {
			t.Errorf("build %s: env %v flags %v, want CGO_ENABLED=0 and -trimpath as release-local", b.ID, b.Env, b.Flags)
		}
		if len(b.LDFlags) != 1 {
			t.Fatalf("build %s: %d ldflags lines, want 1", b.ID, len(b.LDFlags))
		}
		if got, want := render(t, b.LDFlags[0], map[string]string{"Version": version, "ShortCommit": commit}), LDFlags(version, commit); got != want {
			t.Errorf("build %s ldflags:\n  goreleaser    %s\n  release-local %s", b.ID, got, want)
		}
	}
	if !slices.Equal(gotBinaries, Binaries) {
		t.Errorf("builds %v, release-local builds %v (same order)", gotBinaries, Binaries)
	}

	if len(cfg.Archives) != 1 {
		t.Fatalf("%d archives, want 1", len(cfg.Archives))
	}
	a := cfg.Archives[0]
	if !slices.Equal(a.Formats, []string{"tar.gz"}) || a.WrapInDirectory {
		t.Errorf("archive formats %v, wrap_in_directory %v; want [tar.gz], false", a.Formats, a.WrapInDirectory)
	}
	var ids []string
	for _, b := range cfg.Builds {
		ids = append(ids, b.ID)
	}
	if !slices.Equal(a.IDs, ids) {
		t.Errorf("archive ids %v, want every build %v", a.IDs, ids)
	}
	for _, tg := range Targets {
		got := render(t, a.NameTemplate, map[string]string{"ProjectName": cfg.ProjectName, "Version": version, "Os": tg.OS, "Arch": tg.Arch}) + "." + a.Formats[0]
		if want := ArchiveName(version, tg); got != want {
			t.Errorf("archive name for %s: goreleaser %q, release-local %q", tg, got, want)
		}
	}
	var files []string
	for _, f := range a.Files {
		files = append(files, f.Src)
		if want := (fileInfo{Owner, Group, int(FileMode), "{{ .CommitDate }}"}); f.Info != want {
			t.Errorf("file %s info %+v, want %+v", f.Src, f.Info, want)
		}
	}
	if !slices.Equal(files, ExtraFiles) {
		t.Errorf("archive files %v, release-local packs %v (same order)", files, ExtraFiles)
	}
	if want := (fileInfo{Owner, Group, int(BinaryMode), "{{ .CommitDate }}"}); a.BuildsInfo != want {
		t.Errorf("builds_info %+v, want %+v", a.BuildsInfo, want)
	}

	if cfg.Checksum.NameTemplate != ChecksumsName || cfg.Checksum.Algorithm != "sha256" {
		t.Errorf("checksum %+v, want %s with sha256", cfg.Checksum, ChecksumsName)
	}
	if len(cfg.Signs) != 1 {
		t.Fatalf("%d signs, want 1", len(cfg.Signs))
	}
	s := cfg.Signs[0]
	if s.Artifacts != "checksum" || strings.ReplaceAll(s.Signature, "${artifact}", ChecksumsName) != SignatureName {
		t.Errorf("signs: artifacts %q signature %q; want the checksum file signed as %s", s.Artifacts, s.Signature, SignatureName)
	}
	if !slices.Contains(s.Args, "${artifact}") || !slices.Contains(s.Args, "${signature}") {
		t.Errorf("signs args %v must name ${artifact} and ${signature}", s.Args)
	}
	fi, err := os.Stat(filepath.Join(root, s.Cmd))
	if err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("signs cmd %s is not an executable in the repository: %v", s.Cmd, err)
	}
}
