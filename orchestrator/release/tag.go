package release

import (
	"fmt"
	"regexp"
	"strings"
)

// tagPattern is the alphabet of a version tag: an optional "v", then a
// semantic version's characters. Nothing else may reach a request path.
var tagPattern = regexp.MustCompile(`^v?[0-9][0-9A-Za-z.+-]*$`)

// CheckTo validates what --to names: "latest" (or nothing, which means
// it) or a semantic version, with or without its "v". Anything else is
// refused before it goes into a URL.
func CheckTo(to string) error {
	if to == "" || to == Latest {
		return nil
	}
	if !tagPattern.MatchString(to) {
		return fmt.Errorf("--to %q is not a release version: want latest or a version such as v1.2.3 (letters, digits, '.', '-' and '+')", to)
	}
	if _, err := ParseVersion(to); err != nil {
		return fmt.Errorf("--to %q is not a semantic version: want latest or a version such as v1.2.3", to)
	}
	return nil
}

// repoPart is the alphabet of a GitHub owner or repository name.
var repoPart = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// splitRepo splits "owner/name", refusing parts that are not GitHub names:
// they go into every API path.
func splitRepo(repo string) (owner, name string, err error) {
	owner, name, _ = strings.Cut(repo, "/")
	if !validRepoPart(owner) || !validRepoPart(name) {
		return "", "", fmt.Errorf("repository %q is not owner/name (letters, digits, '-', '_' and '.'): pass --repo owner/name or set repo under [upgrade]", repo)
	}
	return owner, name, nil
}

func validRepoPart(s string) bool {
	return repoPart.MatchString(s) && s != "." && s != ".."
}
