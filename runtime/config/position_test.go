package config

import (
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestScanKeyLines(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want map[string]int // dotted path (no quoting) -> line
	}{{
		name: "tables and keys",
		src: `# header comment
[settings]
data_dir = "/x"

[service.api]   # trailing comment
command = "./api"
`,
		want: map[string]int{
			"settings": 2, "settings.data_dir": 3,
			"service": 5, "service.api": 5, "service.api.command": 6,
		},
	}, {
		name: "dotted keys create their parents",
		src: `a.b.c = 1
a.b.d = 2
[x]
y . z = 3
`,
		want: map[string]int{"a": 1, "a.b": 1, "a.b.c": 1, "a.b.d": 2, "x": 3, "x.y": 4, "x.y.z": 4},
	}, {
		name: "quoted keys",
		src: `[routing.subdomain]
"api.example.com" = "api"
'*.example.com' = "web"
"esc\"aped" = 1
[service."my.app"]
command = "x"
`,
		want: map[string]int{
			"routing":                           1,
			"routing.subdomain":                 1,
			"service":                           5,
			"routing.subdomain.api.example.com": 2,
			"routing.subdomain.*.example.com":   3,
			`routing.subdomain.esc"aped`:        4,
			"service.my.app":                    5,
			"service.my.app.command":            6,
		},
	}, {
		name: "inline tables",
		src: `svc = { a = 1, b = { c = 2 } }
multi = {
  d = 1,
  e.f = 2,
}
after = 1
`,
		want: map[string]int{"svc": 1, "svc.a": 1, "svc.b": 1, "svc.b.c": 1, "multi": 2, "multi.d": 3, "multi.e": 4, "multi.e.f": 4, "after": 6},
	}, {
		name: "arrays",
		src: `arr = [
  1, 2, # comment with key = 1
  [3, 4],
  { t = 5 },
]
after = 1
`,
		want: map[string]int{"arr": 1, "arr.t": 4, "after": 6},
	}, {
		name: "strings that look like keys",
		src: `a = "b = 1 # not a comment"
c = 'd = [ {'
e = """
f = 1
\"""
g = 2"""
h = '''
i = 1
'''
j = """x""""
k = ''''y'''''
l = 1
`,
		want: map[string]int{"a": 1, "c": 2, "e": 3, "h": 7, "j": 10, "k": 11, "l": 12},
	}, {
		name: "line-ending backslash",
		src: `a = """one \
two"""
b = 1
`,
		want: map[string]int{"a": 1, "b": 3},
	}, {
		name: "arrays of tables",
		src: `[[m]]
x = 1
[[m]]
x = 2
y = 3
`,
		want: map[string]int{"m": 1, "m.x": 2, "m.y": 5},
	}, {
		name: "date-times with a space",
		src: `t = { d = 1979-05-27 07:32:00Z, e = 1 }
u = 1979-05-27 07:32:00
v = 1
`,
		want: map[string]int{"t": 1, "t.d": 1, "t.e": 1, "u": 2, "v": 3},
	}, {
		name: "CRLF and BOM",
		src:  "\xef\xbb\xbfa = 1\r\n\r\n[b]\r\nc = 2\r\n",
		want: map[string]int{"a": 1, "b": 3, "b.c": 4},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The scanner relies on the document being valid TOML.
			var v map[string]any
			if _, err := toml.Decode(tt.src, &v); err != nil {
				t.Fatalf("test document is not valid TOML: %v", err)
			}
			got := scanKeyLines([]byte(tt.src))
			for path, line := range tt.want {
				id := pathID(splitTestPath(path))
				if got[id] != line {
					t.Errorf("line of %s = %d, want %d", path, got[id], line)
				}
			}
			// Nothing inside a string or comment may become a key.
			for id := range got {
				if _, ok := tt.want[strings.ReplaceAll(id, "\x00", ".")]; !ok {
					t.Errorf("unexpected key %q", strings.ReplaceAll(id, "\x00", "."))
				}
			}
		})
	}
}

// splitTestPath splits the test's dotted paths; the few keys with dots in
// them are listed here whole.
func splitTestPath(p string) []string {
	for _, whole := range []string{"api.example.com", "*.example.com", "my.app"} {
		if i := strings.Index(p, whole); i >= 0 {
			return append(strings.Split(p[:i-1], "."), append([]string{whole}, splitRest(p[i+len(whole):])...)...)
		}
	}
	return strings.Split(p, ".")
}

func splitRest(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimPrefix(s, "."), ".")
}

func TestKeyString(t *testing.T) {
	tests := []struct {
		path []string
		want string
	}{
		{[]string{"service", "api", "health"}, "service.api.health"},
		{[]string{"routing", "subdomain", "api.example.com"}, `routing.subdomain."api.example.com"`},
		{[]string{"service", "my app"}, `service."my app"`},
		{[]string{"a", ""}, `a.""`},
		{[]string{"a-b_c", "D9"}, "a-b_c.D9"},
	}
	for _, tt := range tests {
		if got := keyString(tt.path); got != tt.want {
			t.Errorf("keyString(%q) = %s, want %s", tt.path, got, tt.want)
		}
	}
}

// FuzzScanKeyLines checks that every key the decoder sees in a valid
// document is given a line, and that the scanner never panics.
func FuzzScanKeyLines(f *testing.F) {
	f.Add(everyKey)
	f.Add("a = \"\"\"\nb = 1\"\"\"\nc = [\n{d = 1},\n]\n[[e.f]]\ng.h = 'i'\n")
	f.Add("t = 1979-05-27 07:32:00Z\nx = { y = [1, { z = 2 }] }\n")
	f.Fuzz(func(t *testing.T, src string) {
		var v map[string]any
		md, err := toml.Decode(src, &v)
		if err != nil {
			return
		}
		lines := scanKeyLines([]byte(src))
		for _, k := range md.Keys() {
			if lines[pathID(k)] < 1 {
				t.Errorf("no line for key %q in %q", k.String(), src)
			}
		}
	})
}
