package orchestrator

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tenement/ten/compat"
	rt "github.com/tenement/ten/orchestrator/release/releasetest"
)

// TestCheckRefusesAssetNamesThatLeaveTheWorkDir publishes a release whose
// checksums file (and so its signature) is named to climb out of the
// download directory. Check refuses the release naming the asset, before
// anything is downloaded, and nothing appears outside TMPDIR.
func TestCheckRefusesAssetNamesThatLeaveTheWorkDir(t *testing.T) {
	in := newInstallation(t, "ten-1.0.0")
	srv := rt.NewServer(t, "tenement/ten")
	const evil = "ten_x/../../../../evil_checksums.txt"
	art := artifact(t, "ten-1.1.0-expand", "1.1.0", "")
	sums := rt.Checksums(art)
	srv.Add(&rt.Release{Tag: "v1.1.0", Assets: []*rt.Asset{art,
		{Name: evil, Data: sums}, {Name: evil + ".minisig", Data: rt.Sign(in.priv, sums)}}})

	// The work directory is made in base/tmp; the name climbs four levels
	// from base/tmp/ten-upgrade-check-*/candidate, to base.
	base := t.TempDir()
	tmp := filepath.Join(base, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := in.options()
	opts.To, opts.GitHubAPI, opts.TempDir = "v1.1.0", srv.URL, tmp
	rep := Check(context.Background(), opts)

	if rep.Verdict != VerdictUnsafe {
		dumpReport(t, rep)
		t.Errorf("verdict %s, want unsafe", rep.Verdict)
	}
	wantCheck(t, rep, "asset", compat.StatusFail, `"`+evil+`"`, "not a plain file name")
	if got := srv.Downloads(); len(got) != 0 {
		t.Errorf("downloaded %v before the names were checked", got)
	}
	if ents, _ := os.ReadDir(base); len(ents) != 1 || ents[0].Name() != "tmp" {
		t.Errorf("files outside TMPDIR: %v", ents)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("work directory left behind: %v", left)
	}
}
