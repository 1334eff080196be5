package config_test

import (
	"path/filepath"
	"testing"

	"github.com/tenement/ten/runtime/client"
	"github.com/tenement/ten/runtime/config"
	"github.com/tenement/ten/runtime/handoff"
	"github.com/tenement/ten/runtime/logs"
	"github.com/tenement/ten/runtime/store"
)

// Every name ten gives its own files at the top of the data directory is
// reserved: a new such file added without extending ReservedNames fails
// here.
func TestReservedNamesCoverTensOwnFiles(t *testing.T) {
	cfg := config.Default()
	cfg.Settings.DataDir = "/d"
	own := []string{client.TokenFile, handoff.SocketName, logs.Dir, store.FileName,
		store.FileName + "-wal", store.FileName + "-shm", filepath.Base(cfg.UpgradeStateDir())}
	for _, name := range own {
		if !config.ReservedName(name) {
			t.Errorf("%q is one of ten's own files but not a reserved name", name)
		}
	}
	for _, name := range []string{"upgrade", "Upgrade", "API_TOKEN", "x.y"} {
		if !config.ReservedName(name) {
			t.Errorf("ReservedName(%q) = false", name)
		}
	}
	for _, name := range []string{"api", "notes", "upgrades", "tenement"} {
		if config.ReservedName(name) {
			t.Errorf("ReservedName(%q) = true", name)
		}
	}
}
