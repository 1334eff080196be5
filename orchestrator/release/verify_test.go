package release

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenement/ten/orchestrator/release/releasetest"
)

func TestParseChecksums(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	other := strings.Repeat("cd", 32)
	tests := []struct {
		name   string
		in     string
		want   Checksums
		errHas string
	}{
		{"goreleaser", sum + "  ten_1.0.0_linux_amd64.tar.gz\n" + other + "  ten_1.0.0_darwin_arm64.tar.gz\n",
			Checksums{"ten_1.0.0_linux_amd64.tar.gz": sum, "ten_1.0.0_darwin_arm64.tar.gz": other}, ""},
		{"binary mode and upper case", strings.ToUpper(sum) + " *ten\n\n", Checksums{"ten": sum}, ""},
		{"not hex", "zz  ten\n", nil, "not a SHA-256"},
		{"short digest", "abcd  ten\n", nil, "not a SHA-256"},
		{"three fields", sum + "  ten  extra\n", nil, "want"},
		{"conflicting duplicates", sum + "  ten\n" + other + "  ten\n", nil, "twice"},
		{"empty", "\n", nil, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChecksums([]byte(tt.in))
			if releasetest.WantErr(t, err, tt.errHas) {
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %s, want %s", k, got[k], v)
				}
			}
		})
	}
}

func TestChecksumsVerify(t *testing.T) {
	data := []byte("release bytes")
	h := sha256.Sum256(data)
	sum := hex.EncodeToString(h[:])
	c := Checksums{"a.tar.gz": sum}
	if err := c.Verify("a.tar.gz", strings.ToUpper(sum)); err != nil {
		t.Errorf("matching digest: %v", err)
	}
	if err := c.Verify("a.tar.gz", strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "tampered") {
		t.Errorf("mismatch: err = %v", err)
	}
	if err := c.Verify("b.tar.gz", sum); err == nil || !strings.Contains(err.Error(), "not listed") {
		t.Errorf("unlisted: err = %v", err)
	}
}

func TestVerifySignature(t *testing.T) {
	pub, priv := releasetest.NewKey(t)
	otherPub, otherPriv := releasetest.NewKey(t)
	msg := []byte("abc  ten_1.0.0_linux_amd64.tar.gz\n")
	sig := releasetest.Sign(priv, msg)

	tests := []struct {
		name   string
		msg    []byte
		sig    []byte
		errHas string
	}{
		{"valid", msg, sig, ""},
		{"tampered message", append([]byte("x"), msg...), sig, "does not match"},
		{"other key", msg, releasetest.Sign(otherPriv, msg), "but the pinned public key is " + KeyID(pub.ID())},
		{"garbage", msg, []byte("not a signature"), "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(pub, tt.msg, tt.sig)
			releasetest.WantErr(t, err, tt.errHas)
		})
	}
	_ = otherPub
}

func TestParsePublicKey(t *testing.T) {
	pub, _ := releasetest.NewKey(t)
	text, _ := pub.MarshalText()
	file := filepath.Join(t.TempDir(), "minisign.pub")
	if err := os.WriteFile(file, text, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{pub.String(), " " + pub.String() + "\n", string(text), file} {
		got, err := ParsePublicKey(in)
		if err != nil {
			t.Errorf("ParsePublicKey(%q): %v", in, err)
			continue
		}
		if !got.Equal(pub) {
			t.Errorf("ParsePublicKey(%q) = %s, want %s", in, got, pub)
		}
	}
	for _, in := range []string{"", "RWQnot-a-key", filepath.Join(t.TempDir(), "missing.pub")} {
		if _, err := ParsePublicKey(in); err == nil {
			t.Errorf("ParsePublicKey(%q) succeeded", in)
		}
	}
}
