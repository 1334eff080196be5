// Package orchestrator drives ten upgrades: the pre-flight check, the
// upgrade state machine, its journal and rollback.
package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"aead.dev/minisign"

	"github.com/tenement/ten/compat"
	"github.com/tenement/ten/internal/fsutil"
	"github.com/tenement/ten/orchestrator/release"
	"github.com/tenement/ten/runtime/config"
	"github.com/tenement/ten/runtime/store"
)

// Check names used by Check in addition to the release steps and the
// compat checks.
const (
	NameInstalled = "installed"
	NameSetup     = "setup"
)

// CheckOptions configure Check. The installation is found the way ten finds
// it; the candidate is a local file (Binary) or a GitHub release (Repo, To).
type CheckOptions struct {
	// Config is --config; else TENEMENT_CONFIG; else tenement.toml in the
	// working directory or a parent.
	Config string
	// DataDir is --data-dir; else TENEMENT_DATA_DIR; else [settings]
	// data_dir.
	DataDir string
	// DB is the database file to check; default {data_dir}/tenement.db.
	DB string
	// Installed is the installed binary; else [upgrade] binary_path; else
	// ten on PATH.
	Installed string

	// Binary is a local candidate: a ten binary or a release archive.
	Binary string
	// Repo is the GitHub owner/name; else [upgrade] repo.
	Repo string
	// To is "latest" (default) or a version; Pre lets latest pick
	// pre-releases.
	To  string
	Pre bool
	// Token is GITHUB_TOKEN; GitHubAPI the API URL of GitHub Enterprise.
	Token     string
	GitHubAPI string
	// PublicKey is the pinned minisign key (text or file); else [upgrade]
	// public_key.
	PublicKey string
	// MaxSize caps the download and unpacked files (0: the default).
	MaxSize int64

	// AllowMajor permits a major version or API bump; Strict fails on
	// config warnings.
	AllowMajor bool
	Strict     bool

	// Getenv, Cwd and LookPath default to the process's own.
	Getenv   func(string) string
	Cwd      string
	LookPath func(string) (string, error)
	// HTTPClient and DownloadClient talk to the GitHub API and to the
	// asset storage it redirects to.
	HTTPClient     *http.Client
	DownloadClient *http.Client
	// Runner runs the installed and the candidate binaries.
	Runner compat.Runner
	// Progress gets a download progress bar; nil for none.
	Progress io.Writer
	Logger   *slog.Logger
	// GOOS and GOARCH are the platform the candidate must be built for.
	GOOS, GOARCH string
	// TempDir is where the private work directory is made (default: the
	// system's); it is removed before Check returns.
	TempDir string
	// KeepCandidate, if set, is a directory the verified candidate binary
	// is copied into before the work directory goes (`ten-upgrade run`
	// installs that copy); the report's candidate.kept names it.
	KeepCandidate string
}

// Check answers "is this candidate safe to roll out onto this server's
// config and database?" without side effects: releases are downloaded
// into a private temporary directory, and the production config and
// database are only read (the database through an online backup). Problems
// are reported as check lines, never as a Go error.
func Check(ctx context.Context, opts CheckOptions) *CheckReport {
	c := newChecker(opts)
	c.run(ctx)
	c.rep.finish()
	return c.rep
}

type checker struct {
	opts CheckOptions
	log  *slog.Logger
	rep  *CheckReport
	work string

	configPath string
	cfg        *config.Config
	installed  *compat.Binary
	instInfo   *compat.VersionInfo
	decision   *compat.VersionDecision
}

func newChecker(opts CheckOptions) *checker {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.LookPath == nil {
		opts.LookPath = exec.LookPath
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Runner == nil {
		opts.Runner = compat.ExecRunner{Logger: opts.Logger}
	}
	if opts.GOOS == "" {
		opts.GOOS = runtime.GOOS
	}
	if opts.GOARCH == "" {
		opts.GOARCH = runtime.GOARCH
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = release.DefaultMaxSize
	}
	return &checker{
		opts: opts,
		log:  opts.Logger,
		rep:  &CheckReport{Schema: CheckSchema, Checks: []compat.Result{}},
	}
}

func (c *checker) run(ctx context.Context) {
	work, err := os.MkdirTemp(c.opts.TempDir, "ten-upgrade-check-")
	if err != nil {
		c.rep.add(compat.Error(NameSetup, fmt.Sprintf("create a work directory: %v", err)))
		return
	}
	defer func() {
		if err := os.RemoveAll(work); err != nil {
			c.log.Warn("could not remove the work directory", "dir", work, "err", err)
		}
	}()
	c.work = work
	c.log.Debug("checking candidate", "work", work)

	c.findInstallation(ctx)

	src := c.source()
	if src == nil {
		return
	}
	rel, err := src.Resolve(ctx)
	if err != nil {
		c.releaseError(err, release.StepRelease)
		return
	}
	c.rep.Candidate = &CandidateInfo{
		Source: rel.Source, Repo: rel.Repo, Tag: rel.Tag, Version: rel.Version,
		Prerelease: rel.Prerelease, URL: rel.URL, Path: rel.Path,
	}
	remote := rel.Source != "file"
	if remote {
		c.rep.add(compat.OK(release.StepRelease, describeRelease(rel)))
		// The tag decides the version before anything is downloaded.
		if !c.decideVersion(rel.Tag) {
			return
		}
	}

	candDir := filepath.Join(work, "candidate")
	if err := os.Mkdir(candDir, 0o700); err != nil {
		c.rep.add(compat.Error(NameSetup, err.Error()))
		return
	}
	cand, err := src.Fetch(ctx, rel, candDir)
	if cand != nil {
		for _, s := range cand.Steps {
			c.rep.add(compat.OK(s.Name, s.Detail))
		}
		ci := c.rep.Candidate
		ci.Asset, ci.SHA256, ci.Signed, ci.KeyID = cand.Asset, cand.SHA256, cand.Signed, cand.KeyID
	}
	if err != nil {
		c.releaseError(err, release.StepDownload)
		return
	}

	// Only now, verified, may the candidate run.
	bin := &compat.Binary{Path: cand.Binary, Runner: c.opts.Runner, Dir: work}
	info, ok := c.probeCandidate(ctx, bin, rel)
	if !ok {
		return
	}
	if !remote && !c.decideVersion(info.Version) {
		return
	}
	c.keepCandidate(cand.Binary, info.Version)
	var instAPI string
	if c.instInfo != nil {
		instAPI = c.instInfo.APIVersion
	}
	if c.installed != nil {
		c.rep.add(compat.CheckAPIVersion(instAPI, info.APIVersion, c.opts.AllowMajor))
	}
	c.checkConfig(ctx, bin)
	c.checkDatabase(ctx, bin)
	c.checkChangelog(ctx, src, cand)
}

// keepCandidate copies the verified candidate binary out of the work
// directory when the caller asked for it.
func (c *checker) keepCandidate(bin, version string) {
	if c.opts.KeepCandidate == "" {
		return
	}
	fail := func(err error) { c.rep.add(compat.Error(NameSetup, fmt.Sprintf("keep the candidate: %v", err))) }
	if err := os.MkdirAll(c.opts.KeepCandidate, 0o700); err != nil {
		fail(err)
		return
	}
	// The copy is named for its content, known once it is copied.
	tmp := filepath.Join(c.opts.KeepCandidate, fmt.Sprintf(".ten-%s.copying", version))
	sum, err := fsutil.CopyFile(bin, tmp, 0o755)
	if err != nil {
		fail(err)
		return
	}
	dst := filepath.Join(c.opts.KeepCandidate, fmt.Sprintf("ten-%s-%s", version, sum[:12]))
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		fail(err)
		return
	}
	if err := fsutil.SyncDir(c.opts.KeepCandidate); err != nil {
		fail(err)
		return
	}
	c.rep.Candidate.Kept, c.rep.Candidate.KeptSHA256 = dst, sum
}

// findInstallation locates the config and the installed binary, the way
// ten and the other ten-upgrade commands do.
func (c *checker) findInstallation(ctx context.Context) {
	path, err := config.Discover(c.opts.Config, c.opts.Getenv, c.opts.Cwd)
	switch {
	case errors.Is(err, config.ErrNotFound):
		c.rep.add(compat.Error(compat.NameConfig, "no tenement.toml found in the working directory or its parents: pass --config FILE or set TENEMENT_CONFIG"))
	case err != nil:
		c.rep.add(compat.Error(compat.NameConfig, err.Error()))
	default:
		c.configPath = path
		cfg, _, err := config.Load(path)
		if err != nil {
			// The candidate reports the details; without settings the
			// data dir must come from the flags.
			c.log.Warn("cannot read the config's settings", "config", path, "err", err)
		} else {
			c.cfg = cfg
			cfg.OverrideDataDir(c.opts.DataDir, c.opts.Getenv)
			// ten stores [upgrade] strategy without knowing its values:
			// they are ten-upgrade's to check.
			if err := configStrategyError(cfg); err != nil {
				c.rep.add(compat.Fail(compat.NameConfig, err.Error()))
			}
		}
	}

	p, foundBy := c.opts.Installed, "--installed"
	if p == "" && c.cfg != nil && c.cfg.Upgrade.BinaryPath != "" {
		p, foundBy = c.cfg.Upgrade.BinaryPath, "binary_path"
	}
	if p == "" {
		if lp, err := c.opts.LookPath("ten"); err == nil {
			p, foundBy = lp, "PATH"
		}
	}
	if p == "" {
		c.rep.add(compat.Error(NameInstalled, "no installed ten found: pass --installed PATH, set binary_path under [upgrade], or put ten on PATH"))
		return
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	bin := &compat.Binary{Path: p, Runner: c.opts.Runner, Dir: c.work}
	v, err := bin.Version(ctx)
	if err != nil {
		c.rep.add(compat.Error(NameInstalled, fmt.Sprintf("installed binary (from %s): %v", foundBy, err)))
		return
	}
	c.installed = bin
	inst := &InstalledInfo{Path: p, Found: foundBy, Version: v}
	if sum, err := release.FileSHA256(p); err == nil {
		inst.SHA256 = sum
	}
	detail := ""
	if info, err := bin.Info(ctx); err != nil {
		c.log.Warn("installed binary does not answer version --json; treating it as a binary without the upgrade contract", "path", p, "err", err)
		detail = "; no version --json (older than the upgrade contract)"
	} else {
		c.instInfo = &info
		inst.Info = &info
		detail = fmt.Sprintf(", api %s, schema %d", info.APIVersion, info.SchemaVersion)
	}
	c.rep.Installed = inst
	c.rep.add(compat.OK(NameInstalled, fmt.Sprintf("ten %s at %s (found by %s%s)", v, p, foundBy, detail)))
}

// source builds the candidate source from the flags and [upgrade].
func (c *checker) source() release.Source {
	lim := release.Limits{MaxFile: c.opts.MaxSize, MaxTotal: c.opts.MaxSize, MaxFiles: release.DefaultLimits().MaxFiles}
	if c.opts.Binary != "" {
		return release.NewLocal(release.LocalOptions{
			Path: c.opts.Binary, GOOS: c.opts.GOOS, GOARCH: c.opts.GOARCH,
			MaxSize: c.opts.MaxSize, Limits: lim,
		})
	}
	repo, keyText := c.opts.Repo, c.opts.PublicKey
	if c.cfg != nil {
		if repo == "" {
			repo = c.cfg.Upgrade.Repo
		}
		if keyText == "" {
			keyText = c.cfg.Upgrade.PublicKey
		}
	}
	if repo == "" {
		c.rep.add(compat.Error(release.StepRelease, "no candidate: pass --binary FILE, or --repo owner/name (or set repo under [upgrade]) with --to VERSION|latest"))
		return nil
	}
	var key *minisign.PublicKey
	if keyText != "" {
		k, err := release.ParsePublicKey(keyText)
		if err != nil {
			c.rep.add(compat.Error(release.StepSignature, fmt.Sprintf("pinned public key: %v", err)))
			return nil
		}
		key = &k
	}
	gh, err := release.NewGitHub(release.GitHubOptions{
		Repo: repo, To: c.opts.To, Pre: c.opts.Pre, Token: c.opts.Token, APIURL: c.opts.GitHubAPI,
		HTTPClient: c.opts.HTTPClient, DownloadClient: c.opts.DownloadClient,
		PublicKey: key, GOOS: c.opts.GOOS, GOARCH: c.opts.GOARCH,
		MaxSize: c.opts.MaxSize, Limits: lim, Progress: c.opts.Progress, Logger: c.log,
	})
	if err != nil {
		c.rep.add(compat.Error(release.StepRelease, err.Error()))
		return nil
	}
	return gh
}

// releaseError reports a failed release step: a verification failure is a
// fail, anything that prevented the step (network, setup) an error.
func (c *checker) releaseError(err error, step string) {
	var re *release.Error
	if errors.As(err, &re) {
		if re.Unsafe {
			c.rep.add(compat.Fail(re.Step, re.Error()))
		} else {
			c.rep.add(compat.Error(re.Step, re.Error()))
		}
		return
	}
	c.rep.add(compat.Error(step, err.Error()))
}

// decideVersion applies the version policy and reports whether the other
// checks should go on: not after a downgrade or a no-op, nor without a
// version to compare.
func (c *checker) decideVersion(candidate string) bool {
	if c.rep.Installed == nil {
		c.rep.add(compat.Error(compat.NameVersion, "cannot apply the version policy without the installed version"))
		return true
	}
	d, err := compat.DecideVersion(c.rep.Installed.Version, candidate, c.opts.AllowMajor)
	if err != nil {
		c.rep.add(compat.Error(compat.NameVersion, err.Error()))
		return false
	}
	c.decision = &d
	c.rep.add(d.Result)
	switch d.Change {
	case compat.ChangeSame:
		c.rep.UpToDate = true
		return false
	case compat.ChangeDowngrade:
		return false
	}
	return true
}

// probeCandidate asks the verified candidate who it is. A binary that
// cannot answer is not safe to install.
func (c *checker) probeCandidate(ctx context.Context, bin *compat.Binary, rel *release.Release) (compat.VersionInfo, bool) {
	v, err := bin.Version(ctx)
	if err != nil {
		c.rep.add(compat.Fail(release.StepBinary, fmt.Sprintf("the candidate does not run: %v", err)))
		return compat.VersionInfo{}, false
	}
	if rel.Source != "file" && release.CanonicalVersion(v) != rel.Version {
		c.rep.add(compat.Fail(release.StepBinary, fmt.Sprintf("release %s contains ten %s: the tag and the binary disagree", rel.Tag, v)))
		return compat.VersionInfo{}, false
	}
	info, err := bin.Info(ctx)
	if err != nil {
		c.rep.add(compat.Fail(release.StepBinary, fmt.Sprintf("the candidate does not answer version --json: %v", err)))
		return compat.VersionInfo{}, false
	}
	if info.Version != v {
		c.rep.add(compat.Fail(release.StepBinary, fmt.Sprintf("the candidate says %s with --version and %s with version --json", v, info.Version)))
		return compat.VersionInfo{}, false
	}
	c.rep.Candidate.Version = v
	c.rep.Candidate.Info = &info
	c.rep.add(compat.OK(release.StepBinary, fmt.Sprintf("ten %s runs (commit %s, %s, api %s, schema %d, compat floor %d)",
		v, info.Commit, info.GoVersion, info.APIVersion, info.SchemaVersion, info.CompatFloor)))
	return info, true
}

func (c *checker) checkConfig(ctx context.Context, bin *compat.Binary) {
	if c.configPath == "" {
		return // already reported by findInstallation
	}
	rep, err := bin.CheckConfig(ctx, c.configPath, c.opts.DataDir)
	if err != nil {
		c.rep.add(compat.Error(compat.NameConfig, err.Error()))
		return
	}
	info := &ConfigInfo{File: c.configPath, OK: rep.OK, Errors: rep.Errors, Warnings: rep.Warnings}
	if c.cfg != nil {
		info.DataDir = c.cfg.Settings.DataDir
	}
	if info.Errors == nil {
		info.Errors = []compat.Diagnostic{}
	}
	if info.Warnings == nil {
		info.Warnings = []compat.Diagnostic{}
	}
	c.rep.Config = info
	c.rep.add(compat.EvaluateConfig(rep, c.opts.Strict)...)
}

func (c *checker) checkDatabase(ctx context.Context, bin *compat.Binary) {
	path := c.opts.DB
	switch {
	case path != "":
	case c.cfg != nil:
		path = filepath.Join(c.cfg.Settings.DataDir, store.FileName)
	case c.opts.DataDir != "":
		path = filepath.Join(c.opts.DataDir, store.FileName)
	case c.opts.Getenv(config.EnvDataDir) != "":
		path = filepath.Join(c.opts.Getenv(config.EnvDataDir), store.FileName)
	default:
		c.rep.add(compat.Error(compat.NameDatabase, "cannot locate the database without a readable config: pass --db FILE or --data-dir DIR"))
		return
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	dir := filepath.Join(c.work, "db")
	if err := os.Mkdir(dir, 0o700); err != nil {
		c.rep.add(compat.Error(NameSetup, err.Error()))
		return
	}
	rep, res := compat.CheckDatabase(ctx, compat.DatabaseOptions{
		Path: path, WorkDir: dir, Candidate: bin, Installed: c.installed,
		InstalledInfo: c.instInfo, Logger: c.log,
	})
	c.rep.Database = &rep
	c.rep.add(res)
	if res.Status == compat.StatusOK || res.Status == compat.StatusWarn {
		c.rep.OverlapPossible = &rep.OverlapPossible
		c.rep.RollbackNeedsDBRestore = &rep.RollbackNeedsRestore
	}
}

// checkChangelog lists the changes between the installed and the candidate
// version: from CHANGELOG.md in the archive when it covers the candidate,
// else from the release notes on GitHub.
func (c *checker) checkChangelog(ctx context.Context, src release.Source, cand *release.Candidate) {
	if c.decision == nil {
		return
	}
	from, to := c.decision.From, c.decision.To
	info := &ChangelogInfo{From: from.String(), To: to.String(), Entries: []compat.ChangeEntry{}}
	c.rep.Changelog = info
	if cand.Changelog != "" {
		if entries, found := compat.ChangelogBetween(cand.Changelog, from, to); found {
			info.Source, info.Entries = "CHANGELOG.md", entries
			c.rep.add(compat.EvaluateChangelog(entries, info.Source, info.From, info.To)...)
			return
		}
	}
	ns, ok := src.(release.NotesSource)
	if !ok {
		if cand.Changelog != "" {
			c.rep.add(compat.Warn(compat.NameChangelog, fmt.Sprintf("the archive's CHANGELOG.md has no section for %s: review the changes by hand", to)))
		} else {
			c.rep.add(compat.OK(compat.NameChangelog, "no release notes: a local binary carries none"))
		}
		return
	}
	notes, err := ns.NotesBetween(ctx, from, to)
	if err != nil {
		c.rep.add(compat.Warn(compat.NameChangelog, fmt.Sprintf("release notes unavailable: %v", err)))
		return
	}
	rn := make([]compat.ReleaseNotes, len(notes))
	for i, n := range notes {
		rn[i] = compat.ReleaseNotes{Version: n.Version, Body: n.Body}
	}
	info.Source = "release notes"
	info.Entries = compat.NotesEntries(rn)
	if info.Entries == nil {
		info.Entries = []compat.ChangeEntry{}
	}
	c.rep.add(compat.EvaluateChangelog(info.Entries, info.Source, info.From, info.To)...)
}

func describeRelease(rel *release.Release) string {
	s := fmt.Sprintf("%s of %s", rel.Tag, rel.Repo)
	if rel.Name != "" && rel.Name != rel.Tag {
		s += fmt.Sprintf(" (%q)", rel.Name)
	}
	if rel.Prerelease {
		s += ", pre-release"
	}
	return s
}
