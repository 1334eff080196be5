package release

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"aead.dev/minisign"
)

// ParsePublicKey reads a minisign public key given as its base64 text
// ("RWQ..."), as the contents of a minisign .pub file, or as the path of
// such a file.
func ParsePublicKey(s string) (minisign.PublicKey, error) {
	s = strings.TrimSpace(s)
	var key minisign.PublicKey
	if s == "" {
		return key, errors.New("empty public key")
	}
	if err := key.UnmarshalText([]byte(s)); err == nil {
		return key, nil
	}
	data, err := os.ReadFile(s)
	if err != nil {
		return key, fmt.Errorf("public key %q is neither a minisign key (RW...) nor a readable file", s)
	}
	if err := key.UnmarshalText(bytes.TrimSpace(data)); err != nil {
		return key, fmt.Errorf("public key file %s: %w", s, err)
	}
	return key, nil
}

// KeyID formats a minisign key ID the way minisign prints it.
func KeyID(id uint64) string {
	return strings.ToUpper(strconv.FormatUint(id, 16))
}

// VerifySignature checks a minisign signature over message with the pinned
// key. A signature by another key, a malformed signature and a signature
// that does not match the message are distinct errors.
func VerifySignature(key minisign.PublicKey, message, signature []byte) error {
	var sig minisign.Signature
	if err := sig.UnmarshalText(signature); err != nil {
		return fmt.Errorf("malformed minisign signature: %w", err)
	}
	if sig.KeyID != key.ID() {
		return fmt.Errorf("signed by key %s, but the pinned public key is %s (wrong key, or the release was re-signed)", KeyID(sig.KeyID), KeyID(key.ID()))
	}
	if !minisign.Verify(key, message, signature) {
		return fmt.Errorf("signature by key %s does not match the file: it was altered after signing", KeyID(key.ID()))
	}
	return nil
}

// Checksums maps file names to lowercase hex SHA-256 digests, as listed in
// a GoReleaser checksums.txt.
type Checksums map[string]string

// ParseChecksums reads sha256sum-style lines: "<64 hex>  <name>" (a "*"
// before the name marks binary mode). A file listed twice with different
// digests is an error.
func ParseChecksums(data []byte) (Checksums, error) {
	sums := Checksums{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("checksums line %d: want \"<sha256>  <file>\", got %q", line, text)
		}
		sum, name := strings.ToLower(fields[0]), strings.TrimPrefix(fields[1], "*")
		if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("checksums line %d: %q is not a SHA-256 digest", line, fields[0])
		}
		if prev, ok := sums[name]; ok && prev != sum {
			return nil, fmt.Errorf("checksums list %s twice with different digests", name)
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(sums) == 0 {
		return nil, errors.New("checksums file is empty")
	}
	return sums, nil
}

// Verify compares the digest of the file called name with the listed one.
func (c Checksums) Verify(name, sum string) error {
	want, ok := c[name]
	if !ok {
		return fmt.Errorf("%s is not listed in the checksums file", name)
	}
	if !strings.EqualFold(want, sum) {
		return fmt.Errorf("SHA-256 of %s is %s, but the signed checksums say %s: the download is corrupt or was tampered with", name, short(sum), short(want))
	}
	return nil
}

// FileSHA256 returns the hex SHA-256 of a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func short(sum string) string {
	if len(sum) > 16 {
		return sum[:16] + "…"
	}
	return sum
}
