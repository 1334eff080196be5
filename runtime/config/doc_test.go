package config

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// docPath is the configuration reference this test holds to the code.
const docPath = "../../docs/configuration.md"

// docRow is one key row of a table in the reference.
type docRow struct {
	key, dflt string
	line      int
}

var (
	// A section heading names its table in code: ## `[settings]`.
	docSection = regexp.MustCompile("^#{2,4} `\\[{1,2}([a-zA-Z_.]+(?:\\.NAME)?[a-zA-Z_.]*)\\]{1,2}`\\s*$")
	docRowRe   = regexp.MustCompile("^\\| `([a-z_]+)` \\|([^|]*)\\|([^|]*)\\|")
	codeSpan   = regexp.MustCompile("`([^`]*)`")
)

// readReference returns the key rows of every table section of the
// reference, by table ("settings", "service.NAME", ...).
func readReference(t *testing.T) map[string][]docRow {
	t.Helper()
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("the configuration reference: %v", err)
	}
	out := map[string][]docRow{}
	table := ""
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "#") {
			table = ""
			if m := docSection.FindStringSubmatch(line); m != nil {
				table = m[1]
				if _, dup := out[table]; dup {
					t.Errorf("%s:%d: a second section for [%s]", docPath, i+1, table)
				}
				out[table] = nil
			}
			continue
		}
		if m := docRowRe.FindStringSubmatch(line); m != nil && table != "" {
			out[table] = append(out[table], docRow{key: m[1], dflt: strings.TrimSpace(m[3]), line: i + 1})
		}
	}
	return out
}

// defaultsOf returns the default of every key of a table, by TOML key:
// the values of the struct's fields, named by their JSON names, which are
// the TOML keys.
func defaultsOf(v any) map[string]any {
	out := map[string]any{}
	rv := reflect.ValueOf(v)
	for i := 0; i < rv.NumField(); i++ {
		name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
		out[name] = rv.Field(i).Interface()
	}
	return out
}

// tomlLiteral writes a default as it appears in a TOML file.
func tomlLiteral(v any) (lit string, zero bool) {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v), v == ""
	case int:
		return strconv.Itoa(v), v == 0
	case bool:
		return strconv.FormatBool(v), !v
	case []string:
		return "[]", len(v) == 0
	case map[string]string:
		return "{}", len(v) == 0
	}
	return fmt.Sprint(v), false
}

func keysOf[T any](fs fieldSet[T], drop ...string) []string {
	var keys []string
	for k := range maps.Keys(fs) {
		if !slices.Contains(drop, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// TestReferenceDocumentsEveryKey holds docs/configuration.md to the
// decoder: every key the config package accepts has a row in its table's
// section (and nothing else does), and every default written there is the
// one the code applies.
func TestReferenceDocumentsEveryKey(t *testing.T) {
	ref := readReference(t)
	cfg := Default()
	tables := []struct {
		name     string
		keys     []string
		defaults map[string]any
	}{
		{"settings", keysOf(settingsFields, "tls"), defaultsOf(cfg.Settings)},
		{"settings.tls", keysOf(tlsFields), defaultsOf(cfg.Settings.TLS)},
		{"service.NAME", append(keysOf(serviceFields, "mounts"), "runtime"), defaultsOf(*DefaultService())},
		{"service.NAME.mounts", keysOf(mountFields), defaultsOf(Mount{})},
		{"routing", keysOf(routingFields), defaultsOf(cfg.Routing)},
		{"upgrade", keysOf(upgradeFields), defaultsOf(cfg.Upgrade)},
		{"instances", nil, nil},
	}
	// The top-level tables the decoder knows: each has a section.
	for _, top := range []string{"settings", "service", "instances", "routing", "upgrade"} {
		found := false
		for name := range ref {
			found = found || name == top || strings.HasPrefix(name, top+".")
		}
		if !found {
			t.Errorf("%s has no section for [%s]", docPath, top)
		}
	}

	for _, tb := range tables {
		rows, ok := ref[tb.name]
		if !ok {
			t.Errorf("%s has no section headed `[%s]`", docPath, tb.name)
			continue
		}
		var documented []string
		for _, r := range rows {
			documented = append(documented, r.key)
			if !slices.Contains(tb.keys, r.key) {
				t.Errorf("%s:%d documents %s.%s, which the config package does not accept", docPath, r.line, tb.name, r.key)
				continue
			}
			if r.key == "runtime" {
				continue // an alias: its default is isolation's
			}
			lit, zero := tomlLiteral(tb.defaults[r.key])
			// "none" and "required" describe an empty default in words
			// (and may show, in code, what an empty value stands for).
			if word, _, _ := strings.Cut(r.dflt, " "); word == "none" || word == "required" {
				if !zero {
					t.Errorf("%s:%d: %s.%s defaults to %s, but the reference says %q", docPath, r.line, tb.name, r.key, lit, r.dflt)
				}
				continue
			}
			span := codeSpan.FindStringSubmatch(r.dflt)
			if span == nil || span[1] != lit {
				t.Errorf("%s:%d: %s.%s defaults to %s, but the reference's default column says %q", docPath, r.line, tb.name, r.key, lit, r.dflt)
			}
		}
		for _, k := range tb.keys {
			if !slices.Contains(documented, k) {
				t.Errorf("%s: %s.%s is not documented: add a row for it to its section", docPath, tb.name, k)
			}
		}
		if dups := len(documented) - len(slices.Compact(slices.Sorted(slices.Values(documented)))); dups > 0 {
			t.Errorf("%s: [%s] documents %d key(s) twice", docPath, tb.name, dups)
		}
	}
}

// The reference's example must be a valid file without warnings.
func TestReferenceExampleIsValid(t *testing.T) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "## An example\n")
	if start < 0 {
		t.Fatal("no example section")
	}
	block := text[start:]
	open := strings.Index(block, "```toml\n")
	if open < 0 {
		t.Fatal("no toml block in the example section")
	}
	block = block[open+len("```toml\n"):]
	example := block[:strings.Index(block, "```")]
	_, diags, err := Parse([]byte(example), filepath.Base(docPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diags {
		t.Errorf("example: %s", d.String())
	}
}
