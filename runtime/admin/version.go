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
// supports. ten-upgrade picks its strategy from it.
var Capabilities = []string{}

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
