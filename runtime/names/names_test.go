package names

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, in, why string
	}{
		{"plain", "alice", ""},
		{"digits underscore hyphen", "a_1-b", ""},
		{"upper case", "Alice", "upper-case letter 'A'"},
		{"trailing hyphen", "a-", "ends with '-'"},
		{"leading underscore", "_a", "starts with '_'"},
		{"63 bytes", strings.Repeat("a", 63), ""},
		{"empty", "", "empty"},
		{"64 bytes", strings.Repeat("a", 64), "longer than 63 bytes"},
		{"leading hyphen", "-a", "starts with '-'"},
		{"slash", "a/b", `invalid character '/'`},
		{"dot dot", "..", `invalid character '.'`},
		{"colon", "web:a", `invalid character ':'`},
		{"space", "a b", `invalid character ' '`},
		{"non-ascii", "é", `invalid character 'é'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.in)
			if tc.why == "" {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", tc.in, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Check(%q) = %v, want ErrInvalid", tc.in, err)
			}
			if !strings.Contains(err.Error(), tc.why) || !strings.Contains(err.Error(), Rule) {
				t.Fatalf("Check(%q) = %q, want it to say %q and state the rule", tc.in, err, tc.why)
			}
		})
	}
}

func TestStored(t *testing.T) {
	for in, want := range map[string]bool{
		"alice": true, "Alice": true, "_a": true, "a-": true, "a_1-b": true,
		"": false, "-a": false, "a/b": false, "..": false, strings.Repeat("a", 64): false,
	} {
		if got := Stored(in); got != want {
			t.Errorf("Stored(%q) = %v, want %v", in, got, want)
		}
		if Check(in) == nil && !Stored(in) {
			t.Errorf("%q passes Check but not Stored", in)
		}
	}
}
