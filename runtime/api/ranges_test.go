package api

import (
	"strings"
	"testing"
)

// Issue 13 defect 11: {"timeout": 9223372036854775807} overflowed the
// deadline into an instant 504 while the instance started. Every number of
// the API is now checked against its range, and the 400 names the field
// and the range; nothing is spawned.
func TestOutOfRangeNumbersAre400NamingFieldAndRange(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		path, body, want string
	}{
		{"/api/deploy", `{"process":"api","version":"v2","timeout":9223372036854775807}`, "invalid timeout 9223372036854775807: must be between 1 and 3600 seconds"},
		{"/api/deploy", `{"process":"api","version":"v2","timeout":-1}`, "invalid timeout -1: must be between 1 and 3600 seconds"},
		{"/api/deploy", `{"process":"api","version":"v2","timeout":0}`, "invalid timeout 0: must be between 1 and 3600 seconds"},
		{"/api/deploy", `{"process":"api","version":"v2","timeout":1e30}`, `field "timeout" must be an integer between 1 and 3600 (seconds)`},
		{"/api/deploy", `{"process":"api","version":"v2","timeout":99999999999999999999999}`, `field "timeout" must be an integer between 1 and 3600 (seconds)`},
		{"/api/deploy", `{"process":"api","version":"v2","timeout":1.5}`, `field "timeout" must be an integer between 1 and 3600 (seconds)`},
		{"/api/deploy", `{"process":"api","version":"v2","weight":101}`, "invalid weight 101: must be between 0 and 100"},
		{"/api/deploy", `{"process":"api","version":"v2","weight":-9223372036854775808}`, "invalid weight -9223372036854775808: must be between 0 and 100"},
		{"/api/deploy", `{"process":"api","version":"v2","weight":1e99}`, `field "weight" must be an integer between 0 and 100`},
	}
	for _, tt := range tests {
		code, body, _ := f.call(t, f.admin, "POST", tt.path, tt.body)
		if code != 400 || !strings.Contains(errMsg(t, body), tt.want) {
			t.Errorf("%s %s: %d %s, want 400 with %q", tt.path, tt.body, code, body, tt.want)
		}
	}
	if n := len(f.sup.List()); n != 0 {
		t.Errorf("%d instances spawned by refused requests", n)
	}
	code, body, _ := f.call(t, f.admin, "PUT", "/api/instances/api:x/weight", `{"weight":1e99}`)
	if code != 400 || !strings.Contains(errMsg(t, body), `field "weight" must be an integer between 0 and 100`) {
		t.Errorf("weight 1e99: %d %s", code, body)
	}
	// The edges are allowed.
	code, body, _ = f.call(t, f.admin, "POST", "/api/deploy", `{"process":"api","version":"v3","timeout":3600,"weight":0}`)
	if code != 200 {
		t.Errorf("timeout 3600, weight 0: %d %s", code, body)
	}
}
