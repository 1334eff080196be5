// Package tenementdb builds state databases exactly as tenement v0.2.2 (the
// Rust program ten replaces) leaves them, with real Argon2id tokens, so
// that tests of ten's adoption of such a database run against the real
// thing rather than ten's idea of it. It is used by tests only.
//
// Citations are to russellromney/tenement. The CREATE statements are copied
// verbatim from tenement/src/store.rs init_db; line numbers are those of the
// revision of store.rs and auth.rs that could be read while this was written
// (0693664), which is the v0.2 line's init_db.
package tenementdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"time"

	"golang.org/x/crypto/argon2"
)

// Schema is init_db's statements, in the order tenement issues them.
var Schema = []string{
	// store.rs:40-51
	`CREATE TABLE IF NOT EXISTS logs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            timestamp TEXT NOT NULL,
            level TEXT NOT NULL,
            process TEXT NOT NULL,
            instance_id TEXT NOT NULL,
            message TEXT NOT NULL
        );

        CREATE INDEX IF NOT EXISTS idx_logs_process ON logs(process);
        CREATE INDEX IF NOT EXISTS idx_logs_instance ON logs(instance_id);
        CREATE INDEX IF NOT EXISTS idx_logs_timestamp ON logs(timestamp DESC);`,
	// store.rs:61-65
	`CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(
            message,
            content='logs',
            content_rowid='id'
        );`,
	// store.rs:75-77
	`CREATE TRIGGER IF NOT EXISTS logs_ai AFTER INSERT ON logs BEGIN
            INSERT INTO logs_fts(rowid, message) VALUES (new.id, new.message);
        END;`,
	// store.rs:86-88
	`CREATE TRIGGER IF NOT EXISTS logs_ad AFTER DELETE ON logs BEGIN
            INSERT INTO logs_fts(logs_fts, rowid, message) VALUES('delete', old.id, old.message);
        END;`,
	// store.rs:98-101
	`CREATE TABLE IF NOT EXISTS config (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );`,
}

// TenantTokenSchema is the v0.2.2 per-tenant token table: one Argon2id PHC
// string per token, found by token_prefix (the token's first 8 characters)
// and then verified. The readable init_db revision predates it, so its
// column set is the one the v0.2.2 token lookup needs; TenantColumn names
// the tenant column, which ten's adoption finds by name among the
// spellings it accepts.
func TenantTokenSchema(tenantColumn string) string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS tenant_tokens (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            %s TEXT NOT NULL,
            token_prefix TEXT NOT NULL,
            token_hash TEXT NOT NULL,
            created_at TEXT NOT NULL
        );

        CREATE INDEX IF NOT EXISTS idx_tenant_tokens_prefix ON tenant_tokens(token_prefix);`, tenantColumn)
}

// AdminTokenKey is where tenement keeps the admin token's hash in its
// config table (auth.rs:50, TokenStore::TOKEN_HASH_KEY).
const AdminTokenKey = "api_token_hash"

// PrefixLen is how many leading characters of a tenant token are stored
// in token_prefix.
const PrefixLen = 8

// GenerateToken makes a token as auth.rs:17-21 does: 32 random bytes,
// URL-safe base64 without padding (43 characters).
func GenerateToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken hashes token as auth.rs:24-31 does: Argon2::default() is
// Argon2id, version 0x13, m=19456 KiB, t=2, p=1, a 32-byte output and a
// 16-byte random salt (SaltString::generate), written as a PHC string with
// unpadded standard base64.
func HashToken(token string) string {
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		panic(err)
	}
	const m, t, p = 19456, 2, 1
	key := argon2.IDKey([]byte(token), salt[:], t, m, p, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p,
		base64.RawStdEncoding.EncodeToString(salt[:]), base64.RawStdEncoding.EncodeToString(key))
}

// LogRow is one row of tenement's logs table.
type LogRow struct {
	Time              time.Time
	Level             string // "stdout" or "stderr"
	Process, Instance string
	Message           string
}

// Tokens are the plaintext tokens a Build wrote hashes of.
type Tokens struct {
	Admin  string
	Tenant map[string]string // tenant -> token
}

// Options says what Build writes besides the schema.
type Options struct {
	// TenantColumn is the tenant column of tenant_tokens; "" leaves that
	// table out, as tenement releases before per-tenant tokens did.
	TenantColumn string
	Tenants      []string // one tenant token each
	Logs         []LogRow
	Config       map[string]string // extra config rows
	NoAdmin      bool              // no admin token hash
}

// Build writes tenement's schema and rows into db (an empty database) and
// returns the plaintext tokens.
func Build(ctx context.Context, db *sql.DB, opt Options) (Tokens, error) {
	var toks Tokens
	stmts := append([]string(nil), Schema...)
	if opt.TenantColumn != "" {
		stmts = append(stmts, TenantTokenSchema(opt.TenantColumn))
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return toks, fmt.Errorf("tenement schema: %w", err)
		}
	}
	for _, l := range opt.Logs {
		// store.rs flush_batch: timestamps are chrono's to_rfc3339 (+00:00).
		ts := l.Time.UTC().Format("2006-01-02T15:04:05.999999999-07:00")
		if _, err := db.ExecContext(ctx,
			`INSERT INTO logs (timestamp, level, process, instance_id, message) VALUES (?, ?, ?, ?, ?)`,
			ts, l.Level, l.Process, l.Instance, l.Message); err != nil {
			return toks, fmt.Errorf("tenement logs: %w", err)
		}
	}
	for k, v := range opt.Config {
		if _, err := db.ExecContext(ctx, `INSERT OR REPLACE INTO config (key, value) VALUES (?, ?)`, k, v); err != nil {
			return toks, fmt.Errorf("tenement config: %w", err)
		}
	}
	if !opt.NoAdmin {
		toks.Admin = GenerateToken()
		// store.rs ConfigStore::set: INSERT OR REPLACE INTO config.
		if _, err := db.ExecContext(ctx, `INSERT OR REPLACE INTO config (key, value) VALUES (?, ?)`,
			AdminTokenKey, HashToken(toks.Admin)); err != nil {
			return toks, fmt.Errorf("tenement admin token: %w", err)
		}
	}
	if len(opt.Tenants) > 0 {
		if opt.TenantColumn == "" {
			return toks, fmt.Errorf("tenant tokens need Options.TenantColumn")
		}
		toks.Tenant = map[string]string{}
		for _, tenant := range opt.Tenants {
			tok := GenerateToken()
			toks.Tenant[tenant] = tok
			q := fmt.Sprintf(`INSERT INTO tenant_tokens (%s, token_prefix, token_hash, created_at) VALUES (?, ?, ?, ?)`, opt.TenantColumn)
			if _, err := db.ExecContext(ctx, q, tenant, tok[:PrefixLen], HashToken(tok),
				time.Now().UTC().Format(time.RFC3339)); err != nil {
				return toks, fmt.Errorf("tenement tenant token: %w", err)
			}
		}
	}
	return toks, nil
}
