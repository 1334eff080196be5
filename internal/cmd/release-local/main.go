// Command release-local builds the release artifacts .goreleaser.yaml
// describes, with plain `go build`, into dist/: the same archive names and
// layout, checksums.txt and its minisign signature. `make release-local`
// runs it.
//
//	release-local [--version 1.2.3] [--targets all|host|linux/amd64,...] [--dist dist]
//
// checksums.txt is signed with the key in $MINISIGN_SECRET_KEY (password in
// $MINISIGN_PASSWORD) or, without one, with a throwaway key pair written
// to dist/minisign.key and dist/minisign.pub, so that
//
//	ten-upgrade check --public-key dist/minisign.pub ...
//
// can verify the result. Archive mtimes and the signature's timestamp come
// from $SOURCE_DATE_EPOCH, else the time of the last commit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tenement/ten/internal/releasebuild"
	"github.com/tenement/ten/internal/releasesign"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "release-local:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("release-local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dist := fs.String("dist", "dist", "output directory, emptied first (only an empty one, or one an earlier release-local made)")
	version := fs.String("version", envOr("VERSION", "0.0.0-dev"), "release version, e.g. 1.2.3 (env VERSION)")
	commit := fs.String("commit", os.Getenv("COMMIT"), "commit stamped into the binaries (default: git rev-parse --short HEAD)")
	targets := fs.String("targets", envOr("TARGETS", "all"), "all, host, or os/arch,... (env TARGETS)")
	secretKey := fs.String("secret-key", os.Getenv("MINISIGN_SECRET_KEY"), "minisign secret key that signs checksums.txt (env MINISIGN_SECRET_KEY; password in MINISIGN_PASSWORD); default: a throwaway key in DIST")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	ts, err := releasebuild.ParseTargets(*targets)
	if err != nil {
		return err
	}
	if *commit == "" {
		*commit = git(ctx, root, "rev-parse", "--short", "HEAD")
	}
	date, err := sourceDate(ctx, root)
	if err != nil {
		return err
	}
	opts := releasebuild.Options{
		Root:    root,
		Dist:    *dist,
		Version: *version,
		Commit:  *commit,
		Date:    date,
		Targets: ts,
		Log:     stderr,
	}
	if *secretKey != "" {
		k, err := releasesign.LoadSecretKey(*secretKey, os.Getenv("MINISIGN_PASSWORD"))
		if err != nil {
			return fmt.Errorf("%w (the password comes from MINISIGN_PASSWORD)", err)
		}
		opts.Key = &k
	}
	res, err := releasebuild.Build(ctx, opts)
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "ten %s, commit %s, built %s\n\n", res.Version, *commit, date.UTC().Format(time.RFC3339))
	for _, a := range res.Assets() {
		fmt.Fprintf(stdout, "  %s\n", filepath.Join(*dist, a))
	}
	fmt.Fprintf(stdout, "\nchecksums.txt is signed by key %s; its public key:\n\n  %s\n\n", res.KeyID, res.PublicKey)
	if res.PublicKeyFile != "" {
		fmt.Fprintf(stdout, "This is a throwaway key made for this build (%s, %s); set\nMINISIGN_SECRET_KEY to sign with a real one.\n\n", res.PublicKeyFile, res.SecretKeyFile)
	}
	host := releasebuild.ArchiveName(res.Version, releasebuild.Host())
	for _, a := range res.Archives {
		if a == host {
			fmt.Fprintf(stdout, "Try it:\n\n  ten-upgrade check --binary %s --config tenement.toml\n\n", filepath.Join(*dist, a))
			break
		}
	}
	return nil
}

// moduleRoot is the directory of go.mod, so that release-local works from
// any directory of the repository.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run release-local inside the ten repository")
	}
	return filepath.Dir(gomod), nil
}

// sourceDate is $SOURCE_DATE_EPOCH, else the commit time of HEAD, else now.
func sourceDate(ctx context.Context, root string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		s = git(ctx, root, "log", "-1", "--format=%ct")
	}
	if s == "" || s == "unknown" {
		return time.Now().Truncate(time.Second), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a Unix time", s)
	}
	return time.Unix(n, 0), nil
}

func git(ctx context.Context, dir string, args ...string) string {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
