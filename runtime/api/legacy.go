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

	"github.com/tenement/ten/migrations"
	"github.com/tenement/ten/runtime/names"
)

// tenement keeps its admin token, hashed with Argon2id in PHC format, under
// this key of its config table (tenement/src/auth.rs:50); its CLI left the
// plain token in {data_dir}/api_token. Accepting it lets a data directory
// taken over from tenement keep its token until the operator runs
// `ten token-gen`, which rotates it away.
const legacyTokenKey = "api_token_hash"

// tenementTokenLen is the length of every token tenement issues: 32 random
// bytes in unpadded URL-safe base64 (auth.rs:14-21).
const tenementTokenLen = 43

// tenementPrefixLen is how many leading characters of a tenant token
// tenement v0.2.2 stores in token_prefix to find its row.
const tenementPrefixLen = 8

// argon2Slots bounds how many Argon2id checks run at once. Each one
// allocates its m parameter in memory (19 MiB with tenement's
// Argon2::default(), auth.rs:26), so without a bound a flood of
// well-formed bad tokens costs that much per concurrent request; with it,
// memory stays at a few checks' worth and the rest wait their turn.
const argon2Slots = 2

// maxArgon2Memory caps the m parameter (KiB) accepted from a stored hash,
// so that one hash cannot make each check allocate without limit.
const maxArgon2Memory = 64 << 10

// argon2Func is argon2.IDKey's signature; tests count the calls.
type argon2Func func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte

// legacy checks tokens tenement issued: the admin token in config, and
// v0.2.2's per-tenant tokens, which stamping moved to
// migrations.TenementTenantTokens.
type legacy struct {
	slots chan struct{}
	idKey argon2Func

	mu sync.Mutex
	// ok remembers tokens already verified, keyed by {stored hash,
	// HashToken(token)}: Argon2id costs tens of milliseconds per check,
	// too much for every API call. Binding an entry to the stored hash
	// means rotating or deleting the hash invalidates it.
	ok map[[2]string]bool
}

func newLegacy() *legacy {
	return &legacy{slots: make(chan struct{}, argon2Slots), idKey: argon2.IDKey}
}

// verify returns the identity of a tenement token. Tokens that cannot be
// tenement's (wrong length or alphabet, auth.rs:14-21) and tenant tokens
// whose first 8 characters match no stored token_prefix are refused without
// running Argon2.
func (l *legacy) verify(ctx context.Context, db *sql.DB, token string) (Identity, bool, error) {
	if !tenementShaped(token) {
		return Identity{}, false, nil
	}
	id, ok, err := l.verifyTenant(ctx, db, token)
	if err != nil || ok {
		return id, ok, err
	}
	var phc string
	err = db.QueryRowContext(ctx, `SELECT value FROM config WHERE key = ?`, legacyTokenKey).Scan(&phc)
	if errors.Is(err, sql.ErrNoRows) {
		return Identity{}, false, nil
	}
	if err != nil {
		return Identity{}, false, fmt.Errorf("read tenement's admin token hash: %w", err)
	}
	ok, err = l.check(ctx, phc, token)
	if err != nil || !ok {
		return Identity{}, false, err
	}
	return Identity{Scope: ScopeAdmin}, true, nil
}

// verifyTenant looks the token up by its prefix among tenement's tenant
// tokens and verifies it against the (normally one) row found.
func (l *legacy) verifyTenant(ctx context.Context, db *sql.DB, token string) (Identity, bool, error) {
	cols, err := migrations.Columns(ctx, db, migrations.TenementTenantTokens)
	if err != nil {
		return Identity{}, false, err
	}
	col := migrations.TenantColumn(cols)
	if col == "" || !cols["token_prefix"] || !cols["token_hash"] {
		return Identity{}, false, nil
	}
	// col is one of migrations.TenantColumns, never input.
	rows, err := db.QueryContext(ctx,
		`SELECT `+col+`, token_hash FROM `+migrations.TenementTenantTokens+` WHERE token_prefix = ? LIMIT 4`,
		token[:tenementPrefixLen])
	if err != nil {
		return Identity{}, false, fmt.Errorf("read tenement's tenant tokens: %w", err)
	}
	type candidate struct{ tenant, phc string }
	var found []candidate
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.tenant, &c.phc); err != nil {
			rows.Close()
			return Identity{}, false, fmt.Errorf("read tenement's tenant tokens: %w", err)
		}
		found = append(found, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Identity{}, false, fmt.Errorf("read tenement's tenant tokens: %w", err)
	}
	for _, c := range found {
		// A tenant name ten could not route to would scope the token to
		// nothing; refuse it rather than guess.
		if names.Check(c.tenant) != nil {
			continue
		}
		ok, err := l.check(ctx, c.phc, token)
		if err != nil {
			return Identity{}, false, err
		}
		if ok {
			return Identity{Scope: ScopeTenant, Tenant: c.tenant}, true, nil
		}
	}
	return Identity{}, false, nil
}

// check verifies token against a PHC string, from the cache if it was
// verified before, else in one of the Argon2 slots.
func (l *legacy) check(ctx context.Context, phc, token string) (bool, error) {
	k := [2]string{phc, HashToken(token)}
	l.mu.Lock()
	hit := l.ok[k]
	l.mu.Unlock()
	if hit {
		return true, nil
	}
	p, ok := parsePHC(phc)
	if !ok {
		return false, nil
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("verify token: %w", ctx.Err())
	}
	got := l.idKey([]byte(token), p.salt, p.t, p.m, p.p, uint32(len(p.key)))
	<-l.slots
	if subtle.ConstantTimeCompare(got, p.key) != 1 {
		return false, nil
	}
	l.mu.Lock()
	if l.ok == nil || len(l.ok) >= 64 {
		l.ok = map[[2]string]bool{}
	}
	l.ok[k] = true
	l.mu.Unlock()
	return true, nil
}

// tenementShaped reports whether token could have come from tenement's
// generate_token: 43 characters of the URL-safe base64 alphabet.
func tenementShaped(token string) bool {
	if len(token) != tenementTokenLen {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

type phcParams struct {
	m, t      uint32
	p         uint8
	salt, key []byte
}

// parsePHC reads an Argon2id PHC string such as
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, the format the Rust
// password-hash crate writes (auth.rs:24-31).
func parsePHC(phc string) (phcParams, bool) {
	var p phcParams
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		return p, false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.m, &p.t, &p.p); err != nil ||
		p.m == 0 || p.m > maxArgon2Memory || p.t == 0 || p.t > 16 || p.p == 0 || p.p > 16 {
		return p, false
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return p, false
	}
	if p.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return p, false
	}
	return p, true
}
