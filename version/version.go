// Package version holds the build identity of both binaries. The values are
// stamped at link time:
//
//	go build -ldflags "-X github.com/tenement/ten/version.Version=1.2.3 -X github.com/tenement/ten/version.Commit=abc123"
package version

import (
	"fmt"
	"runtime"
)

var (
	// Version is the semantic version of this build, without a leading "v".
	Version = "0.0.0-dev"
	// Commit is the VCS revision this build was made from.
	Commit = "unknown"
)

// APIVersion is the version of the REST API served by `ten serve`. Its major
// number changes only when a route or a JSON shape changes incompatibly.
const APIVersion = "1.0"

// Platform is the os/arch pair the binary was built for.
func Platform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// GoVersion is the Go toolchain that built the binary.
func GoVersion() string { return runtime.Version() }

// String is the one-line identity printed by `--version`, e.g. "ten 1.2.3".
func String(program string) string { return fmt.Sprintf("%s %s", program, Version) }
