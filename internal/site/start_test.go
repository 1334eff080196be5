package site_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/tenement/ten/internal/site"
	"github.com/tenement/ten/internal/testbin"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// TestStartServesTenantsUnderLoad: a started site runs its tenants, load
// reaches them without a failure, and Close leaves no process behind.
func TestStartServesTenantsUnderLoad(t *testing.T) {
	s := site.Start(t, site.Config{Bins: site.Binaries{Ten: testbin.Build(t, "./cmd/ten")}})
	pids, err := s.WaitTenants(context.Background(), s.URL, 0)
	if err != nil || len(pids) != len(site.APITenants) {
		t.Fatalf("tenants %v: %v", pids, err)
	}
	if n := len(s.Servers()); n != 1 {
		t.Errorf("%d ten serve processes, want 1", n)
	}
	res := s.UnderLoad(t, s.URL, 100, func() {})
	if failed, sent := s.Failures(); failed != 0 || sent != res.Sent || sent < 200 {
		t.Errorf("failures %d/%d: %s", failed, sent, res)
	}
	s.Close()
	site.WaitFor(t, "no process of the site", 10*time.Second, func() bool { return len(s.Processes()) == 0 })
}
