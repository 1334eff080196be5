package orchestrator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"aead.dev/minisign"
	"github.com/minio/selfupdate"

	"github.com/tenement/ten/orchestrator/release"
)

// SelfUpdateOptions say where the new ten-upgrade comes from and how it
// is verified. Both checks are mandatory: the SHA-256 of the binary and a
// minisign signature of it by the pinned key.
type SelfUpdateOptions struct {
	// Binary is a local file, or URL a download, of the new ten-upgrade.
	Binary string
	URL    string
	// SHA256 is the expected checksum (hex).
	SHA256 string
	// Signature is the minisign signature of the binary: a file, or a URL
	// (default: URL + ".minisig").
	Signature string
	// PublicKey is the minisign key (text or file).
	PublicKey string
	// Target is the ten-upgrade to replace (default: this executable).
	Target string
	// MaxSize caps the download (default release.DefaultMaxSize).
	MaxSize    int64
	HTTPClient *http.Client
}

// SelfUpdateReport says what self-update did.
type SelfUpdateReport struct {
	Target string `json:"target"`
	From   string `json:"from"`
	To     string `json:"to"`
	SHA256 string `json:"sha256"`
	KeyID  string `json:"key_id"`
	Backup string `json:"backup"`
}

// SelfUpdate replaces ten-upgrade with a verified new binary, through
// minio/selfupdate: the new file is written beside the target and renamed
// over it, the previous binary kept as {target}.old. The new binary must
// pass the checksum and the signature before it is even run, and must
// then answer --version as ten-upgrade before it is installed.
func SelfUpdate(ctx context.Context, opts SelfUpdateOptions) (*SelfUpdateReport, error) {
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
	if opts.MaxSize <= 0 {
		opts.MaxSize = release.DefaultMaxSize
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 5 * time.Minute}
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

	var bin []byte
	switch {
	case opts.Binary != "":
		bin, err = readCapped(opts.Binary, opts.MaxSize)
	case opts.URL != "":
		bin, err = fetchCapped(ctx, opts.HTTPClient, opts.URL, opts.MaxSize)
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
		sigText, err = fetchCapped(ctx, opts.HTTPClient, sigSrc, 1<<20)
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
	mode := os.FileMode(0o755)
	if fi, err := os.Stat(target); err == nil {
		mode = fi.Mode().Perm()
	}
	err = selfupdate.Apply(bytes.NewReader(bin), selfupdate.Options{
		TargetPath: target, TargetMode: mode, Checksum: sum[:], Verifier: v, OldSavePath: rep.Backup,
	})
	if err != nil {
		if rerr := selfupdate.RollbackError(err); rerr != nil {
			return nil, fmt.Errorf("self-update failed and %s could not be restored: %v (after: %w)", target, rerr, err)
		}
		return nil, fmt.Errorf("self-update: %w", err)
	}
	return rep, nil
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
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}

func fetchCapped(ctx context.Context, c *http.Client, url string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", url, max)
	}
	return b, nil
}
