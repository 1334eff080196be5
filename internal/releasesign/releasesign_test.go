package releasesign

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"aead.dev/minisign"

	"github.com/tenement/ten/internal/testbin"
	"github.com/tenement/ten/internal/testfs"
	"github.com/tenement/ten/orchestrator/release"
)

// cheap keeps scrypt fast in tests (1 MiB instead of minisign's 1 GiB);
// the file format is the same.
var cheap = Cost{Ops: minOpsLimit, Mem: 1 << 24}

func newKey(t *testing.T) SecretKey {
	t.Helper()
	k, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignatureVerifiesWithMinisignAndTenUpgrade(t *testing.T) {
	k := newKey(t)
	msg := []byte("0123abcd  ten_1.2.3_linux_amd64.tar.gz\n")
	sig, err := Sign(k, msg, TrustedComment(1700000000, "checksums.txt"), "signature from ten release key")
	if err != nil {
		t.Fatal(err)
	}
	var parsed minisign.Signature
	if err := parsed.UnmarshalText(sig); err != nil || parsed.Algorithm != minisign.HashEdDSA || parsed.KeyID != k.ID {
		t.Errorf("not a pre-hashed (ED) minisign signature by the key (%v):\n%s", err, sig)
	}
	if !strings.HasPrefix(string(sig), "untrusted comment: signature from ten release key\n") {
		t.Errorf("untrusted comment missing:\n%s", sig)
	}
	if !strings.Contains(string(sig), "\ntrusted comment: timestamp:1700000000\tfile:checksums.txt\thashed\n") {
		t.Errorf("trusted comment missing:\n%s", sig)
	}

	// Two independent verifiers: aead.dev/minisign, and ten-upgrade's own
	// check, which also reads the public key the way operators pin it.
	pub := k.PublicKey()
	if !minisign.Verify(pub, msg, sig) {
		t.Fatal("aead.dev/minisign rejects the signature")
	}
	pinned, err := release.ParsePublicKey(string(k.PublicKeyFile()))
	if err != nil {
		t.Fatalf("ten-upgrade cannot read the .pub file: %v", err)
	}
	if err := release.VerifySignature(pinned, msg, sig); err != nil {
		t.Fatalf("ten-upgrade rejects the signature: %v", err)
	}
	if tc, err := Verify(pub, msg, sig); err != nil || !strings.HasPrefix(tc, "timestamp:1700000000") {
		t.Fatalf("Verify = %q, %v", tc, err)
	}

	// Deterministic: signing again gives the same bytes.
	again, _ := Sign(k, msg, TrustedComment(1700000000, "checksums.txt"), "signature from ten release key")
	if !bytes.Equal(sig, again) {
		t.Error("signing the same message twice gave different signatures")
	}

	tampered := append([]byte(nil), msg...)
	tampered[0] ^= 1
	if minisign.Verify(pub, tampered, sig) {
		t.Error("a changed message still verifies")
	}
	if _, err := Verify(pub, tampered, sig); err == nil {
		t.Error("Verify accepted a changed message")
	}
	// The trusted comment is signed too.
	forged := bytes.Replace(sig, []byte("timestamp:1700000000"), []byte("timestamp:1800000000"), 1)
	if minisign.Verify(pub, msg, forged) {
		t.Error("a changed trusted comment still verifies")
	}
	other := newKey(t)
	if _, err := Verify(other.PublicKey(), msg, sig); err == nil || !strings.Contains(err.Error(), "not by") {
		t.Errorf("Verify with another key = %v, want a key mismatch", err)
	}
}

func TestSecretKeyFileRoundTrip(t *testing.T) {
	k := newKey(t)
	for _, tt := range []struct {
		name, password string
	}{
		{"unencrypted (minisign -W)", ""},
		{"password", "correct horse battery staple"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text, err := MarshalSecretKey(k, tt.password, cheap)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseSecretKey(text, tt.password)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != k.ID || !bytes.Equal(got.Key, k.Key) {
				t.Fatal("the key read back differs")
			}
			if tt.password != "" {
				if bytes.Contains(text, []byte(k.Key)) {
					t.Error("the encrypted file holds the key in clear")
				}
				if _, err := ParseSecretKey(text, "wrong"); !errors.Is(err, ErrWrongPassword) {
					t.Errorf("wrong password: %v, want ErrWrongPassword", err)
				}
				if _, err := ParseSecretKey(text, ""); err == nil || !strings.Contains(err.Error(), "encrypted") {
					t.Errorf("no password: %v", err)
				}
			}
		})
	}
}

// A key file written here must be one that minisign reads: aead.dev/minisign
// implements minisign's scrypt key encryption independently.
func TestEncryptedKeyReadsWithMinisignLibrary(t *testing.T) {
	k := newKey(t)
	text, err := MarshalSecretKey(k, "s3cret", cheap)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := minisign.DecryptKey("s3cret", text)
	if err != nil {
		t.Fatalf("aead.dev/minisign cannot decrypt the key file: %v", err)
	}
	if theirs.ID() != k.ID || !theirs.Public().(minisign.PublicKey).Equal(k.PublicKey()) {
		t.Fatal("aead.dev/minisign decrypted a different key")
	}
	// And what that library signs verifies with the public key file here.
	sig := minisign.Sign(theirs, []byte("hello"))
	pub, err := ReadPublicKey(k.PublicKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(pub, []byte("hello"), sig); err != nil {
		t.Fatal(err)
	}
}

func TestScryptParamsMatchLibsodium(t *testing.T) {
	// minisign -G: N=2^20, r=8, p=1 (1 GiB).
	if n, r, p := scryptParams(SensitiveCost); n != 1<<20 || r != 8 || p != 1 {
		t.Errorf("sensitive cost = N %d r %d p %d, want 2^20 8 1", n, r, p)
	}
	// libsodium's interactive limits: opslimit 524288, memlimit 16 MiB.
	if n, r, p := scryptParams(Cost{Ops: 524288, Mem: 16777216}); n != 1<<14 || r != 8 || p != 1 {
		t.Errorf("interactive cost = N %d r %d p %d, want 2^14 8 1", n, r, p)
	}
}

func TestParseSecretKeyRejectsGarbage(t *testing.T) {
	k := newKey(t)
	good, err := MarshalSecretKey(k, "", Cost{})
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string][]byte{
		"empty":       nil,
		"public key":  k.PublicKeyFile(),
		"not base64":  []byte("untrusted comment: x\n!!!!\n"),
		"flipped bit": flipInBase64(good),
	} {
		if _, err := ParseSecretKey(text, ""); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// flipInBase64 changes one bit of the key material inside a key file.
func flipInBase64(text []byte) []byte {
	lines := strings.Split(string(text), "\n")
	b := []byte(lines[1])
	// A character near the end lies in the checksum-protected key data.
	i := len(b) - 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	lines[1] = string(b)
	return []byte(strings.Join(lines, "\n"))
}

// A key made by `minisign -G -W` (0.11), the public key it printed, and
// the signature `minisign -S -t ... -c ...` made of vectorMessage with it.
const (
	vectorSecretKey = `untrusted comment: minisign encrypted secret key
RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAnCXeYkCze0Jzth8INAocYkm7x2ADR8cgCp7VHOZCupSy6BDUO+4he9X5h+3KriQNTXjJqyJP1I05cmii58r665VnNUHwEtqoAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
`
	vectorPublicKey = `untrusted comment: minisign public key 427BB34062DE259C
RWScJd5iQLN7QtX5h+3KriQNTXjJqyJP1I05cmii58r665VnNUHwEtqo
`
	vectorMessage   = "abc123  ten_1.0.0_linux_amd64.tar.gz\n"
	vectorSignature = "untrusted comment: signature from minisign secret key\n" +
		"RUScJd5iQLN7Qle76QpHhZJr5f749Tq1qdPAvoGTliZiFZi2e0QOatYAu424WFYJU2w4o6iHZAHLJXTnzbPau+RH+H17HhvU/gs=\n" +
		"trusted comment: timestamp:1767225600\tfile:checksums.txt\thashed\n" +
		"fZfSAC80mYnC+vy/EKU4yCK3W60Wch+Tjuv7MXHrD3JtOgywKYQUuL0L4HyySUNhlQ4H8teR8+QFz5abJmTHBg==\n"
)

// The minisign tool's own key and signature: the key reads, and signing
// the same message with the same comments gives the tool's bytes.
func TestMinisignToolVector(t *testing.T) {
	k, err := ParseSecretKey([]byte(vectorSecretKey), "")
	if err != nil {
		t.Fatal(err)
	}
	if k.KeyID() != "427BB34062DE259C" {
		t.Errorf("key id %s", k.KeyID())
	}
	pub, err := ReadPublicKey([]byte(vectorPublicKey))
	if err != nil || !pub.Equal(k.PublicKey()) {
		t.Fatalf("public key %v, %v; want the secret key's", pub, err)
	}
	sig, err := Sign(k, []byte(vectorMessage), "timestamp:1767225600\tfile:checksums.txt\thashed", "signature from minisign secret key")
	if err != nil {
		t.Fatal(err)
	}
	if string(sig) != vectorSignature {
		t.Errorf("signature differs from minisign's:\n%s\nwant:\n%s", sig, vectorSignature)
	}
	if _, err := Verify(pub, []byte(vectorMessage), []byte(vectorSignature)); err != nil {
		t.Error(err)
	}
}

// With the minisign tool installed, each side verifies the other's
// signatures and uses the other's key files.
func TestInteropWithMinisignTool(t *testing.T) {
	tool := testbin.Require(t, "minisign", "apt-get install minisign")
	dir := t.TempDir()
	k := newKey(t)
	sk, err := MarshalSecretKey(k, "", Cost{})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := Sign(k, []byte(vectorMessage), TrustedComment(1, "msg"), "ours")
	if err != nil {
		t.Fatal(err)
	}
	testfs.WriteFiles(t, dir, map[string]string{
		"ours.key": string(sk), "ours.pub": string(k.PublicKeyFile()), "msg": vectorMessage, "msg.minisig": string(sig),
	})
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(tool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("minisign %v: %v\n%s", args, err, out)
		}
	}
	run("-Vm", "msg", "-p", "ours.pub")                         // our signature
	run("-Sm", "msg", "-s", "ours.key", "-x", "theirs.minisig") // our key file
	if _, err := Verify(k.PublicKey(), []byte(vectorMessage), testfs.Read(t, filepath.Join(dir, "theirs.minisig"))); err != nil {
		t.Fatalf("minisign's signature with our key: %v", err)
	}
}
