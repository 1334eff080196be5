package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tenement/ten/compat"
	rt "github.com/tenement/ten/orchestrator/release/releasetest"
)

// These tests run check end to end with real ten binaries: the installed
// 1.0.0 (schema 2), and candidates with an extra expand migration (1.1.0),
// an extra contract migration (1.2.0) and a new major (2.0.0).

// checkUnchanged checks the candidate variant against an installation of
// 1.0.0, and at the end of the test asserts that the check changed
// nothing there, the database included.
func checkUnchanged(t *testing.T, variant string) (*CheckReport, CheckOptions) {
	t.Helper()
	in := newInstallation(t, "ten-1.0.0")
	dbBefore := hashFile(t, in.db)
	before := in.snapshot(t)
	t.Cleanup(func() {
		if got := hashFile(t, in.db); got != dbBefore {
			t.Error("the production database changed")
		}
		assertUnchanged(t, before, in.snapshot(t))
	})
	opts := in.options()
	opts.Binary = tenBinary(t, variant)
	return Check(context.Background(), opts), opts
}

func TestCheckExpandAllowsOverlap(t *testing.T) {
	rep, opts := checkUnchanged(t, "ten-1.1.0-expand")

	if rep.Verdict != VerdictSafe || rep.ExitCode != 0 {
		dumpReport(t, rep)
		t.Fatalf("verdict %s (exit %d), want safe", rep.Verdict, rep.ExitCode)
	}
	if rep.OverlapPossible == nil || !*rep.OverlapPossible {
		t.Errorf("overlap_possible = %s, want true", show(rep.OverlapPossible))
	}
	if rep.RollbackNeedsDBRestore == nil || *rep.RollbackNeedsDBRestore {
		t.Errorf("rollback_needs_db_restore = %s, want false", show(rep.RollbackNeedsDBRestore))
	}
	db := rep.Database
	if db == nil || db.From != 2 || db.To != 3 || len(db.Applied) != 1 || db.Applied[0].Kind != "expand" || !db.IntegrityOK {
		t.Errorf("database = %+v", db)
	}
	if db != nil && (db.InstalledCanRun == nil || !*db.InstalledCanRun) {
		t.Errorf("installed_can_run = %s", show(db.InstalledCanRun))
	}
	wantCheck(t, rep, "version", compat.StatusOK, "1.0.0 -> 1.1.0, minor upgrade")
	wantCheck(t, rep, "release", compat.StatusOK, "local file", "trusted")
	wantCheck(t, rep, "config", compat.StatusWarn, "service.api.runtime: runtime is deprecated", "tenement.toml:7")
	wantCheck(t, rep, "database", compat.StatusOK, "schema 2 -> 3", "expand", "overlap possible")
	wantCheck(t, rep, "api", compat.StatusOK, "same major")
	if rep.Candidate == nil || rep.Candidate.SHA256 != hashFile(t, opts.Binary) || rep.Candidate.Signed {
		t.Errorf("candidate = %+v, want the local file's sha256, unsigned", rep.Candidate)
	}
	if rep.Installed == nil || rep.Installed.Found != "binary_path" || rep.Installed.Version != "1.0.0" {
		t.Errorf("installed = %+v", rep.Installed)
	}
}

func TestCheckContractPreventsOverlap(t *testing.T) {
	rep, _ := checkUnchanged(t, "ten-1.2.0-contract")

	if rep.Verdict != VerdictSafe {
		dumpReport(t, rep)
		t.Fatalf("verdict %s, want safe (with a warning)", rep.Verdict)
	}
	if rep.OverlapPossible == nil || *rep.OverlapPossible {
		t.Errorf("overlap_possible = %s, want false", show(rep.OverlapPossible))
	}
	if rep.RollbackNeedsDBRestore == nil || !*rep.RollbackNeedsDBRestore {
		t.Errorf("rollback_needs_db_restore = %s, want true", show(rep.RollbackNeedsDBRestore))
	}
	db := rep.Database
	if db == nil {
		t.Fatal("no database report")
	}
	if db.To != 3 || db.Floor != 3 || db.InstalledCanRun == nil || *db.InstalledCanRun || db.InstalledError == "" {
		t.Errorf("database = %+v (installed_can_run %s)", db, show(db.InstalledCanRun))
	}
	wantCheck(t, rep, "database", compat.StatusWarn, "contract", "cannot run on it", "rollback needs the database backup restored")
}

func TestCheckVersionPolicyWithLocalBinaries(t *testing.T) {
	tests := []struct {
		name      string
		installed string
		candidate string
		allow     bool
		verdict   Verdict
		upToDate  bool
		line      []string // check, status, message part
		noDB      bool     // the database check must not run
	}{
		{name: "downgrade", installed: "ten-1.1.0-expand", candidate: "ten-1.0.0", verdict: VerdictUnsafe,
			line: []string{"version", "fail", "1.1.0 -> 1.0.0 is a downgrade; use ten-upgrade rollback"}, noDB: true},
		{name: "same version", installed: "ten-1.0.0", candidate: "ten-1.0.0", verdict: VerdictSafe, upToDate: true,
			line: []string{"version", "ok", "1.0.0 is already installed; nothing to do"}, noDB: true},
		{name: "major without --allow-major", installed: "ten-1.0.0", candidate: "ten-2.0.0", verdict: VerdictUnsafe,
			line: []string{"version", "fail", "1.0.0 -> 2.0.0 is a major upgrade", "--allow-major"}},
		{name: "major with --allow-major", installed: "ten-1.0.0", candidate: "ten-2.0.0", allow: true, verdict: VerdictSafe,
			line: []string{"version", "warn", "allowed by --allow-major"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newInstallation(t, tt.installed)
			before := in.snapshot(t)
			opts := in.options()
			opts.Binary = tenBinary(t, tt.candidate)
			opts.AllowMajor = tt.allow
			rep := Check(context.Background(), opts)
			if rep.Verdict != tt.verdict || rep.UpToDate != tt.upToDate {
				dumpReport(t, rep)
				t.Fatalf("verdict %s up_to_date %v, want %s %v", rep.Verdict, rep.UpToDate, tt.verdict, tt.upToDate)
			}
			wantCheck(t, rep, tt.line[0], compat.Status(tt.line[1]), tt.line[2:]...)
			if tt.noDB && (hasCheck(rep, "database") || rep.Database != nil) {
				t.Error("the database check ran after the version policy stopped the check")
			}
			if !tt.noDB && !hasCheck(rep, "database") {
				t.Error("the database check did not run")
			}
			assertUnchanged(t, before, in.snapshot(t))
		})
	}
}

// Archives of the real binaries, built once: compressing them is the
// slow part.
var (
	artifactMu sync.Mutex
	artifacts  = map[string]*rt.Asset{}
)

func artifact(t *testing.T, variant, version, changelog string) *rt.Asset {
	t.Helper()
	artifactMu.Lock()
	defer artifactMu.Unlock()
	if a, ok := artifacts[variant]; ok {
		return &rt.Asset{Name: a.Name, Data: a.Data}
	}
	data, err := os.ReadFile(tenBinary(t, variant))
	if err != nil {
		t.Fatal(err)
	}
	a := rt.Build{Version: version, Binary: data, Changelog: changelog, Stored: true}.Artifact(t)
	artifacts[variant] = a
	return &rt.Asset{Name: a.Name, Data: a.Data}
}

const changelog2 = `# Changelog

## [2.0.0] - 2026-06-01

### Breaking
- The API token file moved to {data_dir}/secrets/api_token.

### Added
- Something new.

## [1.1.0] - 2026-05-01

### Added
- Instance labels.

## [1.0.0] - 2026-04-01

### Removed
- Old things (before the installed version: not listed).
`

// publish adds a signed GoReleaser release of a real binary.
func publish(t *testing.T, srv *rt.Server, in *installation, tag, variant, version, changelog, notes string) *rt.Release {
	t.Helper()
	art := artifact(t, variant, version, changelog)
	sums := rt.Checksums(art)
	return srv.Add(&rt.Release{
		Tag: tag, Name: tag, Body: notes,
		Assets: []*rt.Asset{art, {Name: "checksums.txt", Data: sums}, {Name: "checksums.txt.minisig", Data: rt.Sign(in.priv, sums)}},
	})
}

func TestCheckGitHubRelease(t *testing.T) {
	tests := []struct {
		name    string
		to      string
		allow   bool
		mod     func(t *testing.T, in *installation, srv *rt.Server, opts *CheckOptions)
		verdict Verdict
		lines   [][]string // check, status, message parts
		ran     bool       // the candidate ran
	}{
		{name: "minor upgrade, notes from GitHub", to: "v1.1.0", verdict: VerdictSafe, ran: true,
			lines: [][]string{
				{"release", "ok", "v1.1.0 of tenement/ten"},
				{"signature", "ok", "checksums.txt signed by key"},
				{"checksum", "ok", "matches checksums.txt"},
				{"binary", "ok", "ten 1.1.0 runs"},
				{"database", "ok", "overlap possible"},
				{"changelog", "ok", "1 change(s) between 1.0.0 and 1.1.0 in release notes"},
			}},
		{name: "latest is the major release", to: "latest", verdict: VerdictUnsafe, ran: true,
			lines: [][]string{
				{"version", "fail", "1.0.0 -> 2.0.0 is a major upgrade"},
				{"changelog", "warn", "2.0.0 Breaking: The API token file moved"},
			}},
		{name: "major with --allow-major", to: "v2.0.0", allow: true, verdict: VerdictSafe, ran: true,
			lines: [][]string{
				{"version", "warn", "allowed by --allow-major"},
				{"changelog", "warn", "2.0.0 Breaking:"},
			}},
		{name: "pre-release only with --pre", to: "latest", verdict: VerdictUnsafe,
			mod:   func(t *testing.T, in *installation, srv *rt.Server, opts *CheckOptions) { opts.Pre = true },
			lines: [][]string{{"release", "ok", "v2.1.0-rc.1", "pre-release"}}},
		{name: "non-semver tag", to: "nightly", verdict: VerdictUndecided,
			lines: [][]string{{"release", "error", `--to "nightly" is not a release version`}}},
		{name: "unknown version", to: "v1.9.0", verdict: VerdictUndecided,
			lines: [][]string{{"release", "error", "release v1.9.0 not found in tenement/ten (404)"}}},
		{name: "rate limited", to: "latest", verdict: VerdictUndecided,
			mod:   func(t *testing.T, in *installation, srv *rt.Server, opts *CheckOptions) { srv.SetRateLimited(true) },
			lines: [][]string{{"release", "error", "rate limit exceeded", "GITHUB_TOKEN"}}},
		{name: "no pinned key", to: "v1.1.0", verdict: VerdictUndecided,
			mod: func(t *testing.T, in *installation, srv *rt.Server, opts *CheckOptions) {
				cfg, _ := os.ReadFile(in.config)
				cfg = bytes.Replace(cfg, []byte("public_key = "), []byte("# public_key = "), 1)
				if err := os.WriteFile(in.config, cfg, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			lines: [][]string{{"signature", "error", "without a pinned public key", "public_key"}}},
		{name: "tampered asset is never run", to: "v1.1.0", verdict: VerdictUnsafe,
			mod: func(t *testing.T, in *installation, srv *rt.Server, opts *CheckOptions) {
				rel := publishTampered(t, srv, in)
				opts.To = rel.Tag
			},
			lines: [][]string{{"checksum", "fail", "tampered"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newInstallation(t, "ten-1.0.0")
			srv := rt.NewServer(t, "tenement/ten")
			publish(t, srv, in, "v1.1.0", "ten-1.1.0-expand", "1.1.0", "", "## What's changed\n- Instance labels.\n")
			publish(t, srv, in, "v2.0.0", "ten-2.0.0", "2.0.0", changelog2, "see CHANGELOG.md")
			srv.Add(&rt.Release{Tag: "v2.1.0-rc.1", Prerelease: true}) // no assets: resolving is enough
			srv.Add(&rt.Release{Tag: "v3.0.0", Draft: true})
			srv.Add(&rt.Release{Tag: "nightly"})
			before := in.snapshot(t)

			opts := in.options()
			opts.To, opts.AllowMajor, opts.GitHubAPI = tt.to, tt.allow, srv.URL
			runner := &recordingRunner{next: compat.ExecRunner{}}
			opts.Runner = runner
			opts.TempDir = t.TempDir()
			if tt.mod != nil {
				tt.mod(t, in, srv, &opts)
				before = in.snapshot(t)
			}
			rep := Check(context.Background(), opts)

			if rep.Verdict != tt.verdict {
				dumpReport(t, rep)
				t.Fatalf("verdict %s, want %s", rep.Verdict, tt.verdict)
			}
			for _, l := range tt.lines {
				wantCheck(t, rep, l[0], compat.Status(l[1]), l[2:]...)
			}
			candidates := runner.ranOutside(filepath.Dir(in.installed))
			if tt.ran != (len(candidates) > 0) {
				t.Errorf("candidate ran: %v, want %v", candidates, tt.ran)
			}
			if srv.LeakedAuth() {
				t.Error("a token reached the download host")
			}
			assertUnchanged(t, before, in.snapshot(t))
			if left, _ := os.ReadDir(opts.TempDir); len(left) != 0 {
				t.Errorf("work directory left behind: %v", left)
			}
		})
	}
}

// publishTampered publishes v1.1.1 whose archive changed after signing.
func publishTampered(t *testing.T, srv *rt.Server, in *installation) *rt.Release {
	t.Helper()
	good := artifact(t, "ten-1.1.0-expand", "1.1.0", "")
	art := &rt.Asset{Name: strings.Replace(good.Name, "1.1.0", "1.1.1", 1), Data: good.Data}
	sums := rt.Checksums(art)
	art.Data = append(append([]byte(nil), good.Data...), 0)
	return srv.Add(&rt.Release{Tag: "v1.1.1", Assets: []*rt.Asset{art, {Name: "checksums.txt", Data: sums}, {Name: "checksums.txt.minisig", Data: rt.Sign(in.priv, sums)}}})
}

// TestCheckChangesNothing runs a full check of a GitHub release (download,
// verification, config check, database migration of a copy, changelog)
// and compares hashes of everything in the installation before and after.
func TestCheckChangesNothing(t *testing.T) {
	in := newInstallation(t, "ten-1.0.0")
	srv := rt.NewServer(t, "tenement/ten")
	publish(t, srv, in, "v1.2.0", "ten-1.2.0-contract", "1.2.0", "## [1.2.0]\n### Removed\n- column x\n", "")
	before := in.snapshot(t)

	opts := in.options()
	opts.To, opts.GitHubAPI = "latest", srv.URL
	opts.TempDir = t.TempDir()
	rep := Check(context.Background(), opts)
	if rep.Verdict != VerdictSafe || rep.Database == nil || rep.Database.To != 3 {
		dumpReport(t, rep)
		t.Fatalf("verdict %s, database %+v: the check did not go all the way", rep.Verdict, rep.Database)
	}
	wantCheck(t, rep, "changelog", compat.StatusWarn, "1.2.0 Removed: column x")
	assertUnchanged(t, before, in.snapshot(t))
	if left, _ := os.ReadDir(opts.TempDir); len(left) != 0 {
		t.Errorf("work directory left behind: %v", left)
	}

	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema", "verdict", "exit_code", "up_to_date", "overlap_possible", "rollback_needs_db_restore", "installed", "candidate", "config", "database", "changelog", "checks"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON report lacks %q", k)
		}
	}
	if doc["overlap_possible"] != false || doc["rollback_needs_db_restore"] != true {
		t.Errorf("overlap_possible %v, rollback_needs_db_restore %v", doc["overlap_possible"], doc["rollback_needs_db_restore"])
	}
}
