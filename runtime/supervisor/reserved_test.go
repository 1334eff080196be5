package supervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenement/ten/runtime/config"
)

// A configuration built in code skips Validate; a service named after the
// upgrader's state directory must still not spawn, or its data directory
// {data_dir}/upgrade/{id} would be the upgrader's, deleted on stop.
func TestSpawnRefusesReservedServiceName(t *testing.T) {
	e := newEnv(t, func(cfg *config.Config, o *Options) {
		cfg.Services["upgrade"] = appService("/bin/true")
	})
	backup := filepath.Join(e.dir, "upgrade", "backups", "tenement.db.bak")
	if err := os.MkdirAll(filepath.Dir(backup), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(backup, []byte("backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.Spawn(context.Background(), "upgrade", "backups")
	if !errors.Is(err, ErrInvalidID) {
		t.Fatalf("spawn upgrade:backups: %v, want ErrInvalidID", err)
	}
	if want := `service name "upgrade" is reserved`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if _, err := os.Stat(backup); err != nil {
		t.Errorf("backup gone: %v", err)
	}
}
