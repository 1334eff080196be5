package releasebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	goversion "github.com/hashicorp/go-version"

	"github.com/tenement/ten/internal/releasesign"
)

// Options configure Build.
type Options struct {
	// Root is the module root: the packages are built and ExtraFiles read
	// from there.
	Root string
	// Dist is the output directory. It is removed and created anew, like
	// `goreleaser release --clean` does.
	Dist string
	// Version is the release's semantic version ("v" prefix allowed);
	// Commit the short commit stamped next to it.
	Version string
	Commit  string
	// Date is the mtime of every archive entry and the timestamp of the
	// signature (the commit date, or SOURCE_DATE_EPOCH), so that a build
	// is reproducible.
	Date time.Time
	// Targets to build; Targets when empty.
	Targets []Target
	// Key signs checksums.txt. Without one a throwaway key pair is made
	// and written to Dist/minisign.key and Dist/minisign.pub.
	Key *releasesign.SecretKey
	// GoCmd is the go command ("go" when empty).
	GoCmd string
	// Log gets one line per step; nil discards them.
	Log io.Writer
}

// Throwaway key files written when no key is given.
const (
	ThrowawaySecretKey = "minisign.key"
	ThrowawayPublicKey = "minisign.pub"
)

// Result lists what Build wrote.
type Result struct {
	Version   string
	Archives  []string // file names in Dist, sorted
	Checksums string   // path of checksums.txt
	Signature string   // path of checksums.txt.minisig
	// PublicKey verifies Signature ("RW..."); PublicKeyFile is its .pub
	// file when the key was made for this build.
	PublicKey     string
	KeyID         string
	PublicKeyFile string
	SecretKeyFile string
}

// Assets are the files a release publishes: the archives, checksums.txt
// and its signature.
func (r *Result) Assets() []string {
	return append(append([]string(nil), r.Archives...), ChecksumsName, SignatureName)
}

// Build compiles every target, packs the archives, writes checksums.txt
// and signs it.
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Root == "" || o.Dist == "" {
		return nil, errors.New("releasebuild: Root and Dist are required")
	}
	if _, err := goversion.NewSemver(o.Version); err != nil {
		return nil, fmt.Errorf("version %q is not a semantic version (want MAJOR.MINOR.PATCH, e.g. 1.2.3): ten-upgrade compares releases by it", o.Version)
	}
	version := strings.TrimPrefix(o.Version, "v")
	if err := checkDist(o.Root, o.Dist); err != nil {
		return nil, err
	}
	if o.Commit == "" {
		o.Commit = "unknown"
	}
	if len(o.Targets) == 0 {
		o.Targets = Targets
	}
	if o.GoCmd == "" {
		o.GoCmd = "go"
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	for _, f := range ExtraFiles {
		if _, err := os.Stat(filepath.Join(o.Root, f)); err != nil {
			return nil, fmt.Errorf("every archive holds %s: %w", f, err)
		}
	}
	if err := os.RemoveAll(o.Dist); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dist, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dist, distMarker), nil, 0o644); err != nil {
		return nil, err
	}

	res := &Result{Version: version}
	ldflags := LDFlags(version, o.Commit)
	for _, t := range o.Targets {
		for _, b := range Binaries {
			out := filepath.Join(buildDir(o.Dist, t), b.Name)
			logf("build   %s %s", t, b.Name)
			if err := goBuild(ctx, o, t, ldflags, out, b.Package); err != nil {
				return nil, err
			}
		}
	}

	// Compressing is the slow part: one target per CPU.
	errs := make([]error, len(o.Targets))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, t := range o.Targets {
		name := ArchiveName(version, t)
		res.Archives = append(res.Archives, name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = writeArchiveFile(filepath.Join(o.Dist, name), ArchiveEntries(o.Root, buildDir(o.Dist, t)), o.Date)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.Sort(res.Archives)
	for _, name := range res.Archives {
		logf("archive %s", name)
	}

	sums, err := ChecksumFile(o.Dist, res.Archives)
	if err != nil {
		return nil, err
	}
	res.Checksums = filepath.Join(o.Dist, ChecksumsName)
	if err := os.WriteFile(res.Checksums, sums, 0o644); err != nil {
		return nil, err
	}
	logf("sums    %s", ChecksumsName)

	key := o.Key
	if key == nil {
		k, err := releasesign.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		key = &k
		sk, err := releasesign.MarshalSecretKey(k, "", releasesign.Cost{})
		if err != nil {
			return nil, err
		}
		res.SecretKeyFile = filepath.Join(o.Dist, ThrowawaySecretKey)
		res.PublicKeyFile = filepath.Join(o.Dist, ThrowawayPublicKey)
		if err := os.WriteFile(res.SecretKeyFile, sk, 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(res.PublicKeyFile, k.PublicKeyFile(), 0o644); err != nil {
			return nil, err
		}
		logf("key     throwaway key pair %s written to %s and %s", k.KeyID(), ThrowawaySecretKey, ThrowawayPublicKey)
	}
	sig, err := SignFile(*key, res.Checksums, o.Date.Unix())
	if err != nil {
		return nil, err
	}
	res.Signature = res.Checksums + ".minisig"
	if err := os.WriteFile(res.Signature, sig, 0o644); err != nil {
		return nil, err
	}
	res.PublicKey = key.PublicKey().String()
	res.KeyID = key.KeyID()
	logf("sign    %s (key %s)", SignatureName, res.KeyID)
	return res, nil
}

// checkDist refuses an output directory whose removal would take the
// sources with it.
func checkDist(root, dist string) error {
	r, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	d, err := filepath.Abs(dist)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(d, r)
	if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("refusing to use %s as the output directory: it is emptied first, and it holds the sources", dist)
	}
	// Emptied first: only a directory an earlier build made, or an empty one.
	entries, err := os.ReadDir(d)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(d, distMarker)); err != nil {
		return fmt.Errorf("refusing to use %s as the output directory: it is emptied first, and it was not made by release-local; name a new directory, or remove it yourself", dist)
	}
	return nil
}

// distMarker marks an output directory made by Build, which a later Build
// may empty.
const distMarker = ".release-local"

// SignFile signs the file at path with minisign's default trusted comment
// for the time ts.
func SignFile(key releasesign.SecretKey, path string, ts int64) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return releasesign.Sign(key, data, releasesign.TrustedComment(ts, filepath.Base(path)), "signature from ten release key "+key.KeyID())
}

// buildDir is where a target's binaries are built, as GoReleaser keeps
// them under dist/.
func buildDir(dist string, t Target) string {
	return filepath.Join(dist, fmt.Sprintf("%s_%s_%s", Project, t.OS, t.Arch))
}

func goBuild(ctx context.Context, o Options, t Target, ldflags, out, pkg string) error {
	cmd := exec.CommandContext(ctx, o.GoCmd, "build", "-trimpath", "-ldflags", ldflags, "-o", out, pkg)
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.OS, "GOARCH="+t.Arch)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s: %v\n%s", pkg, t, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func writeArchiveFile(path string, entries []Entry, mtime time.Time) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if err := WriteArchive(f, entries, mtime); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}
