//go:build ten_testmigration_expand

package migrations

import "embed"

// Built with -tags ten_testmigration_expand, the binary knows one more
// migration than a release build: an expand 0003. Upgrade tests use such a
// binary as the "new" version to check that the previous release still runs
// on the migrated database.

//go:embed testonly/expand/*.sql
var testOnlyExpand embed.FS

var testOnlyFS = mustSub(testOnlyExpand, "testonly/expand")
