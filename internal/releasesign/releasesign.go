// Package releasesign signs release files with minisign keys, in Go, so
// that a release can be signed where the minisign tool is not installed.
//
// Keys and signatures use minisign's file formats: a secret key written by
// `minisign -G` (password-protected, or unencrypted with -W) is read here,
// and a key written here is read by minisign; signatures are the pre-hashed
// Ed25519 ("ED") kind that minisign 0.10 and later make, which
// `minisign -V`, aead.dev/minisign and `ten-upgrade` verify.
//
// Secret key file (after the "untrusted comment:" line, base64):
//
//	sig_alg "Ed" | kdf_alg "Sc" or 0x0000 | cksum_alg "B2" | salt[32] |
//	opslimit u64le | memlimit u64le | key_id[8] ^ ks | secret_key[64] ^ ks |
//	checksum[32] ^ ks
//
// where checksum = BLAKE2b-256("Ed" | key_id | secret_key) and ks, the
// keystream, is scrypt(password, salt) with libsodium's parameters derived
// from opslimit and memlimit (all zero for an unencrypted key).
package releasesign

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"aead.dev/minisign"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/scrypt"
)

// Algorithm identifiers, little-endian as minisign stores them.
const (
	algEd     uint16 = 0x6445 // "Ed": Ed25519 keys and plain signatures
	algHashed uint16 = 0x4445 // "ED": signatures of a BLAKE2b-512 digest
	kdfScrypt uint16 = 0x6353 // "Sc"
	kdfNone   uint16 = 0x0000 // minisign -W: the key is stored in clear
	ckBlake2b uint16 = 0x3242 // "B2"
)

const (
	keyFileSize  = 2 + 2 + 2 + 32 + 8 + 8 + keyDataSize
	keyDataSize  = 8 + ed25519.PrivateKeySize + 32 // key id, key, checksum
	maxOpsLimit  = 0x2000000                       // libsodium's ..._OPSLIMIT_SENSITIVE
	maxMemLimit  = 0x40000000                      // libsodium's ..._MEMLIMIT_SENSITIVE
	minOpsLimit  = 1 << 15
	untrustedTag = "untrusted comment: "
)

// Cost is the scrypt cost of a password-protected key file, in libsodium's
// terms.
type Cost struct {
	Ops uint64
	Mem uint64
}

// SensitiveCost is what `minisign -G` uses: about a second and 1 GiB of
// memory to try one password.
var SensitiveCost = Cost{Ops: maxOpsLimit, Mem: maxMemLimit}

// ErrWrongPassword means the checksum inside a secret key file did not
// match after decryption: the password is wrong (or the file damaged).
var ErrWrongPassword = errors.New("wrong password for the minisign secret key (or the key file is damaged)")

// SecretKey is a minisign secret key.
type SecretKey struct {
	ID  uint64
	Key ed25519.PrivateKey
}

// GenerateKey makes a new key pair from random (crypto/rand when nil).
func GenerateKey(random io.Reader) (SecretKey, error) {
	if random == nil {
		random = rand.Reader
	}
	_, priv, err := ed25519.GenerateKey(random)
	if err != nil {
		return SecretKey{}, err
	}
	var id [8]byte
	if _, err := io.ReadFull(random, id[:]); err != nil {
		return SecretKey{}, err
	}
	return SecretKey{ID: binary.LittleEndian.Uint64(id[:]), Key: priv}, nil
}

// KeyID formats the key ID as minisign prints it.
func (k SecretKey) KeyID() string { return strings.ToUpper(strconv.FormatUint(k.ID, 16)) }

// PublicKey returns the public half as aead.dev/minisign's type.
func (k SecretKey) PublicKey() minisign.PublicKey {
	var pub minisign.PublicKey
	if err := pub.UnmarshalText([]byte(k.publicBase64())); err != nil {
		panic("releasesign: cannot encode a public key: " + err.Error())
	}
	return pub
}

// publicBase64 is the public key line of a .pub file ("RW...").
func (k SecretKey) publicBase64() string {
	var b [2 + 8 + ed25519.PublicKeySize]byte
	binary.LittleEndian.PutUint16(b[0:], algEd)
	binary.LittleEndian.PutUint64(b[2:], k.ID)
	copy(b[10:], k.Key.Public().(ed25519.PublicKey))
	return base64.StdEncoding.EncodeToString(b[:])
}

// PublicKeyFile is the content of a minisign .pub file for the key.
func (k SecretKey) PublicKeyFile() []byte {
	return []byte(untrustedTag + "minisign public key " + k.KeyID() + "\n" + k.publicBase64() + "\n")
}

// MarshalSecretKey encodes the key as a minisign secret key file. With an
// empty password the key is stored unencrypted, as `minisign -G -W` does;
// otherwise it is encrypted with scrypt at cost (SensitiveCost when zero).
func MarshalSecretKey(k SecretKey, password string, cost Cost) ([]byte, error) {
	if len(k.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("releasesign: not an Ed25519 private key")
	}
	var b [keyFileSize]byte
	binary.LittleEndian.PutUint16(b[0:], algEd)
	binary.LittleEndian.PutUint16(b[4:], ckBlake2b)
	data := b[54:]
	binary.LittleEndian.PutUint64(data[0:], k.ID)
	copy(data[8:], k.Key)
	sum := checksum(data[:8+ed25519.PrivateKeySize])
	copy(data[8+ed25519.PrivateKeySize:], sum[:])

	comment := "minisign unencrypted secret key"
	if password != "" {
		if cost == (Cost{}) {
			cost = SensitiveCost
		}
		if cost.Ops > maxOpsLimit || cost.Mem > maxMemLimit {
			return nil, errors.New("releasesign: scrypt cost above minisign's limits")
		}
		binary.LittleEndian.PutUint16(b[2:], kdfScrypt)
		salt := b[6:38]
		if _, err := io.ReadFull(rand.Reader, salt); err != nil {
			return nil, err
		}
		binary.LittleEndian.PutUint64(b[38:], cost.Ops)
		binary.LittleEndian.PutUint64(b[46:], cost.Mem)
		if err := xorKeystream(data, password, salt, cost); err != nil {
			return nil, err
		}
		comment = "minisign encrypted secret key"
	}
	return []byte(untrustedTag + comment + "\n" + base64.StdEncoding.EncodeToString(b[:]) + "\n"), nil
}

// ParseSecretKey decodes a minisign secret key file. password is ignored
// for an unencrypted key.
func ParseSecretKey(text []byte, password string) (SecretKey, error) {
	body := text
	if line, rest, ok := bytes.Cut(text, []byte("\n")); ok && bytes.HasPrefix(line, []byte(untrustedTag)) {
		body = rest
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(firstLine(body))))
	if err != nil || len(raw) != keyFileSize {
		return SecretKey{}, errors.New("not a minisign secret key file")
	}
	if binary.LittleEndian.Uint16(raw[0:]) != algEd || binary.LittleEndian.Uint16(raw[4:]) != ckBlake2b {
		return SecretKey{}, errors.New("unsupported minisign secret key (algorithm is not Ed25519 with a BLAKE2b checksum)")
	}
	data := raw[54:]
	kdf := binary.LittleEndian.Uint16(raw[2:])
	switch kdf {
	case kdfNone:
	case kdfScrypt:
		if password == "" {
			return SecretKey{}, errors.New("the minisign secret key is encrypted: set its password")
		}
		cost := Cost{Ops: binary.LittleEndian.Uint64(raw[38:]), Mem: binary.LittleEndian.Uint64(raw[46:])}
		if cost.Ops > maxOpsLimit || cost.Mem > maxMemLimit {
			return SecretKey{}, errors.New("the minisign secret key asks for an scrypt cost above minisign's limits")
		}
		if err := xorKeystream(data, password, raw[6:38], cost); err != nil {
			return SecretKey{}, err
		}
	default:
		return SecretKey{}, fmt.Errorf("unsupported key derivation 0x%04x in the minisign secret key", kdf)
	}
	want := checksum(data[:8+ed25519.PrivateKeySize])
	got := data[8+ed25519.PrivateKeySize:]
	// `minisign -G -W` (0.11) leaves the checksum of an unencrypted key
	// zero; the check of the public half below still catches damage.
	unchecked := kdf == kdfNone && bytes.Equal(got, make([]byte, len(got)))
	if !unchecked && subtle.ConstantTimeCompare(want[:], got) != 1 {
		return SecretKey{}, ErrWrongPassword
	}
	key := make(ed25519.PrivateKey, ed25519.PrivateKeySize)
	copy(key, data[8:])
	// The stored key carries its public half; a key whose halves disagree
	// would make signatures nobody can verify.
	if !bytes.Equal(ed25519.NewKeyFromSeed(key.Seed()), key) {
		return SecretKey{}, errors.New("damaged minisign secret key: its public half does not match")
	}
	return SecretKey{ID: binary.LittleEndian.Uint64(data[0:]), Key: key}, nil
}

// LoadSecretKey reads a secret key file.
func LoadSecretKey(path, password string) (SecretKey, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return SecretKey{}, err
	}
	k, err := ParseSecretKey(text, password)
	if err != nil {
		return SecretKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func firstLine(b []byte) []byte {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return line
}

func checksum(idAndKey []byte) [32]byte {
	msg := make([]byte, 2+len(idAndKey))
	binary.LittleEndian.PutUint16(msg, algEd)
	copy(msg[2:], idAndKey)
	return blake2b.Sum256(msg)
}

// xorKeystream encrypts or decrypts data with scrypt(password, salt).
func xorKeystream(data []byte, password string, salt []byte, cost Cost) error {
	n, r, p := scryptParams(cost)
	ks, err := scrypt.Key([]byte(password), salt, n, r, p, len(data))
	if err != nil {
		return fmt.Errorf("scrypt: %w", err)
	}
	for i := range data {
		data[i] ^= ks[i]
	}
	return nil
}

// scryptParams maps libsodium's opslimit and memlimit to scrypt's N, r and
// p the way crypto_pwhash_scryptsalsa208sha256 (and so minisign) does.
func scryptParams(c Cost) (n, r, p int) {
	ops := max(c.Ops, minOpsLimit)
	r = 8
	logN := 1
	if ops < c.Mem/32 {
		p = 1
		maxN := ops / (4 * uint64(r))
		for ; logN < 63; logN++ {
			if uint64(1)<<logN > maxN/2 {
				break
			}
		}
	} else {
		maxN := c.Mem / (uint64(r) * 128)
		for ; logN < 63; logN++ {
			if uint64(1)<<logN > maxN/2 {
				break
			}
		}
		rp := min((ops/4)/(uint64(1)<<logN), 0x3fffffff)
		p = int(rp) / r
	}
	return 1 << logN, r, p
}

// Sign makes a minisign signature of message: pre-hashed with BLAKE2b-512
// ("ED", as minisign signs by default), with trustedComment signed along
// and untrustedComment not. Ed25519 is deterministic, so the same key,
// message and comments always give the same signature.
func Sign(k SecretKey, message []byte, trustedComment, untrustedComment string) ([]byte, error) {
	if strings.ContainsAny(trustedComment, "\r\n") || strings.ContainsAny(untrustedComment, "\r\n") {
		return nil, errors.New("signature comments must be one line")
	}
	digest := blake2b.Sum512(message)
	sig := minisign.Signature{
		Algorithm:        algHashed,
		KeyID:            k.ID,
		TrustedComment:   trustedComment,
		UntrustedComment: untrustedComment,
	}
	copy(sig.Signature[:], ed25519.Sign(k.Key, digest[:]))
	copy(sig.CommentSignature[:], ed25519.Sign(k.Key, append(sig.Signature[:], trustedComment...)))
	text, err := sig.MarshalText()
	if err != nil {
		return nil, err
	}
	return append(text, '\n'), nil
}

// TrustedComment is minisign's default trusted comment for a file signed at
// the Unix time ts.
func TrustedComment(ts int64, fileName string) string {
	return fmt.Sprintf("timestamp:%d\tfile:%s\thashed", ts, fileName)
}

// Verify checks a minisign signature of message with the public key: the
// signature over the message and the one over its trusted comment. It
// returns the trusted comment.
func Verify(pub minisign.PublicKey, message, signature []byte) (string, error) {
	var sig minisign.Signature
	if err := sig.UnmarshalText(signature); err != nil {
		return "", fmt.Errorf("malformed signature: %w", err)
	}
	if sig.KeyID != pub.ID() {
		return "", fmt.Errorf("signed by key %X, not by %X", sig.KeyID, pub.ID())
	}
	if !minisign.Verify(pub, message, signature) {
		return "", errors.New("the signature does not match the file")
	}
	return sig.TrustedComment, nil
}

// ReadPublicKey reads a minisign public key: its "RW..." text, or a .pub
// file's content.
func ReadPublicKey(text []byte) (minisign.PublicKey, error) {
	var pub minisign.PublicKey
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, untrustedTag) {
			continue
		}
		if err := pub.UnmarshalText([]byte(line)); err != nil {
			return pub, err
		}
		return pub, nil
	}
	return pub, errors.New("no minisign public key found")
}
