package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestDiscover(t *testing.T) {
	root := t.TempDir()
	// root/tenement.toml, root/a/b/c (no file), root/other/custom.toml,
	// root/env.toml, root/a/tenement.toml.
	writeFile(t, filepath.Join(root, "tenement.toml"), "")
	writeFile(t, filepath.Join(root, "a", "tenement.toml"), "")
	writeFile(t, filepath.Join(root, "other", "custom.toml"), "")
	writeFile(t, filepath.Join(root, "env.toml"), "")
	deep := filepath.Join(root, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "other", "tenement.toml"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		flag string
		env  map[string]string
		cwd  string
		want string
	}{
		{"cwd", "", nil, root, filepath.Join(root, "tenement.toml")},
		{"nearest parent", "", nil, deep, filepath.Join(root, "a", "tenement.toml")},
		{"env beats cwd", "", map[string]string{EnvConfig: filepath.Join(root, "env.toml")}, deep, filepath.Join(root, "env.toml")},
		{"flag beats env", filepath.Join(root, "other", "custom.toml"), map[string]string{EnvConfig: filepath.Join(root, "env.toml")}, deep, filepath.Join(root, "other", "custom.toml")},
		{"relative flag", "../../../other/custom.toml", nil, deep, filepath.Join(root, "other", "custom.toml")},
		{"relative env", "", map[string]string{EnvConfig: "env.toml"}, root, filepath.Join(root, "env.toml")},
		// A directory named tenement.toml is not a config file.
		{"skips directory", "", nil, filepath.Join(root, "other"), filepath.Join(root, "tenement.toml")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Discover(tt.flag, env(tt.env), tt.cwd)
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if got != tt.want {
				t.Errorf("Discover = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDiscoverErrors(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "tenement.toml"), "")
	missing := filepath.Join(root, "missing.toml")

	tests := []struct {
		name     string
		flag     string
		env      map[string]string
		contains []string
		notExist bool
	}{
		{"missing flag path", missing, nil, []string{missing, "--config"}, true},
		{"missing env path", "", map[string]string{EnvConfig: missing}, []string{missing, EnvConfig}, true},
		// The flag wins even if the environment names a file that exists.
		{"missing flag path with env set", missing, map[string]string{EnvConfig: filepath.Join(root, "tenement.toml")}, []string{missing}, true},
		{"flag path is a directory", root, nil, []string{root, "is a directory"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Discover(tt.flag, env(tt.env), root)
			if err == nil {
				t.Fatalf("Discover = %q, want an error", got)
			}
			if got != "" {
				t.Errorf("Discover returned path %q with its error", got)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if errors.Is(err, fs.ErrNotExist) != tt.notExist {
				t.Errorf("errors.Is(%v, fs.ErrNotExist) = %v, want %v", err, !tt.notExist, tt.notExist)
			}
			if errors.Is(err, ErrNotFound) {
				t.Errorf("a named file that is missing must not be ErrNotFound: %v", err)
			}
		})
	}
}

func TestDiscoverNotFound(t *testing.T) {
	dir := t.TempDir()
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), FileName)); err == nil {
		t.Skip("a tenement.toml exists above the temporary directory")
	}
	got, err := Discover("", env(nil), filepath.Join(dir))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Discover = %q, %v; want ErrNotFound", got, err)
	}
	if got != "" {
		t.Errorf("Discover = %q, want empty", got)
	}
}

func TestDiscoverDefaults(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, FileName), "")
	t.Chdir(dir)
	t.Setenv(EnvConfig, "")
	got, err := Discover("", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	// Compare resolved paths: the temporary directory may be behind a
	// symbolic link.
	wantInfo, _ := os.Stat(filepath.Join(dir, FileName))
	gotInfo, err := os.Stat(got)
	if err != nil || !os.SameFile(gotInfo, wantInfo) {
		t.Errorf("Discover with the process's cwd = %q, want %s", got, filepath.Join(dir, FileName))
	}
}

func TestOverrideDataDir(t *testing.T) {
	tests := []struct {
		name string
		file string // data_dir in the file; "" leaves the default
		flag string
		env  string
		want string
	}{
		{"default", "", "", "", "./tenement-data"}, // tenement config.rs default
		{"file", "/from/file", "", "", "/from/file"},
		{"env beats file", "/from/file", "", "/from/env", "/from/env"},
		{"flag beats env", "/from/file", "/from/flag", "/from/env", "/from/flag"},
		{"flag beats file", "/from/file", "/from/flag", "", "/from/flag"},
		{"env beats default", "", "", "/from/env", "/from/env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "[service.api]\ncommand = \"./api\"\n"
			if tt.file != "" {
				src = "[settings]\ndata_dir = \"" + tt.file + "\"\n" + src
			}
			c := mustParseClean(t, src)
			c.OverrideDataDir(tt.flag, env(map[string]string{EnvDataDir: tt.env}))
			if got := c.Settings.DataDir; got != tt.want {
				t.Errorf("DataDir = %q, want %q", got, tt.want)
			}
			if got, want := c.DBPath(), filepath.Join(tt.want, "tenement.db"); got != want {
				t.Errorf("DBPath() = %q, want %q", got, want)
			}
		})
	}
}

func TestOverrideDataDirProcessEnv(t *testing.T) {
	t.Setenv(EnvDataDir, "/from/process/env")
	c := Default()
	c.OverrideDataDir("", nil)
	if got := c.Settings.DataDir; got != "/from/process/env" {
		t.Errorf("DataDir = %q, want the process environment's value", got)
	}
}
