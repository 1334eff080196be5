package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// ReservedNames are the names ten and ten-upgrade use for their own files
// at the top of the data directory, where a service's data directory
// ({data_dir}/{service}/{id}) would also go. A service with one of these
// names would share a directory with them: a service called "upgrade"
// would have its instances' data next to the upgrader's backups and
// journal, and a stop of an instance without storage_persist would delete
// them. The files themselves keep their paths (tenement.db, ten.sock and
// upgrade/ are contracts between two releases running side by side on one
// data directory); the names are refused instead.
//
// The list holds every such name that could be a service name (a DNS label
// after lower-casing), including acme, the default ACME certificate cache
// ([settings.tls] cache_dir); the others (tenement.db and its -wal/-shm, ten.sock,
// .logs, temporary dot files) contain a dot, which no service name can.
var ReservedNames = []string{"acme", "api_token", "upgrade"}

// ReservedName says whether name must not be a service name because ten's
// own files live under it, or could: the comparison ignores case (a
// case-insensitive file system would alias "Upgrade" to "upgrade") and any
// name with a dot is reserved.
func ReservedName(name string) bool {
	return strings.Contains(name, ".") || slices.Contains(ReservedNames, strings.ToLower(name))
}

// ReservedNameError is the message for a service named after one of ten's
// own files.
func ReservedNameError(name string) error {
	return fmt.Errorf("service name %q is reserved: ten keeps its own files under {data_dir}/%s; reserved names are %s",
		name, name, quotedList(ReservedNames))
}

// checkStateDir refuses an upgrade state directory that is a service's data
// directory, or inside one: the service's instances would write into the
// upgrader's journal and backups, and a stop could delete them.
func (p *parser) checkStateDir(c *Config) {
	if c.Upgrade.StateDir == "" || c.Settings.DataDir == "" {
		return
	}
	rel, err := filepath.Rel(filepath.Clean(c.Settings.DataDir), filepath.Clean(c.Upgrade.StateDir))
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return
	}
	first, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
	for _, name := range c.ServiceNames() {
		if strings.EqualFold(first, name) {
			p.errorf([]string{"upgrade", "state_dir"}, "put it outside the data directory or at {data_dir}/upgrade",
				"%q is inside the data directory of service %q", c.Upgrade.StateDir, name)
		}
	}
}
