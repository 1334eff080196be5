//go:build ten_testmigration_contract || ten_testmigration_expand

package migrations

import "io/fs"

// mustSub returns dir of an embedded test-only tree: its migrations are
// then named as the release's are, at the root.
func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
