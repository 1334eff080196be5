package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tenement/ten/runtime/names"
)

// Token scopes, as stored in tenant_tokens.scope.
const (
	ScopeAdmin  = "admin"
	ScopeTenant = "tenant"
)

// TokenPrefix starts every token ten issues, so that secret scanners and
// people can recognise one.
const TokenPrefix = "ten_"

// Identity is who a request authenticated as.
type Identity struct {
	Scope  string // ScopeAdmin or ScopeTenant
	Tenant string // for ScopeTenant: the instance id the token is limited to
}

// Admin reports whether the identity may do everything.
func (id Identity) Admin() bool { return id.Scope == ScopeAdmin }

// CanAccess reports whether the identity may act on instances with this id.
// A tenant token is bound to one instance id across services, the way
// tenement scopes it.
func (id Identity) CanAccess(instanceID string) bool {
	return id.Admin() || id.Tenant == instanceID
}

// Tokens issues and checks API tokens in the tenant_tokens table. Only the
// SHA-256 of a token is stored: tokens are 256 random bits, so a fast hash
// is enough, and a lookup by hash needs no per-row verification.
type Tokens struct {
	db     *sql.DB
	now    func() time.Time
	legacy *legacy
}

// NewTokens returns a token store over the state database.
func NewTokens(db *sql.DB, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{db: db, now: now, legacy: newLegacy()}
}

// GenerateToken returns a new random token.
func GenerateToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashToken is what tenant_tokens.token_hash holds for token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Issue is IssueAdmin for an empty tenant and IssueTenant otherwise, for
// callers that hold both in one string. A tenant that comes from a user
// must go through IssueTenant, which refuses an empty name: an empty
// --tenant must never mint an admin token.
func (t *Tokens) Issue(ctx context.Context, tenant string) (string, error) {
	if tenant == "" {
		return t.IssueAdmin(ctx)
	}
	return t.IssueTenant(ctx, tenant)
}

// IssueAdmin creates an admin token. It replaces every earlier admin
// token, including tenement's, as `tenement token-gen` rotated its single
// token.
func (t *Tokens) IssueAdmin(ctx context.Context) (string, error) {
	return t.issue(ctx, ScopeAdmin, nil)
}

// IssueTenant creates a token limited to instances with id tenant, which
// must follow the rule for instance ids (names.Check). Tenant tokens
// accumulate: one per tenant is typical, and issuing another must not log
// the first one out.
func (t *Tokens) IssueTenant(ctx context.Context, tenant string) (string, error) {
	if err := names.Check(tenant); err != nil {
		return "", fmt.Errorf("issue token: tenant: %w", err)
	}
	return t.issue(ctx, ScopeTenant, tenant)
}

func (t *Tokens) issue(ctx context.Context, scope string, tenantCol any) (string, error) {
	token, err := GenerateToken()
	if err != nil {
		return "", err
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	defer tx.Rollback()
	if scope == ScopeAdmin {
		if _, err := tx.ExecContext(ctx, `DELETE FROM tenant_tokens WHERE scope = ?`, ScopeAdmin); err != nil {
			return "", fmt.Errorf("issue token: revoke old admin tokens: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM config WHERE key = ?`, legacyTokenKey); err != nil {
			return "", fmt.Errorf("issue token: revoke tenement's admin token: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO tenant_tokens (token_hash, tenant, scope, created_at) VALUES (?, ?, ?, ?)`,
		HashToken(token), tenantCol, scope, t.now().UTC().Format(time.RFC3339)); err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return token, nil
}

// errBadToken means the token is unknown.
var errBadToken = errors.New("invalid token")

// Verify returns the identity of token, or errBadToken.
func (t *Tokens) Verify(ctx context.Context, token string) (Identity, error) {
	if token == "" || len(token) > 512 || strings.ContainsAny(token, " \t") {
		return Identity{}, errBadToken
	}
	var tenant sql.NullString
	var scope string
	err := t.db.QueryRowContext(ctx,
		`SELECT tenant, scope FROM tenant_tokens WHERE token_hash = ?`, HashToken(token)).Scan(&tenant, &scope)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Tokens ten issued carry its prefix; only others can be tenement's.
		if strings.HasPrefix(token, TokenPrefix) {
			return Identity{}, errBadToken
		}
		id, ok, err := t.legacy.verify(ctx, t.db, token)
		if err != nil {
			return Identity{}, err
		}
		if !ok {
			return Identity{}, errBadToken
		}
		return id, nil
	case err != nil:
		return Identity{}, fmt.Errorf("verify token: %w", err)
	}
	switch scope {
	case ScopeAdmin:
		return Identity{Scope: ScopeAdmin}, nil
	case ScopeTenant:
		if tenant.String == "" {
			// A tenant token without a tenant would match nothing; refuse
			// it rather than guess.
			return Identity{}, errBadToken
		}
		return Identity{Scope: ScopeTenant, Tenant: tenant.String}, nil
	default:
		return Identity{}, errBadToken
	}
}
