package supervisor

import (
	"os"
	"path/filepath"
)

// removeInstanceDir deletes {data_dir}/{service}/{id} through an os.Root
// at the data directory: if {service} had been replaced by a link out of
// the data directory, the removal fails instead of following it. (Names
// inside it cannot alias ten's own files: see config.ReservedNames.)
func (s *Supervisor) removeInstanceDir(k key) error {
	root, err := os.OpenRoot(s.dataDir)
	if err != nil {
		return err
	}
	defer root.Close()
	return root.RemoveAll(filepath.Join(k.service, k.id))
}
