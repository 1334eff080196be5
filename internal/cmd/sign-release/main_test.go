package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"aead.dev/minisign"

	"github.com/tenement/ten/orchestrator/release"
)

func runArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(args, &out, &errOut)
	return out.String() + errOut.String(), err
}

// keygen, sign (the way GoReleaser calls it) and verify, and the
// signature is one ten-upgrade accepts with the public key file.
func TestKeygenSignVerify(t *testing.T) {
	dir := t.TempDir()
	sk, pk := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	t.Setenv(EnvPassword, "")
	if out, err := runArgs(t, "keygen", "--secret-key", sk, "--public-key", pk, "--no-password"); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	if _, err := runArgs(t, "keygen", "--secret-key", sk, "--public-key", pk, "--no-password"); err == nil {
		t.Error("keygen overwrote an existing key without --force")
	}
	sums := filepath.Join(dir, "checksums.txt")
	if err := os.WriteFile(sums, []byte("0123  ten_1.0.0_linux_amd64.tar.gz\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Setenv(EnvSecretKey, sk)
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600")
	sigPath := filepath.Join(dir, "out.minisig")
	if out, err := runArgs(t, "--output", sigPath, sums); err != nil {
		t.Fatalf("sign: %v\n%s", err, out)
	}
	sig, _ := os.ReadFile(sigPath)
	if !strings.Contains(string(sig), "trusted comment: timestamp:1767225600\tfile:checksums.txt\thashed\n") {
		t.Errorf("signature:\n%s", sig)
	}
	key, err := release.ParsePublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(sums)
	if err := release.VerifySignature(key, data, sig); err != nil {
		t.Fatalf("ten-upgrade rejects the signature: %v", err)
	}
	if !minisign.Verify(key, data, sig) {
		t.Fatal("minisign rejects the signature")
	}
	if out, err := runArgs(t, "verify", "--public-key", pk, "--signature", sigPath, sums); err != nil || !strings.Contains(out, "verified") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	if out, err := runArgs(t, "verify", "--public-key", key.String(), "--signature", sigPath, sums); err != nil {
		t.Fatalf("verify with RW... text: %v\n%s", err, out)
	}

	// The default output name, FILE.minisig.
	if _, err := runArgs(t, sums); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sums + ".minisig"); err != nil {
		t.Error(err)
	}

	// A changed file does not verify.
	if err := os.WriteFile(sums, []byte("4567  ten_1.0.0_linux_amd64.tar.gz\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runArgs(t, "verify", "--public-key", pk, "--signature", sigPath, sums); err == nil {
		t.Error("verify accepted a changed file")
	}
}

func TestSignNeedsAKey(t *testing.T) {
	t.Setenv(EnvSecretKey, "")
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runArgs(t, f); err == nil || !strings.Contains(err.Error(), EnvSecretKey) {
		t.Errorf("sign without a key: %v", err)
	}
}
