package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/tenement/ten/compat/compattest"
	"github.com/tenement/ten/internal/site"
)

// Versions upgraded between: 1.1.0 carries an expand migration (built with
// the test migration tag), so the old and the new server can share the
// database, as in the end-to-end tests.
const (
	fromVersion = "1.0.0"
	toVersion   = "1.1.0"
)

// bins are the real binaries every scenario runs: a site installs
// Binaries.Ten (1.0.0) and is upgraded to tenNew.
type bins struct {
	site.Binaries
	tenNew string
}

func buildBins(ctx context.Context, dir string) (*bins, error) {
	out, err := compattest.Build(dir,
		compattest.Variant{Name: "ten-" + fromVersion, Version: fromVersion},
		compattest.Variant{Name: "ten-" + toVersion, Version: toVersion, Tags: compattest.TagExpand},
	)
	if err != nil {
		return nil, err
	}
	root, err := compattest.ModuleRoot()
	if err != nil {
		return nil, err
	}
	b := &bins{Binaries: site.Binaries{Ten: out["ten-"+fromVersion], Upgrade: filepath.Join(dir, "ten-upgrade"),
		Tenant: filepath.Join(dir, "tenant")}, tenNew: out["ten-"+toVersion]}
	for _, x := range [][2]string{{b.Upgrade, "./cmd/ten-upgrade"}, {b.Tenant, "./internal/testapp"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", x[0], x[1])
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if o, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", x[1], err, o)
		}
	}
	return b, nil
}

// newSite installs ten 1.0.0 with its three tenants in dir, run like a
// service; the tenant binary is the site's own copy.
func newSite(ctx context.Context, b *bins, dir string) (*site.Site, error) {
	return site.Open(ctx, site.Config{Dir: dir, Bins: b.Binaries, CopyTenant: true, MarkVar: "TENBENCH_MARK"})
}
