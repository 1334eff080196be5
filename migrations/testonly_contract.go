//go:build ten_testmigration_contract

package migrations

import "embed"

// Built with -tags ten_testmigration_contract, the binary knows a contract
// 0003. Upgrade tests use such a binary as the "new" version to check that
// rolling back to the previous release is refused with a clear error rather
// than run against a schema it cannot use.

//go:embed testonly/contract/*.sql
var testOnlyContract embed.FS

var testOnlyFS = mustSub(testOnlyContract, "testonly/contract")
