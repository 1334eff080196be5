package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenement.toml")
	writeFile(t, path, `[service.api]
command = "./api"
helth = "/h"
`)
	c, ds, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path {
		t.Errorf("Path = %q, want %q", c.Path, path)
	}
	if c.Services["api"] == nil || c.Services["api"].Command != "./api" {
		t.Errorf("services = %+v", c.Services)
	}
	if len(ds) != 1 || ds[0].File != path || ds[0].Line != 3 {
		t.Errorf("diagnostics = %v, want one at %s:3", ds, path)
	}
	if want := path + `:3: unknown key service.api.helth (did you mean "health"?)`; len(ds) == 1 && ds[0].String() != want {
		t.Errorf("String() = %q, want %q", ds[0].String(), want)
	}
}

func TestLoadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "tenement.toml")
	c, ds, err := Load(path)
	if err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	if c != nil || ds != nil {
		t.Errorf("Load returned %v, %v with its error", c, ds)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
}

func TestParseSyntaxError(t *testing.T) {
	tests := []struct {
		name string
		src  string
		line int
	}{
		{"unterminated array", "[service.api]\ncommand = \"./api\"\nargs = [\n", 3},
		{"garbage", "this is not valid toml [[[", 1},
		{"duplicate key", "[service.api]\ncommand = \"a\"\ncommand = \"b\"\n", 3},
		{"duplicate table", "[service.api]\n[service.api]\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ds, err := Parse([]byte(tt.src), "conf/tenement.toml")
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if c != nil || ds != nil {
				t.Errorf("Parse returned %v, %v with its error", c, ds)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SyntaxError", err)
			}
			if se.Line != tt.line || se.File != "conf/tenement.toml" {
				t.Errorf("SyntaxError at %s:%d, want conf/tenement.toml:%d", se.File, se.Line, tt.line)
			}
			if prefix := "conf/tenement.toml:" + strconv.Itoa(tt.line) + ": invalid TOML: "; !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
			var pe toml.ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error does not wrap toml.ParseError")
			}
		})
	}
}
