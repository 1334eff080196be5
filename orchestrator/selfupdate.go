package orchestrator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"aead.dev/minisign"
	"github.com/minio/selfupdate"

	"github.com/tenement/ten/orchestrator/lockfile"
	"github.com/tenement/ten/orchestrator/release"
	"github.com/tenement/ten/runtime/config"
)

// upgraderName is ten-upgrade's file name in a release archive.
const upgraderName = "ten-upgrade"

// SelfUpdateOptions say where the new ten-upgrade comes from and how it
// is verified. It comes from a GitHub release (the default) or from a bare
// binary (Binary or URL); both ways fail closed.
type SelfUpdateOptions struct {
	// A release: To is "latest" (the default) or a version or tag, Repo
	// its GitHub owner/name (else [upgrade] repo), Pre lets latest pick
	// pre-releases, Token is GITHUB_TOKEN and GitHubAPI the API URL of
	// GitHub Enterprise. The archive is verified as check and run verify
	// ten's (checksums.txt signed by the pinned key, then the archive's
	// SHA-256) and ten-upgrade is taken out of it.
	To        string
	Repo      string
	Pre       bool
	Token     string
	GitHubAPI string

	// A bare binary: Binary is a local file, or URL a download, of the new
	// ten-upgrade. Both checks are mandatory: SHA256, the expected
	// checksum (hex), and Signature, the minisign signature of the binary
	// by the pinned key: a file, or a URL (default: URL + ".minisig").
	Binary    string
	URL       string
	SHA256    string
	Signature string

	// PublicKey is the pinned minisign key (text or file); else [upgrade]
	// public_key.
	PublicKey string
	// Config is --config, the tenement.toml whose [upgrade] gives Repo and
	// PublicKey when they are not set; else TENEMENT_CONFIG, else
	// tenement.toml in the working directory or a parent. None is fine.
	Config string
	// Target is the ten-upgrade to replace (default: this executable).
	Target string
	// MaxSize caps the download (default release.DefaultMaxSize).
	MaxSize int64
	// HTTPClient makes the downloads and the GitHub API calls; nil means a
	// default client.
	HTTPClient *http.Client
	// Progress gets a download progress bar for a release; nil for none.
	Progress io.Writer
	Logger   *slog.Logger
}

// SelfUpdateReport says what self-update did.
type SelfUpdateReport struct {
	Target string `json:"target"`
	From   string `json:"from"`
	To     string `json:"to"`
	// UpToDate: the release is the installed version; nothing changed.
	UpToDate bool `json:"up_to_date"`
	// SHA256 is the new binary's; KeyID the key that signed it (a bare
	// binary) or the release's checksums.txt.
	SHA256 string `json:"sha256"`
	KeyID  string `json:"key_id"`
	Backup string `json:"backup"`
	// Repo, Tag, Asset and AssetSHA256 say which release archive the new
	// binary came from.
	Repo        string `json:"repo,omitempty"`
	Tag         string `json:"tag,omitempty"`
	Asset       string `json:"asset,omitempty"`
	AssetSHA256 string `json:"asset_sha256,omitempty"`
}

// SelfUpdate replaces ten-upgrade with a verified new binary, through
// minio/selfupdate: the new file is written beside the target and renamed
// over it, the previous binary kept as {target}.old. The new binary must
// pass its checks before it is even run (see SelfUpdateOptions), and must
// then answer --version as ten-upgrade before it is installed. Nothing is
// written beside the target until every check has passed.
func SelfUpdate(ctx context.Context, opts SelfUpdateOptions) (*SelfUpdateReport, error) {
	fromRelease, err := opts.wantsRelease()
	if err != nil {
		return nil, err
	}
	if err := opts.fromConfig(fromRelease); err != nil {
		return nil, err
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = release.DefaultMaxSize
	}
	target := opts.Target
	if target == "" {
		if target, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	if real, err := filepath.EvalSymlinks(target); err == nil {
		target = real
	}
	// Two self-updates of one binary would both rename over it and keep
	// each other's binary as the backup.
	unlock, err := lockfile.Acquire(binaryLockPath(target), "ten-upgrade at "+target)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if fromRelease {
		return selfUpdateFromRelease(ctx, opts, target)
	}
	return selfUpdateFromBinary(ctx, opts, target)
}

// wantsRelease tells the two ways apart; options of both is a mistake
// that must not be settled by picking one.
func (o *SelfUpdateOptions) wantsRelease() (bool, error) {
	bare := o.Binary != "" || o.URL != "" || o.SHA256 != "" || o.Signature != ""
	rel := o.To != "" || o.Repo != "" || o.Pre || o.GitHubAPI != ""
	switch {
	case bare && rel:
		return false, errors.New("self-update takes the new ten-upgrade either from a release (--to, --repo, --pre, --github-api) or from a bare binary (--binary or --url, with --sha256 and --signature), not both: drop the options of one")
	case o.Binary != "" && o.URL != "":
		return false, errors.New("--binary and --url both name the new ten-upgrade: give one")
	}
	return !bare, nil
}

// fromConfig takes the key, and for a release the repository, from
// [upgrade] when they are not given. Without a config there is nothing to
// take; what is then missing is reported by the caller.
func (o *SelfUpdateOptions) fromConfig(fromRelease bool) error {
	if o.PublicKey != "" && (o.Repo != "" || !fromRelease) {
		return nil
	}
	path, err := config.Discover(o.Config, nil, "")
	switch {
	case errors.Is(err, config.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("reading [upgrade]: %w", err)
	}
	cfg, _, err := config.Load(path)
	if err != nil {
		return fmt.Errorf("reading [upgrade] from %s: %w: fix the file, or pass --public-key (and --repo)", path, err)
	}
	if o.PublicKey == "" {
		o.PublicKey = cfg.Upgrade.PublicKey
	}
	if fromRelease && o.Repo == "" {
		o.Repo = cfg.Upgrade.Repo
	}
	return nil
}

// selfUpdateFromRelease installs the ten-upgrade of a release archive
// whose SHA-256 is in a checksums.txt signed by the pinned key: that
// signature is the chain of trust for the binary inside.
func selfUpdateFromRelease(ctx context.Context, opts SelfUpdateOptions, target string) (*SelfUpdateReport, error) {
	if opts.Repo == "" {
		return nil, errors.New("self-update needs the repository of the releases: pass --repo owner/name or set repo under [upgrade] in tenement.toml (or give a bare binary: --binary FILE or --url URL, with --sha256 and --signature)")
	}
	if opts.PublicKey == "" {
		return nil, release.MissingKeyError(opts.Repo)
	}
	key, err := release.ParsePublicKey(opts.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("pinned public key: %w", err)
	}
	from, err := toolVersion(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("cannot tell the version of %s, the ten-upgrade to replace: %w; pass --target with the path of the installed ten-upgrade", target, err)
	}
	fromV, err := release.ParseVersion(from)
	if err != nil {
		return nil, fmt.Errorf("%s reports version %s, so no release can be compared with it: %w", target, from, err)
	}
	src, err := release.NewGitHub(release.GitHubOptions{
		Repo: opts.Repo, To: opts.To, Pre: opts.Pre, Token: opts.Token, APIURL: opts.GitHubAPI,
		HTTPClient: opts.HTTPClient, DownloadClient: opts.HTTPClient, PublicKey: &key,
		Binary: upgraderName, MaxSize: opts.MaxSize, Progress: opts.Progress, Logger: opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	rel, err := src.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	rep := &SelfUpdateReport{Target: target, From: from, Repo: opts.Repo, Tag: rel.Tag}
	toV, err := release.ParseVersion(rel.Version)
	if err != nil {
		return nil, fmt.Errorf("release %s of %s is not tagged with a semantic version, so it cannot be compared with ten-upgrade %s: pass --to vX.Y.Z", rel.Tag, opts.Repo, from)
	}
	switch {
	case toV.Equal(fromV):
		rep.To, rep.UpToDate = from, true
		return rep, nil
	case toV.LessThan(fromV):
		return nil, fmt.Errorf("release %s of %s is older than ten-upgrade %s at %s: refusing a downgrade; to go back, give the older binary with --binary FILE, --sha256 and --signature", rel.Tag, opts.Repo, from, target)
	}

	// The release is fetched and unpacked in a private directory, never
	// beside the target: a refused release leaves nothing there.
	work, err := os.MkdirTemp("", "ten-upgrade-self-update-")
	if err != nil {
		return nil, fmt.Errorf("work directory for the release: %w (set TMPDIR to a writable directory)", err)
	}
	defer os.RemoveAll(work)
	c, err := src.Fetch(ctx, rel, work)
	if err != nil {
		return nil, err
	}
	rep.Asset, rep.AssetSHA256, rep.KeyID = c.Asset, c.SHA256, c.KeyID
	bin, err := readCapped(c.Binary, opts.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("reading the %s of release %s: %w", upgraderName, rel.Tag, err)
	}
	to, err := toolVersion(ctx, c.Binary)
	if err != nil {
		return nil, fmt.Errorf("the %s of release %s does not run here: %w", upgraderName, rel.Tag, err)
	}
	if release.CanonicalVersion(to) != rel.Version {
		return nil, fmt.Errorf("release %s holds ten-upgrade %s: the tag and the binary disagree, refusing it", rel.Tag, to)
	}
	rep.To = to
	sum := sha256.Sum256(bin)
	rep.SHA256, rep.Backup = hex.EncodeToString(sum[:]), target+".old"
	if err := installSelf(bin, sum[:], nil, target, rep.Backup); err != nil {
		return nil, err
	}
	return rep, nil
}

// selfUpdateFromBinary installs a bare binary that matches the given
// SHA-256 and carries a minisign signature by the pinned key.
func selfUpdateFromBinary(ctx context.Context, opts SelfUpdateOptions, target string) (*SelfUpdateReport, error) {
	if opts.SHA256 == "" {
		return nil, errors.New("self-update needs the new binary's SHA-256 (--sha256)")
	}
	if opts.PublicKey == "" {
		return nil, errors.New("self-update needs the pinned minisign public key (--public-key, or public_key under [upgrade])")
	}
	key, err := release.ParsePublicKey(opts.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 5 * time.Minute}
	}

	var bin []byte
	switch {
	case opts.Binary != "":
		bin, err = readCapped(opts.Binary, opts.MaxSize)
	case opts.URL != "":
		bin, err = getCapped(ctx, opts.HTTPClient, opts.URL, opts.MaxSize)
	default:
		return nil, errors.New("self-update needs the new binary: --binary FILE or --url URL")
	}
	if err != nil {
		return nil, err
	}
	sigSrc := opts.Signature
	if sigSrc == "" && opts.URL != "" {
		sigSrc = opts.URL + ".minisig"
	}
	if sigSrc == "" {
		return nil, errors.New("self-update needs the minisign signature of the binary (--signature)")
	}
	var sigText []byte
	if strings.HasPrefix(sigSrc, "http://") || strings.HasPrefix(sigSrc, "https://") {
		sigText, err = getCapped(ctx, opts.HTTPClient, sigSrc, 1<<20)
	} else {
		sigText, err = readCapped(sigSrc, 1<<20)
	}
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}

	// Verify before anything of it runs.
	sum := sha256.Sum256(bin)
	want, err := hex.DecodeString(strings.TrimSpace(opts.SHA256))
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("--sha256 %q is not a SHA-256 in hex", opts.SHA256)
	}
	if !bytes.Equal(sum[:], want) {
		return nil, fmt.Errorf("checksum mismatch: the binary's SHA-256 is %x, want %s", sum, opts.SHA256)
	}
	if !minisign.Verify(key, bin, sigText) {
		return nil, fmt.Errorf("the signature does not verify with key %X: refusing the binary", key.ID())
	}

	rep := &SelfUpdateReport{Target: target, SHA256: hex.EncodeToString(sum[:]), KeyID: fmt.Sprintf("%X", key.ID()), Backup: target + ".old"}
	rep.From, _ = toolVersion(ctx, target)
	to, err := probeNew(ctx, bin, filepath.Dir(target))
	if err != nil {
		return nil, err
	}
	rep.To = to

	tmpSig, err := os.CreateTemp("", "ten-upgrade-sig-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmpSig.Name())
	if _, err := tmpSig.Write(sigText); err != nil {
		tmpSig.Close()
		return nil, err
	}
	tmpSig.Close()
	v := selfupdate.NewVerifier()
	if err := v.LoadFromFile(tmpSig.Name(), key.String()); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	if err := installSelf(bin, sum[:], v, target, rep.Backup); err != nil {
		return nil, err
	}
	return rep, nil
}

// installSelf swaps bin in for target through minio/selfupdate, which checks
// sum (and the signature, given v) once more on the bytes it writes,
// writes them beside target, keeps the previous binary as backup and
// renames the new one over target.
func installSelf(bin, sum []byte, v *selfupdate.Verifier, target, backup string) error {
	mode := os.FileMode(0o755)
	if fi, err := os.Stat(target); err == nil {
		mode = fi.Mode().Perm()
	}
	err := selfupdate.Apply(bytes.NewReader(bin), selfupdate.Options{
		TargetPath: target, TargetMode: mode, Checksum: sum, Verifier: v, OldSavePath: backup,
	})
	if err != nil {
		if rerr := selfupdate.RollbackError(err); rerr != nil {
			return fmt.Errorf("self-update failed and %s could not be restored: %v (after: %w)", target, rerr, err)
		}
		return fmt.Errorf("self-update: %w", err)
	}
	return nil
}

// probeNew writes the verified binary to a temporary file and asks it its
// version: a file that is not ten-upgrade, or does not run here, is
// refused.
func probeNew(ctx context.Context, bin []byte, dir string) (string, error) {
	f, err := os.CreateTemp(dir, ".ten-upgrade-probe-*")
	if err != nil {
		f, err = os.CreateTemp("", "ten-upgrade-probe-*")
		if err != nil {
			return "", err
		}
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(bin); err != nil {
		f.Close()
		return "", err
	}
	f.Chmod(0o755)
	f.Close()
	v, err := toolVersion(ctx, f.Name())
	if err != nil {
		return "", fmt.Errorf("the new binary does not run: %w", err)
	}
	return v, nil
}

// toolVersion runs `path --version` and expects "ten-upgrade X".
func toolVersion(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", err
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "ten-upgrade ")
	if !ok {
		return "", fmt.Errorf("%s --version printed %q, not ten-upgrade's version", path, strings.TrimSpace(string(out)))
	}
	return v, nil
}

func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllCapped(f, path, max)
}
