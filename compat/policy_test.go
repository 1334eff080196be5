package compat

import (
	"strings"
	"testing"
)

func TestDecideVersion(t *testing.T) {
	tests := []struct {
		installed, candidate string
		allowMajor           bool
		change               Change
		allowed              bool
		status               Status
		msg                  string
	}{
		{"1.0.0", "1.1.0", false, ChangeUpgrade, true, StatusOK, "1.0.0 -> 1.1.0, minor upgrade"},
		{"1.1.0", "1.1.1", false, ChangeUpgrade, true, StatusOK, "1.1.0 -> 1.1.1, patch upgrade"},
		{"v1.1.0", "v1.2.0-rc.1", false, ChangeUpgrade, true, StatusOK, "1.1.0 -> 1.2.0-rc.1 (pre-release), minor upgrade"},
		{"1.2.0-rc.1", "1.2.0", false, ChangeUpgrade, true, StatusOK, "pre-release upgrade"},
		{"1.2.0", "1.2.0", false, ChangeSame, true, StatusOK, "1.2.0 is already installed; nothing to do"},
		{"1.2.0", "v1.2.0", false, ChangeSame, true, StatusOK, "nothing to do"},
		{"1.2.0", "1.1.0", false, ChangeDowngrade, false, StatusFail, "1.2.0 -> 1.1.0 is a downgrade; use ten-upgrade rollback"},
		{"1.2.0", "1.1.0", true, ChangeDowngrade, false, StatusFail, "downgrade"},
		{"1.2.0", "1.2.0-rc.1", false, ChangeDowngrade, false, StatusFail, "downgrade"},
		{"1.9.3", "2.0.0", false, ChangeMajor, false, StatusFail, "1.9.3 -> 2.0.0 is a major upgrade: read the breaking changes, then pass --allow-major"},
		{"1.9.3", "2.0.0", true, ChangeMajor, true, StatusWarn, "allowed by --allow-major"},
		{"0.9.0", "1.0.0", false, ChangeMajor, false, StatusFail, "major upgrade"},
	}
	for _, tt := range tests {
		d, err := DecideVersion(tt.installed, tt.candidate, tt.allowMajor)
		if err != nil {
			t.Errorf("%s -> %s: %v", tt.installed, tt.candidate, err)
			continue
		}
		if d.Change != tt.change || d.Allowed != tt.allowed || d.Result.Status != tt.status || d.Result.Check != NameVersion {
			t.Errorf("%s -> %s (allow-major %v) = %s allowed %v %s; want %s %v %s",
				tt.installed, tt.candidate, tt.allowMajor, d.Change, d.Allowed, d.Result.Status, tt.change, tt.allowed, tt.status)
		}
		if !strings.Contains(d.Result.Message, tt.msg) {
			t.Errorf("%s -> %s: message %q does not contain %q", tt.installed, tt.candidate, d.Result.Message, tt.msg)
		}
	}
}

func TestDecideVersionNotSemver(t *testing.T) {
	for _, tt := range []struct{ installed, candidate, errHas string }{
		{"1.0.0", "nightly", `candidate version "nightly" is not a semantic version`},
		{"1.0.0", "", "candidate version"},
		{"main-abc123", "1.0.0", `installed version "main-abc123"`},
	} {
		if _, err := DecideVersion(tt.installed, tt.candidate, true); err == nil || !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("DecideVersion(%q, %q): err = %v, want %q", tt.installed, tt.candidate, err, tt.errHas)
		}
	}
}

func TestCheckAPIVersion(t *testing.T) {
	tests := []struct {
		installed, candidate string
		allowMajor           bool
		status               Status
		msg                  string
	}{
		{"1.0", "1.0", false, StatusOK, "same major"},
		{"1.0", "1.3", false, StatusOK, "1.0 -> 1.3"},
		{"1.4", "2.0", false, StatusFail, "changes major"},
		{"1.4", "2.0", true, StatusWarn, "allowed by --allow-major"},
		{"2.0", "1.0", false, StatusFail, "changes major"},
		{"", "1.0", false, StatusWarn, "does not report its API version"},
		{"1.0", "", false, StatusError, "candidate does not report"},
		{"1.0", "one", false, StatusError, "not MAJOR.MINOR"},
	}
	for _, tt := range tests {
		r := CheckAPIVersion(tt.installed, tt.candidate, tt.allowMajor)
		if r.Status != tt.status || r.Check != NameAPI || !strings.Contains(r.Message, tt.msg) {
			t.Errorf("CheckAPIVersion(%q, %q, %v) = %+v; want %s containing %q", tt.installed, tt.candidate, tt.allowMajor, r, tt.status, tt.msg)
		}
	}
}
