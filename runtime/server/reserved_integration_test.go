package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenement/ten/runtime/api"
	"github.com/tenement/ten/runtime/config"
)

// TestServiceNamedUpgradeIsRefused: a service named after the upgrader's
// state directory ({data_dir}/upgrade) would have `spawn upgrade:backups`
// then `stop` delete the upgrade backups. config --check and serve refuse
// it, naming the name and the reserved list, and create nothing.
func TestServiceNamedUpgradeIsRefused(t *testing.T) {
	e := newEnv(t, "[service.upgrade]\ncommand = \"@APP@\"\nstorage_persist = false\n")
	const want = `service name "upgrade" is reserved: ten keeps its own files under {data_dir}/upgrade; reserved names are "acme", "api_token" and "upgrade"`

	r := e.cli(t, nil, "config", "--check")
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, want) {
		t.Errorf("config --check: exit %d, want 1 with %q\nstdout: %s\nstderr: %s", r.code, want, r.stdout, r.stderr)
	}
	// Without the check the server would start and serve: bound the wait.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := e.cliCmd(ctx, nil, "serve", "--host", "127.0.0.1", "--port", "0").CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), want) {
		t.Errorf("serve: %v, want an error with %q\noutput: %s", err, want, out)
	}
	if _, err := os.Stat(e.dataDir); !os.IsNotExist(err) {
		t.Errorf("refused configuration created the data directory: %v", err)
	}
}

// TestDataDirLayoutKeepsTenFilesApart runs a server the way the current
// release lays out its data directory, with an upgrade backup present, and
// checks: an instance stopped without storage_persist takes only its own
// directory; every other top-level entry is one of ten's reserved names;
// the same data directory (database, token) keeps working after a restart.
func TestDataDirLayoutKeepsTenFilesApart(t *testing.T) {
	e := newEnv(t, "[service.api]\ncommand = \"@APP@\"\nstorage_persist = false\n[service.api.env]\nTESTAPP_NAME = \"{id}\"\n")
	backup := filepath.Join(e.dataDir, "upgrade", "backups", "tenement.db.1")
	if err := os.MkdirAll(filepath.Dir(backup), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(backup, []byte("backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := e.adminToken(t)
	s := e.startServer(t)
	e.mustCLI(t, s, "spawn", "api", "--id", "prod")
	if _, err := os.Stat(filepath.Join(e.dataDir, "api", "prod")); err != nil {
		t.Fatalf("instance data dir: %v", err)
	}
	e.mustCLI(t, s, "stop", "api:prod")
	if _, err := os.Stat(filepath.Join(e.dataDir, "api", "prod")); !os.IsNotExist(err) {
		t.Errorf("instance data dir after stop without storage_persist: %v", err)
	}
	if b, err := os.ReadFile(backup); err != nil || string(b) != "backup" {
		t.Errorf("upgrade backup after stop: %q, %v", b, err)
	}

	ents, err := os.ReadDir(e.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if name := ent.Name(); name != "api" && !config.ReservedName(name) {
			t.Errorf("%s/%s is neither a service's directory nor a reserved name", e.dataDir, name)
		}
	}

	s.stop(t)
	s = e.startServer(t)
	var list []api.Instance
	if code := s.getJSON(t, "/api/instances", tok, &list); code != 200 {
		t.Errorf("admin token after restart on the same data dir: %d", code)
	}
	e.mustCLI(t, s, "spawn", "api", "--id", "again")
}
