// Command sign-release signs release files with a minisign key, without
// the minisign tool: GoReleaser calls it (scripts/sign-release) to sign
// checksums.txt, and maintainers use it to make and check keys.
//
//	sign-release [--secret-key FILE] [--output FILE] FILE
//	sign-release keygen --secret-key FILE --public-key FILE [--no-password]
//	sign-release verify --public-key KEY|FILE [--signature FILE] FILE
//
// The secret key comes from --secret-key, else the file named by
// $MINISIGN_SECRET_KEY; its password from $MINISIGN_PASSWORD, else a
// prompt when stdin is a terminal. An unencrypted key needs no password.
// The signature goes to FILE.minisig unless --output says otherwise; its
// trusted comment carries $SOURCE_DATE_EPOCH (else the current time) and
// the file name, as minisign writes it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/tenement/ten/internal/releasesign"
)

// Environment variables read by sign-release.
const (
	EnvSecretKey = "MINISIGN_SECRET_KEY"
	EnvPassword  = "MINISIGN_PASSWORD"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sign-release:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "keygen":
			return keygen(args[1:], stdout, stderr)
		case "verify":
			return verify(args[1:], stdout, stderr)
		case "sign":
			args = args[1:]
		}
	}
	return sign(args, stdout, stderr)
}

func sign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sign-release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("secret-key", os.Getenv(EnvSecretKey), "minisign secret key file (env "+EnvSecretKey+")")
	output := fs.String("output", "", "signature file (default: FILE.minisig)")
	comment := fs.String("trusted-comment", "", "signed comment (default: timestamp:T\\tfile:NAME\\thashed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: sign-release [--secret-key FILE] [--output FILE] FILE")
	}
	file := fs.Arg(0)
	if *keyPath == "" {
		return fmt.Errorf("no secret key: pass --secret-key FILE or set %s to the key file", EnvSecretKey)
	}
	key, err := loadKey(*keyPath, stderr)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	ts, err := timestamp()
	if err != nil {
		return err
	}
	tc := *comment
	if tc == "" {
		tc = releasesign.TrustedComment(ts, filepath.Base(file))
	}
	sig, err := releasesign.Sign(key, data, tc, "signature from ten release key "+key.KeyID())
	if err != nil {
		return err
	}
	out := *output
	if out == "" {
		out = file + ".minisig"
	}
	if err := os.WriteFile(out, sig, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed %s with key %s: %s\n", file, key.KeyID(), out)
	return nil
}

// loadKey reads the secret key, asking for its password only when the key
// is encrypted and $MINISIGN_PASSWORD is not set.
func loadKey(path string, stderr io.Writer) (releasesign.SecretKey, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return releasesign.SecretKey{}, err
	}
	password, havePassword := os.LookupEnv(EnvPassword)
	key, err := releasesign.ParseSecretKey(text, password)
	if err == nil || havePassword || !term.IsTerminal(int(os.Stdin.Fd())) {
		if err != nil {
			return key, fmt.Errorf("%s: %w (the password comes from %s)", path, err, EnvPassword)
		}
		return key, nil
	}
	fmt.Fprintf(stderr, "Password for %s: ", path)
	p, perr := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(stderr)
	if perr != nil {
		return key, perr
	}
	key, err = releasesign.ParseSecretKey(text, string(p))
	if err != nil {
		return key, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// timestamp is $SOURCE_DATE_EPOCH, for reproducible signatures, or now.
func timestamp() (int64, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Now().Unix(), nil
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a Unix time", s)
	}
	return ts, nil
}

func keygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sign-release keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret-key", "", "where to write the secret key (required)")
	public := fs.String("public-key", "", "where to write the public key (required)")
	noPassword := fs.Bool("no-password", false, "store the secret key unencrypted (throwaway keys only)")
	force := fs.Bool("force", false, "overwrite existing key files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" || *public == "" || fs.NArg() != 0 {
		return errors.New("usage: sign-release keygen --secret-key FILE --public-key FILE [--no-password]")
	}
	password := ""
	if !*noPassword {
		var err error
		if password, err = newPassword(stderr); err != nil {
			return err
		}
	}
	key, err := releasesign.GenerateKey(nil)
	if err != nil {
		return err
	}
	sk, err := releasesign.MarshalSecretKey(key, password, releasesign.SensitiveCost)
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	if err := writeFile(*secret, sk, flags, 0o600); err != nil {
		return err
	}
	if err := writeFile(*public, key.PublicKeyFile(), flags, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "key %s\nsecret key: %s (keep it secret)\npublic key: %s\n%s\n", key.KeyID(), *secret, *public, key.PublicKey().String())
	return nil
}

func newPassword(stderr io.Writer) (string, error) {
	if p, ok := os.LookupEnv(EnvPassword); ok {
		if p == "" {
			return "", fmt.Errorf("%s is empty: use --no-password for an unencrypted key", EnvPassword)
		}
		return p, nil
	}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return "", fmt.Errorf("set %s to the new key's password, or pass --no-password", EnvPassword)
	}
	fmt.Fprint(stderr, "Password for the new key: ")
	p1, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(stderr, "Password (again): ")
	p2, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	if string(p1) != string(p2) || len(p1) == 0 {
		return "", errors.New("the passwords are empty or differ")
	}
	return string(p1), nil
}

func writeFile(path string, data []byte, flags int, perm os.FileMode) error {
	f, err := os.OpenFile(path, flags, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func verify(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sign-release verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	public := fs.String("public-key", "", "minisign public key: RW... or a .pub file (required)")
	sigPath := fs.String("signature", "", "signature file (default: FILE.minisig)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *public == "" || fs.NArg() != 1 {
		return errors.New("usage: sign-release verify --public-key KEY|FILE [--signature FILE] FILE")
	}
	file := fs.Arg(0)
	keyText := []byte(*public)
	if !strings.HasPrefix(*public, "RW") {
		var err error
		if keyText, err = os.ReadFile(*public); err != nil {
			return err
		}
	}
	pub, err := releasesign.ReadPublicKey(keyText)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	if *sigPath == "" {
		*sigPath = file + ".minisig"
	}
	sig, err := os.ReadFile(*sigPath)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	tc, err := releasesign.Verify(pub, data, sig)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	fmt.Fprintf(stdout, "%s: signature by key %X verified\ntrusted comment: %s\n", file, pub.ID(), tc)
	return nil
}
