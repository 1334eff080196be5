package compat

import (
	"fmt"
	"strconv"
	"strings"

	goversion "github.com/hashicorp/go-version"
)

// Change classifies a move from one version to another.
type Change string

// Version changes.
const (
	ChangeSame      Change = "same"      // nothing to do
	ChangeUpgrade   Change = "upgrade"   // same major, newer
	ChangeMajor     Change = "major"     // newer major: may break things
	ChangeDowngrade Change = "downgrade" // older: that is what rollback is for
)

// VersionDecision is the outcome of the version policy.
type VersionDecision struct {
	From, To *goversion.Version
	Change   Change
	// Allowed says whether the change may go ahead under the policy.
	Allowed bool
	Result  Result
}

// DecideVersion applies the upgrade policy to a move from the installed
// version to the candidate: an upgrade within a major is allowed; a major
// bump needs allowMajor; a downgrade is refused; equal versions are a no-op.
// Versions that are not semantic versions are an error: no decision.
func DecideVersion(installed, candidate string, allowMajor bool) (VersionDecision, error) {
	from, err := goversion.NewSemver(installed)
	if err != nil {
		return VersionDecision{}, fmt.Errorf("installed version %q is not a semantic version", installed)
	}
	to, err := goversion.NewSemver(candidate)
	if err != nil {
		return VersionDecision{}, fmt.Errorf("candidate version %q is not a semantic version (want vMAJOR.MINOR.PATCH)", candidate)
	}
	d := VersionDecision{From: from, To: to}
	arrow := fmt.Sprintf("%s -> %s", from, to)
	pre := ""
	if to.Prerelease() != "" {
		pre = " (pre-release)"
	}
	fromMajor, toMajor := from.Segments()[0], to.Segments()[0]
	switch {
	case to.Equal(from):
		d.Change, d.Allowed = ChangeSame, true
		d.Result = OK(NameVersion, fmt.Sprintf("%s is already installed; nothing to do", to))
	case to.LessThan(from):
		d.Change = ChangeDowngrade
		d.Result = Fail(NameVersion, fmt.Sprintf("%s is a downgrade; use ten-upgrade rollback", arrow))
	case toMajor > fromMajor && allowMajor:
		d.Change, d.Allowed = ChangeMajor, true
		d.Result = Warn(NameVersion, fmt.Sprintf("%s%s is a major upgrade, allowed by --allow-major; read the breaking changes", arrow, pre))
	case toMajor > fromMajor:
		d.Change = ChangeMajor
		d.Result = Fail(NameVersion, fmt.Sprintf("%s%s is a major upgrade: read the breaking changes, then pass --allow-major", arrow, pre))
	default:
		d.Change, d.Allowed = ChangeUpgrade, true
		d.Result = OK(NameVersion, fmt.Sprintf("%s%s, %s upgrade", arrow, pre, level(from, to)))
	}
	return d, nil
}

func level(from, to *goversion.Version) string {
	f, t := from.Segments(), to.Segments()
	switch {
	case t[1] != f[1]:
		return "minor"
	case t[2] != f[2]:
		return "patch"
	default:
		return "pre-release"
	}
}

// apiMajor returns the major number of an API version such as "1.0".
func apiMajor(v string) (int, error) {
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(v), "v"), ".")
	n, err := strconv.Atoi(major)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("API version %q is not MAJOR.MINOR", v)
	}
	return n, nil
}

// CheckAPIVersion compares the REST API versions of the installed binary
// and the candidate: the majors must match unless allowMajor, because
// clients of the running server (the ten CLI, scripts) would break.
func CheckAPIVersion(installed, candidate string, allowMajor bool) Result {
	if candidate == "" {
		return Error(NameAPI, "the candidate does not report its API version (version --json)")
	}
	cm, err := apiMajor(candidate)
	if err != nil {
		return Error(NameAPI, "candidate: "+err.Error())
	}
	if installed == "" {
		return Warn(NameAPI, fmt.Sprintf("candidate serves API %s; the installed binary does not report its API version, so clients cannot be checked", candidate))
	}
	im, err := apiMajor(installed)
	if err != nil {
		return Error(NameAPI, "installed: "+err.Error())
	}
	switch {
	case im == cm:
		return OK(NameAPI, fmt.Sprintf("API %s -> %s, same major", installed, candidate))
	case allowMajor:
		return Warn(NameAPI, fmt.Sprintf("API %s -> %s changes major, allowed by --allow-major: update the API clients", installed, candidate))
	default:
		return Fail(NameAPI, fmt.Sprintf("API %s -> %s changes major: clients of the running server would break; pass --allow-major once they are ready", installed, candidate))
	}
}
