package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenement/ten/compat"
	"github.com/tenement/ten/migrations"
	"github.com/tenement/ten/version"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tenement.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVersionFlagPrintsTenAndVersion(t *testing.T) {
	code, out, _ := runTen(t, "--version")
	if code != 0 || out != "ten "+version.Version+"\n" {
		t.Fatalf("ten --version = %d %q, want 0 %q", code, out, "ten "+version.Version+"\n")
	}
}

func TestVersionJSONContract(t *testing.T) {
	code, out, stderr := runTen(t, "version", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var info compat.VersionInfo
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if info.Version != version.Version || info.APIVersion != version.APIVersion {
		t.Errorf("version fields = %q %q", info.Version, info.APIVersion)
	}
	if info.SchemaVersion != migrations.Latest() || info.SchemaVersion < 1 {
		t.Errorf("schema_version = %d, want %d", info.SchemaVersion, migrations.Latest())
	}
	if info.CompatFloor < 1 || info.CompatFloor > info.SchemaVersion {
		t.Errorf("compat_floor = %d outside [1, %d]", info.CompatFloor, info.SchemaVersion)
	}
	if info.MinSchemaVersion != 0 {
		t.Errorf("min_schema_version = %d, want 0 (tenement v0.2.x databases)", info.MinSchemaVersion)
	}
	if info.Platform == "" || info.GoVersion == "" || info.Commit == "" || info.Capabilities == nil {
		t.Errorf("missing fields: %+v", info)
	}
}

func TestConfigCheckJSONAndExitCodes(t *testing.T) {
	tests := []struct {
		name         string
		body         string
		args         []string
		wantCode     int
		wantErrors   int
		wantWarnings int
	}{
		{"valid", "[service.api]\ncommand = \"./api\"\n", nil, 0, 0, 0},
		{"deprecated alias is a warning", "[service.api]\ncommand = \"./api\"\nruntime = \"process\"\n", nil, 0, 0, 1},
		{"warning with strict exits 3", "[service.api]\ncommand = \"./api\"\nruntime = \"process\"\n", []string{"--strict"}, 3, 0, 1},
		{"unknown key is a warning", "[service.api]\ncommand = \"./api\"\nhelth = \"/health\"\n", nil, 0, 0, 1},
		{"conflicting alias is an error", "[service.api]\ncommand = \"./api\"\nruntime = \"process\"\nisolation = \"namespace\"\n", nil, 1, 1, 0},
		{"missing command is an error", "[service.api]\nhealth = \"/health\"\n", nil, 1, 1, 0},
		{"syntax error is an error", "[service.api\n", nil, 1, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.body)
			args := append([]string{"config", "--check", "--json", "--config", path}, tt.args...)
			code, out, stderr := runTen(t, args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d (stdout %s, stderr %s)", code, tt.wantCode, out, stderr)
			}
			var rep compat.ConfigReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("decode %q: %v", out, err)
			}
			if len(rep.Errors) < tt.wantErrors || (tt.wantErrors == 0 && len(rep.Errors) != 0) {
				t.Errorf("errors = %+v, want %d", rep.Errors, tt.wantErrors)
			}
			if len(rep.Warnings) != tt.wantWarnings {
				t.Errorf("warnings = %+v, want %d", rep.Warnings, tt.wantWarnings)
			}
			if rep.OK != (tt.wantErrors == 0) {
				t.Errorf("ok = %v", rep.OK)
			}
			if rep.File != path {
				t.Errorf("file = %q, want %q", rep.File, path)
			}
		})
	}
}

func TestConfigCheckReportsLineOfUnknownKey(t *testing.T) {
	path := writeConfig(t, "[settings]\ndata_dir = \"/tmp/x\"\n\n[service.api]\ncommand = \"./api\"\nhelth = \"/health\"\n")
	_, out, _ := runTen(t, "config", "--check", "--json", "--config", path)
	var rep compat.ConfigReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || rep.Warnings[0].Line != 6 || !strings.Contains(rep.Warnings[0].Hint, "health") {
		t.Fatalf("warnings = %+v, want one at line 6 suggesting health", rep.Warnings)
	}
}

func TestConfigCheckDataDirOverride(t *testing.T) {
	path := writeConfig(t, "[settings]\ndata_dir = \"/from/file\"\n")
	t.Setenv("TENEMENT_DATA_DIR", "/from/env")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "/from/env"},
		{[]string{"--data-dir", "/from/flag"}, "/from/flag"},
	} {
		args := append([]string{"config", "--check", "--json", "--config", path}, tt.args...)
		_, out, _ := runTen(t, args...)
		var rep struct {
			Effective struct {
				Settings struct {
					DataDir string `json:"data_dir"`
				} `json:"settings"`
			} `json:"effective"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Effective.Settings.DataDir != tt.want {
			t.Errorf("args %v: data_dir = %q, want %q", tt.args, rep.Effective.Settings.DataDir, tt.want)
		}
	}
}

func TestConfigPrintsServicesSorted(t *testing.T) {
	path := writeConfig(t, "[service.zeta]\ncommand = \"./z\"\n[service.alpha]\ncommand = \"./a\"\n")
	code, out, stderr := runTen(t, "config", "--config", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	a, z := strings.Index(out, "alpha"), strings.Index(out, "zeta")
	if a < 0 || z < 0 || a > z {
		t.Fatalf("services not printed in sorted order:\n%s", out)
	}
}

func TestMissingConfigIsAClearError(t *testing.T) {
	code, _, stderr := runTen(t, "config", "--check", "--config", filepath.Join(t.TempDir(), "nope.toml"))
	if code != 2 || !strings.Contains(stderr, "nope.toml") {
		t.Fatalf("exit %d, stderr %q: want 2 naming the file", code, stderr)
	}
}

func TestMigrateJSON(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenement.db")

	code, out, stderr := runTen(t, "migrate", "--db", db, "--dry-run", "--json")
	if code != 0 {
		t.Fatalf("dry run exit %d: %s", code, stderr)
	}
	if !json.Valid([]byte(out)) {
		t.Fatalf("dry run output is not JSON: %q", out)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("dry run created %s", db)
	}

	code, out, stderr = runTen(t, "migrate", "--db", db, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep compat.MigrateReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if rep.From != 0 || rep.To != migrations.Latest() || len(rep.Applied) != migrations.Latest() || rep.Error != "" {
		t.Fatalf("report = %+v", rep)
	}

	code, out, _ = runTen(t, "migrate", "--data-dir", filepath.Dir(db), "--json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("second run: exit %d, %v", code, err)
	}
	if rep.From != rep.To || len(rep.Applied) != 0 {
		t.Fatalf("second run applied again: %+v", rep)
	}
}

// Issue 13 defect 11: the CLI refuses the same out-of-range numbers as the
// API, before it contacts the server, naming the flag and the range.
func TestDeployRefusesOutOfRangeNumbers(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy", "api:v2", "--timeout", "9223372036854775807"}, "invalid --timeout 9223372036854775807: must be between 1 and 3600 seconds"},
		{[]string{"deploy", "api:v2", "--timeout", "0"}, "invalid --timeout 0: must be between 1 and 3600 seconds"},
		{[]string{"deploy", "api:v2", "--weight", "101"}, "invalid --weight 101: must be between 0 and 100"},
	} {
		code, _, stderr := runTen(t, append(tt.args, "--server", "http://127.0.0.1:1", "--token", "x")...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("ten %v: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}
