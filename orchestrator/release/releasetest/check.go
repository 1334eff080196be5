package releasetest

import (
	"slices"
	"strings"
	"testing"
)

// WantErr checks the error of a table-driven test's row: with no parts err
// must be nil; otherwise it must mention every part. Empty parts count for
// nothing, so that a row's errHas string can be passed as it is. It reports
// whether an error was wanted, so that the row can check the failure
// further and stop.
func WantErr(t testing.TB, err error, parts ...string) bool {
	t.Helper()
	parts = slices.DeleteFunc(slices.Clone(parts), func(p string) bool { return p == "" })
	if len(parts) == 0 {
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
	return true
}
