package api

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// tenement v0.1 kept a single admin token, hashed with Argon2id in PHC
// format, under this key of its config table; its CLI left the plain token
// in {data_dir}/api_token. Accepting it lets a data directory taken over
// from tenement keep its token until the operator runs `ten token-gen`,
// which rotates it away.
const legacyTokenKey = "api_token_hash"

// legacyCache remembers tokens already verified against the legacy hash:
// Argon2id costs tens of milliseconds and ~19 MiB per check, too much for
// every API call. Entries are bound to the hash they were checked against,
// so rotating the hash invalidates them.
type legacyCache struct {
	mu sync.Mutex
	ok map[[2]string]bool // {stored hash, HashToken(token)}
}

func (c *legacyCache) verify(ctx context.Context, db *sql.DB, token string) (bool, error) {
	var phc string
	err := db.QueryRowContext(ctx, `SELECT value FROM config WHERE key = ?`, legacyTokenKey).Scan(&phc)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read legacy token hash: %w", err)
	}
	k := [2]string{phc, HashToken(token)}
	c.mu.Lock()
	hit := c.ok[k]
	c.mu.Unlock()
	if hit {
		return true, nil
	}
	if !verifyArgon2id(phc, token) {
		return false, nil
	}
	c.mu.Lock()
	if c.ok == nil || len(c.ok) > 16 {
		c.ok = map[[2]string]bool{}
	}
	c.ok[k] = true
	c.mu.Unlock()
	return true, nil
}

// verifyArgon2id checks token against a PHC string such as
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func verifyArgon2id(phc, token string) bool {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<20 {
		return false
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false
	}
	got := argon2.IDKey([]byte(token), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
