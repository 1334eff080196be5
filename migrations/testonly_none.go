//go:build !ten_testmigration_expand && !ten_testmigration_contract

package migrations

import "io/fs"

// testOnlyFS is declared once per build-tag combination. Building with both
// ten_testmigration_expand and ten_testmigration_contract declares it twice,
// which is a compile error: the two tags each add a migration 0003 and are
// mutually exclusive.
var testOnlyFS fs.FS
