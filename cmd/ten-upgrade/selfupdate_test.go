package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenement/ten/internal/testbin"
	rt "github.com/tenement/ten/orchestrator/release/releasetest"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// TestSelfUpdate replaces a ten-upgrade 0.1.0 with 0.2.0 through the real
// binary: a wrong checksum or signature leaves it untouched.
func TestSelfUpdate(t *testing.T) {
	dir := t.TempDir()
	old := testbin.Build(t, "./cmd/ten-upgrade", testbin.LDFlags("-X github.com/tenement/ten/version.Version=0.1.0"))
	nw := testbin.Build(t, "./cmd/ten-upgrade", testbin.LDFlags("-X github.com/tenement/ten/version.Version=0.2.0"))
	target := filepath.Join(dir, "ten-upgrade")
	copyTo(t, old, target)
	newBytes, err := os.ReadFile(nw)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(newBytes)
	pub, priv := rt.NewKey(t)
	sig := filepath.Join(dir, "ten-upgrade.minisig")
	os.WriteFile(sig, rt.Sign(priv, newBytes), 0o644)
	otherPub, _ := rt.NewKey(t)

	run := func(args ...string) (string, error) {
		out, err := exec.Command(target, append([]string{"self-update", "--binary", nw, "--signature", sig}, args...)...).CombinedOutput()
		return string(out), err
	}
	version := func() string {
		out, _ := exec.Command(target, "--version").Output()
		return strings.TrimSpace(string(out))
	}
	if out, err := run("--sha256", strings.Repeat("0", 64), "--public-key", pub.String()); err == nil || !strings.Contains(out, "checksum mismatch") {
		t.Errorf("wrong checksum: %v %s", err, out)
	}
	if out, err := run("--sha256", hex.EncodeToString(sum[:]), "--public-key", otherPub.String()); err == nil || !strings.Contains(out, "signature does not verify") {
		t.Errorf("wrong key: %v %s", err, out)
	}
	if v := version(); v != "ten-upgrade 0.1.0" {
		t.Fatalf("after refused updates: %q", v)
	}
	out, err := run("--sha256", hex.EncodeToString(sum[:]), "--public-key", pub.String())
	if err != nil || !strings.Contains(out, "0.1.0 -> 0.2.0") {
		t.Fatalf("self-update: %v %s", err, out)
	}
	if v := version(); v != "ten-upgrade 0.2.0" {
		t.Errorf("after self-update: %q", v)
	}
	if b, _ := exec.Command(target+".old", "--version").Output(); strings.TrimSpace(string(b)) != "ten-upgrade 0.1.0" {
		t.Errorf("previous binary not kept: %q", b)
	}
}

func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
