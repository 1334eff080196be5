package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"aead.dev/minisign"
	"github.com/google/go-github/v60/github"
	goversion "github.com/hashicorp/go-version"
)

// Latest asks for the newest release.
const Latest = "latest"

// GitHubOptions configure a GitHub release source.
type GitHubOptions struct {
	// Repo is "owner/name".
	Repo string
	// To is "latest" (or empty) or a version or tag ("1.2.3", "v1.2.3").
	To string
	// Pre lets "latest" pick pre-releases. Drafts are never picked.
	Pre bool
	// Token authenticates API calls (GITHUB_TOKEN), for rate limits and
	// private repositories. It is never sent to asset download hosts.
	Token string
	// APIURL is the API base of a GitHub Enterprise server (or a test
	// server); empty means api.github.com.
	APIURL string
	// HTTPClient makes API calls; DownloadClient follows GitHub's redirect
	// to the asset storage. nil means a default client for each.
	HTTPClient     *http.Client
	DownloadClient *http.Client
	// PublicKey is the pinned minisign key that must have signed
	// checksums.txt. Without it Fetch refuses to proceed.
	PublicKey *minisign.PublicKey
	// GOOS and GOARCH select the asset; empty means this machine.
	GOOS, GOARCH string
	// Binary is the executable Fetch takes out of the archive: ProjectName
	// ("ten", the default) for upgrades of the runtime, "ten-upgrade" when
	// the upgrader replaces itself. A bare-binary asset is only accepted
	// for ProjectName.
	Binary string
	// MaxSize caps the asset download (DefaultMaxSize when 0).
	MaxSize int64
	// Limits bound archive extraction (DefaultLimits when zero).
	Limits Limits
	// Progress receives a progress bar during the download; nil for none.
	Progress io.Writer
	Logger   *slog.Logger
}

// GitHub is a Source of GitHub releases.
type GitHub struct {
	opts   GitHubOptions
	owner  string
	name   string
	client *github.Client
	dl     *http.Client
	log    *slog.Logger
	listed []*github.RepositoryRelease
}

var _ Source = (*GitHub)(nil)
var _ NotesSource = (*GitHub)(nil)

// NewGitHub returns a source for the releases of opts.Repo.
func NewGitHub(opts GitHubOptions) (*GitHub, error) {
	owner, name, err := splitRepo(opts.Repo)
	if err != nil {
		return nil, err
	}
	if err := CheckTo(opts.To); err != nil {
		return nil, err
	}
	if opts.GOOS == "" {
		opts.GOOS = runtime.GOOS
	}
	if opts.GOARCH == "" {
		opts.GOARCH = runtime.GOARCH
	}
	if opts.Binary == "" {
		opts.Binary = ProjectName
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	client := github.NewClient(hc)
	if opts.Token != "" {
		client = client.WithAuthToken(opts.Token)
	}
	if opts.APIURL != "" {
		client, err = client.WithEnterpriseURLs(opts.APIURL, opts.APIURL)
		if err != nil {
			return nil, fmt.Errorf("--github-api %q: %w", opts.APIURL, err)
		}
	}
	dl := opts.DownloadClient
	if dl == nil {
		dl = defaultHTTPClient()
	}
	return &GitHub{opts: opts, owner: owner, name: name, client: client, dl: dl, log: opts.Logger}, nil
}

func defaultHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ForceAttemptHTTP2:     true,
	}}
}

// Resolve finds the release named by To, or the newest one.
func (g *GitHub) Resolve(ctx context.Context) (*Release, error) {
	to := strings.TrimSpace(g.opts.To)
	if to == "" || to == Latest {
		return g.latest(ctx)
	}
	rr, err := g.byTag(ctx, to)
	if err != nil {
		return nil, err
	}
	if rr.GetDraft() {
		return nil, broken(StepRelease, fmt.Errorf("release %s of %s is a draft; publish it first", rr.GetTagName(), g.opts.Repo))
	}
	rel := g.release(rr)
	g.log.Debug("resolved release", "repo", g.opts.Repo, "tag", rel.Tag)
	return rel, nil
}

// byTag fetches a release by its tag, trying "v1.2.3" and "1.2.3".
func (g *GitHub) byTag(ctx context.Context, to string) (*github.RepositoryRelease, error) {
	tags := []string{to}
	if alt, ok := strings.CutPrefix(to, "v"); ok && alt != "" {
		tags = append(tags, alt)
	} else if _, err := ParseVersion(to); err == nil {
		tags = []string{"v" + to, to}
	}
	var lastErr error
	for _, tag := range tags {
		// go-github puts the tag into the path as it is.
		rr, _, err := g.client.Repositories.GetReleaseByTag(ctx, g.owner, g.name, url.PathEscape(tag))
		if err == nil {
			return rr, nil
		}
		lastErr = err
		if !isNotFound(err) {
			break
		}
	}
	return nil, broken(StepRelease, g.apiError(lastErr, "release "+to))
}

// latest picks the highest semantic version among the published releases;
// pre-releases only with Pre. Tags that are not versions are skipped.
func (g *GitHub) latest(ctx context.Context) (*Release, error) {
	all, err := g.list(ctx)
	if err != nil {
		return nil, err
	}
	var best *github.RepositoryRelease
	var bestV *goversion.Version
	skipped := 0
	for _, rr := range all {
		if rr.GetDraft() {
			continue
		}
		v, err := ParseVersion(rr.GetTagName())
		if err != nil {
			skipped++
			continue
		}
		if !g.opts.Pre && (rr.GetPrerelease() || v.Prerelease() != "") {
			continue
		}
		if bestV == nil || v.GreaterThan(bestV) {
			best, bestV = rr, v
		}
	}
	if best == nil {
		what := "drafts and pre-releases skipped; --pre includes pre-releases"
		if g.opts.Pre {
			what = "drafts skipped"
		}
		if skipped > 0 {
			what += fmt.Sprintf("; %d tag(s) are not semantic versions", skipped)
		}
		return nil, broken(StepRelease, fmt.Errorf("%s has no published release (%s)", g.opts.Repo, what))
	}
	rel := g.release(best)
	g.log.Debug("resolved latest release", "repo", g.opts.Repo, "tag", rel.Tag, "pre", g.opts.Pre)
	return rel, nil
}

// list fetches every release of the repository once (newest first, as
// the API returns them).
func (g *GitHub) list(ctx context.Context) ([]*github.RepositoryRelease, error) {
	if g.listed != nil {
		return g.listed, nil
	}
	opt := &github.ListOptions{PerPage: 100}
	var all []*github.RepositoryRelease
	for page := 0; page < 10; page++ {
		rrs, resp, err := g.client.Repositories.ListReleases(ctx, g.owner, g.name, opt)
		if err != nil {
			return nil, broken(StepRelease, g.apiError(err, "releases"))
		}
		all = append(all, rrs...)
		if resp == nil || resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	g.listed = all
	return all, nil
}

func (g *GitHub) release(rr *github.RepositoryRelease) *Release {
	v := CanonicalVersion(rr.GetTagName())
	rel := &Release{
		Source:     "github",
		Repo:       g.opts.Repo,
		Tag:        rr.GetTagName(),
		Version:    v,
		Name:       rr.GetName(),
		Notes:      rr.GetBody(),
		Prerelease: rr.GetPrerelease(),
		URL:        rr.GetHTMLURL(),
	}
	if pv, err := ParseVersion(v); err == nil && pv.Prerelease() != "" {
		rel.Prerelease = true
	}
	for _, a := range rr.Assets {
		rel.Assets = append(rel.Assets, Asset{ID: a.GetID(), Name: a.GetName(), Size: int64(a.GetSize()), URL: a.GetBrowserDownloadURL()})
	}
	return rel
}

// NotesBetween returns the notes of the published releases with
// after < version <= upTo, oldest first. Pre-releases count only with Pre,
// or when one is upTo itself.
func (g *GitHub) NotesBetween(ctx context.Context, after, upTo *goversion.Version) ([]Notes, error) {
	all, err := g.list(ctx)
	if err != nil {
		return nil, err
	}
	type entry struct {
		v *goversion.Version
		n Notes
	}
	var picked []entry
	for _, rr := range all {
		if rr.GetDraft() {
			continue
		}
		v, err := ParseVersion(rr.GetTagName())
		if err != nil || !v.GreaterThan(after) || v.GreaterThan(upTo) {
			continue
		}
		if (rr.GetPrerelease() || v.Prerelease() != "") && !g.opts.Pre && !v.Equal(upTo) {
			continue
		}
		picked = append(picked, entry{v, Notes{Version: v.String(), Body: rr.GetBody()}})
	}
	sort.Slice(picked, func(i, j int) bool { return picked[i].v.LessThan(picked[j].v) })
	out := make([]Notes, len(picked))
	for i, e := range picked {
		out[i] = e.n
	}
	return out, nil
}

// Fetch downloads the asset for this platform, verifies it against the
// signed checksums and unpacks the binary named by Binary into dir.
func (g *GitHub) Fetch(ctx context.Context, rel *Release, dir string) (*Candidate, error) {
	c := &Candidate{Release: *rel}
	if g.opts.PublicKey == nil {
		return c, MissingKeyError(g.opts.Repo)
	}
	key := *g.opts.PublicKey

	// Assets are saved under their names: every name is checked before
	// anything is created.
	if err := CheckAssetNames(rel.Assets); err != nil {
		return c, fail(StepAsset, "%s: %w", rel.Tag, err)
	}
	asset, err := SelectAsset(rel.Assets, rel.Version, g.opts.GOOS, g.opts.GOARCH)
	if err != nil {
		return c, fail(StepAsset, "%s: %w", rel.Tag, err)
	}
	c.Asset = asset.Name
	c.step(StepAsset, "%s (%s) for %s/%s", asset.Name, size(asset.Size), g.opts.GOOS, g.opts.GOARCH)

	sumsAsset, ok := ChecksumsAsset(rel.Assets)
	if !ok {
		return c, fail(StepSignature, "release %s has no checksums.txt, so it cannot be verified; publish GoReleaser's checksums and sign them with minisign", rel.Tag)
	}
	sigAsset, ok := FindAsset(rel.Assets, sumsAsset.Name+".minisig")
	if !ok {
		return c, fail(StepSignature, "release %s has no %s.minisig signature, so it cannot be verified; sign %s with minisign and attach the signature", rel.Tag, sumsAsset.Name, sumsAsset.Name)
	}
	sums, err := g.fetchSmall(ctx, sumsAsset, dir)
	if err != nil {
		return c, err
	}
	sig, err := g.fetchSmall(ctx, sigAsset, dir)
	if err != nil {
		return c, err
	}
	if err := VerifySignature(key, sums, sig); err != nil {
		return c, fail(StepSignature, "%s: %w", sumsAsset.Name, err)
	}
	c.KeyID = KeyID(key.ID())
	c.step(StepSignature, "%s signed by key %s (%s)", sumsAsset.Name, c.KeyID, abbrevKey(key))

	list, err := ParseChecksums(sums)
	if err != nil {
		return c, fail(StepChecksum, "%s: %w", sumsAsset.Name, err)
	}
	if _, ok := list[asset.Name]; !ok {
		return c, fail(StepChecksum, "%s does not list %s", sumsAsset.Name, asset.Name)
	}

	c.File = filepath.Join(dir, asset.Name)
	sum, n, err := g.download(ctx, asset, dir, g.opts.MaxSize, g.opts.Progress)
	if err != nil {
		return c, broken(StepDownload, err)
	}
	c.SHA256 = sum
	c.step(StepDownload, "%s, %s", asset.Name, size(n))

	if err := list.Verify(asset.Name, sum); err != nil {
		return c, fail(StepChecksum, "%w", err)
	}
	c.Signed = true
	c.step(StepChecksum, "sha256 %s matches %s", sum, sumsAsset.Name)

	if err := prepareBinary(c, c.File, dir, g.opts.Binary, g.opts.GOOS, g.opts.GOARCH, g.opts.Limits); err != nil {
		return c, err
	}
	return c, nil
}

// MissingKeyError is the refusal of a release of repo for want of a pinned
// public key. Fetch returns it; self-update returns it before it even asks
// GitHub, since it could not install what it found anyway.
func MissingKeyError(repo string) *Error {
	return broken(StepSignature, fmt.Errorf(
		"refusing to install a release of %s without a pinned public key: add public_key = \"RW...\" under [upgrade] in tenement.toml, or pass --public-key KEY|FILE, with the minisign key the project publishes (releases are verified against it; there is no way to skip this)",
		repo))
}

// fetchSmall downloads a checksum or signature file and returns it.
func (g *GitHub) fetchSmall(ctx context.Context, a Asset, dir string) ([]byte, error) {
	if _, _, err := g.download(ctx, a, dir, smallFileMax, nil); err != nil {
		return nil, broken(StepDownload, err)
	}
	return os.ReadFile(filepath.Join(dir, a.Name))
}

// download streams one asset into dir through the API, which redirects to
// the storage host; the redirect is followed without the API token.
func (g *GitHub) download(ctx context.Context, a Asset, dir string, max int64, progress io.Writer) (string, int64, error) {
	g.log.Debug("downloading asset", "asset", a.Name, "size", a.Size)
	rc, _, err := g.client.Repositories.DownloadReleaseAsset(ctx, g.owner, g.name, a.ID, g.dl)
	if err != nil {
		return "", 0, g.apiError(err, "asset "+a.Name)
	}
	defer rc.Close()
	return saveStream(rc, dir, a.Name, a.Name, a.Size, max, progress)
}

func abbrevKey(k minisign.PublicKey) string {
	s := k.String()
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

func isNotFound(err error) bool {
	var er *github.ErrorResponse
	return errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusNotFound
}

// apiError turns a go-github or transport error into one line that says
// what went wrong and what to do about it.
func (g *GitHub) apiError(err error, what string) error {
	if err == nil {
		return nil
	}
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	var er *github.ErrorResponse
	var ue *url.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s of %s: %w", what, g.opts.Repo, err)
	case errors.As(err, &rl):
		hint := "set GITHUB_TOKEN to a token to raise the limit"
		if g.opts.Token != "" {
			hint = "wait for the reset or use another token"
		}
		return fmt.Errorf("GitHub API rate limit exceeded (%d requests/hour, resets at %s): %s, or use --binary FILE",
			rl.Rate.Limit, rl.Rate.Reset.UTC().Format("15:04 MST"), hint)
	case errors.As(err, &abuse):
		wait := "a minute"
		if abuse.RetryAfter != nil {
			wait = abuse.RetryAfter.String()
		}
		return fmt.Errorf("GitHub secondary rate limit hit: wait %s and try again", wait)
	case errors.As(err, &er) && er.Response != nil:
		switch code := er.Response.StatusCode; code {
		case http.StatusNotFound:
			hint := "check --to and --repo"
			if g.opts.Token == "" {
				hint += "; a private repository needs GITHUB_TOKEN"
			}
			return fmt.Errorf("%s not found in %s (404): %s", what, g.opts.Repo, hint)
		case http.StatusUnauthorized:
			return fmt.Errorf("GitHub rejected GITHUB_TOKEN (401 %s): renew the token or unset it for public repositories", er.Message)
		case http.StatusForbidden:
			return fmt.Errorf("GitHub refused access to %s of %s (403 %s): check the permissions of GITHUB_TOKEN", what, g.opts.Repo, er.Message)
		default:
			return fmt.Errorf("GitHub answered %d %s for %s of %s: try again later", code, er.Message, what, g.opts.Repo)
		}
	case errors.As(err, &ue):
		host := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = u.Scheme + "://" + u.Host
		}
		return fmt.Errorf("cannot reach %s (%v): check the network and HTTPS_PROXY, pass --github-api for GitHub Enterprise, or use --binary FILE on servers without internet access", host, ue.Err)
	}
	return fmt.Errorf("%s of %s: %w", what, g.opts.Repo, err)
}
