// Package admin implements the offline commands of `ten` that other tools
// rely on as a contract: version, config check and migrate. They work on
// files only and never need a running server.
package admin

import (
	"github.com/tenement/ten/compat"
	"github.com/tenement/ten/migrations"
	"github.com/tenement/ten/version"
)

// Capabilities lists the optional features this build of `ten serve`
// supports. ten-upgrade picks its strategy from it: "handoff" means the
// server accepts an `upgrade` request on its control socket (and SIGUSR2)
// and passes its listening sockets to the new binary.
var Capabilities = []string{"handoff"}

// VersionInfo describes this binary for `ten version --json`.
func VersionInfo() compat.VersionInfo {
	set := migrations.All()
	latest := migrations.Latest()
	return compat.VersionInfo{
		Version:          version.Version,
		APIVersion:       version.APIVersion,
		SchemaVersion:    latest,
		MinSchemaVersion: migrations.MinSupported(),
		CompatFloor:      migrations.Floor(set, latest),
		Commit:           version.Commit,
		GoVersion:        version.GoVersion(),
		Platform:         version.Platform(),
		Capabilities:     append([]string{}, Capabilities...),
	}
}
