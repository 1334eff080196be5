package supervisor

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tenement/ten/internal/syncbuf"
	"github.com/tenement/ten/runtime/config"
)

// A service whose isolation this server cannot provide is named in the log
// when the server starts, not only at its first spawn. (Here the level is
// one no server provides; a namespace service on a server without root
// takes the same path, see TestNamespaceIsolationNeedsRoot.)
func TestStartLogsServicesThatCannotStart(t *testing.T) {
	var logs syncbuf.Buffer
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Services["ok"] = appService("/bin/true")
	cfg.Services["jail"] = appService("/bin/true", func(s *config.Service) { s.Isolation = "firecracker" })
	e := newEnvAt(t, dir, cfg, openDB(t, dir), func(_ *config.Config, o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	if err := e.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "service=jail") ||
		!strings.Contains(out, `isolation \"firecracker\" is not supported`) {
		t.Errorf("start log does not name the service that cannot start:\n%s", out)
	}
	if strings.Contains(out, "service=ok") {
		t.Errorf("start log names a service that can start:\n%s", out)
	}
}
