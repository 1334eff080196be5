package api

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/tenement/ten/internal/tenementdb"
	"github.com/tenement/ten/migrations"
)

// openTenementDB builds a tenement v0.2.2 database with an admin token and
// tenant tokens for alice and bob, then migrates it as ten serve does.
func openTenementDB(t testing.TB, opt tenementdb.Options) (*sql.DB, tenementdb.Tokens) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "tenement.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	toks, err := tenementdb.Build(context.Background(), db, opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Apply(context.Background(), db, migrations.All(), false); err != nil {
		t.Fatal(err)
	}
	return db, toks
}

// countingArgon2 wraps argon2.IDKey, counting calls and the most that ran
// at once.
type countingArgon2 struct {
	calls, inFlight, maxInFlight atomic.Int64
}

func (c *countingArgon2) idKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	c.calls.Add(1)
	n := c.inFlight.Add(1)
	for {
		m := c.maxInFlight.Load()
		if n <= m || c.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	defer c.inFlight.Add(-1)
	return argon2.IDKey(password, salt, time, memory, threads, keyLen)
}

// TestTenementV022TokensAccepted: tenement's admin token (config
// api_token_hash, auth.rs:50) and its tenant tokens (found by their first 8
// characters, then verified) authenticate after adoption, with the right
// scope; near misses do not.
func TestTenementV022TokensAccepted(t *testing.T) {
	ctx := context.Background()
	db, toks := openTenementDB(t, tenementdb.Options{TenantColumn: "tenant_id", Tenants: []string{"alice", "bob"}})
	tokens := NewTokens(db, nil)
	for _, tc := range []struct {
		name, token string
		want        Identity
		err         error
	}{
		{"admin", toks.Admin, Identity{Scope: ScopeAdmin}, nil},
		{"tenant alice", toks.Tenant["alice"], Identity{Scope: ScopeTenant, Tenant: "alice"}, nil},
		{"tenant bob", toks.Tenant["bob"], Identity{Scope: ScopeTenant, Tenant: "bob"}, nil},
		{"alice's prefix, wrong rest", toks.Tenant["alice"][:8] + strings.Repeat("A", 35), Identity{}, errBadToken},
		{"admin with one character changed", toks.Admin[:42] + flip(toks.Admin[42]), Identity{}, errBadToken},
		{"tenant token with a character added", toks.Tenant["alice"] + "A", Identity{}, errBadToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the second check is served from the cache
				got, err := tokens.Verify(ctx, tc.token)
				if !errors.Is(err, tc.err) || got != tc.want {
					t.Fatalf("Verify = %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
				}
			}
		})
	}

	// ten token-gen rotates tenement's admin token away, and leaves
	// tenement's tenant tokens alone, as tenant tokens accumulate.
	if _, err := tokens.IssueAdmin(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := NewTokens(db, nil).Verify(ctx, toks.Admin); !errors.Is(err, errBadToken) {
		t.Errorf("tenement admin token after rotation: %v", err)
	}
	if id, err := NewTokens(db, nil).Verify(ctx, toks.Tenant["alice"]); err != nil || id.Tenant != "alice" {
		t.Errorf("tenement tenant token after admin rotation: %+v, %v", id, err)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestBadTokensSkipArgon2 checks that a token which cannot be tenement's
// (ten's prefix, or not the 43-character URL-safe base64 of auth.rs:14-21)
// is refused without running Argon2 even with tenement's admin hash present,
// and that a tenant token whose first 8 characters match no token_prefix
// costs nothing either.
func TestBadTokensSkipArgon2(t *testing.T) {
	ctx := context.Background()
	withAdmin, _ := openTenementDB(t, tenementdb.Options{TenantColumn: "tenant", Tenants: []string{"alice"}})
	noAdmin, toks := openTenementDB(t, tenementdb.Options{TenantColumn: "tenant", Tenants: []string{"alice"}, NoAdmin: true})
	for _, tc := range []struct {
		name  string
		db    *sql.DB
		token string
	}{
		{"ten prefix", withAdmin, TokenPrefix + tenementdb.GenerateToken()},
		{"too short", withAdmin, "abc"},
		{"too long", withAdmin, tenementdb.GenerateToken() + "x"},
		{"outside the alphabet", withAdmin, strings.Repeat("!", 43)},
		{"unknown tenant prefix", noAdmin, "zzzzzzzz" + tenementdb.GenerateToken()[8:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens := NewTokens(tc.db, nil)
			var c countingArgon2
			tokens.legacy.idKey = c.idKey
			if _, err := tokens.Verify(ctx, tc.token); !errors.Is(err, errBadToken) {
				t.Fatalf("Verify = %v, want errBadToken", err)
			}
			if n := c.calls.Load(); n != 0 {
				t.Errorf("Argon2 ran %d times for a token that fails on its prefix", n)
			}
		})
	}
	// The matching prefix is the one case that costs a check.
	tokens := NewTokens(noAdmin, nil)
	var c countingArgon2
	tokens.legacy.idKey = c.idKey
	if _, err := tokens.Verify(ctx, toks.Tenant["alice"][:8]+strings.Repeat("Q", 35)); !errors.Is(err, errBadToken) {
		t.Fatal(err)
	}
	if n := c.calls.Load(); n != 1 {
		t.Errorf("Argon2 ran %d times for a matching prefix, want 1", n)
	}
}

// TestBadTokenFloodBoundsArgon2 sends many concurrent well-formed bad
// tokens with tenement's admin hash present (each one must be checked
// against it) and checks that no more than argon2Slots Argon2 runs were
// ever in flight, which is what keeps memory flat.
func TestBadTokenFloodBoundsArgon2(t *testing.T) {
	ctx := context.Background()
	db, _ := openTenementDB(t, tenementdb.Options{})
	tokens := NewTokens(db, nil)
	var c countingArgon2
	tokens.legacy.idKey = c.idKey
	const n = 20
	verifyUnknown(t, ctx, tokens, n)
	if got := c.calls.Load(); got != n {
		t.Errorf("Argon2 ran %d times, want %d", got, n)
	}
	if got := c.maxInFlight.Load(); got > argon2Slots {
		t.Errorf("%d Argon2 runs at once, want at most %d", got, argon2Slots)
	}
}

// TestArgon2WaitHonoursContext: a check waiting for a slot gives up when
// its request is cancelled instead of queueing forever.
func TestArgon2WaitHonoursContext(t *testing.T) {
	l := newLegacy()
	var c countingArgon2
	l.idKey = c.idKey
	for range argon2Slots {
		l.slots <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	token := tenementdb.GenerateToken()
	if _, err := l.check(ctx, tenementdb.HashToken(token), token); !errors.Is(err, context.Canceled) {
		t.Fatalf("check with all slots taken and a cancelled context = %v, want context.Canceled", err)
	}
	if n := c.calls.Load(); n != 0 {
		t.Errorf("Argon2 ran %d times without a slot", n)
	}
}

func TestIssueTenantRefusesInvalidNames(t *testing.T) {
	ctx := context.Background()
	db, _ := openTenementDB(t, tenementdb.Options{NoAdmin: true})
	tokens := NewTokens(db, nil)
	for _, tenant := range []string{"", "a/b", "-x", "web:alice", strings.Repeat("a", 64)} {
		if _, err := tokens.IssueTenant(ctx, tenant); err == nil || !strings.Contains(err.Error(), "letters, digits") {
			t.Errorf("IssueTenant(%q) = %v, want an error stating the rule", tenant, err)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM tenant_tokens`).Scan(&n); err != nil || n != 0 {
		t.Errorf("tenant_tokens has %d rows after refused issues (%v)", n, err)
	}
}

// verifyUnknown verifies n unknown tokens at once; each must be refused.
func verifyUnknown(tb testing.TB, ctx context.Context, tokens *Tokens, n int) {
	tb.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := tokens.Verify(ctx, tenementdb.GenerateToken()); !errors.Is(err, errBadToken) {
				tb.Errorf("Verify = %v, want errBadToken", err)
			}
		})
	}
	wg.Wait()
}
