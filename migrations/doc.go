// Package migrations holds the schema of ten's state database
// ({data_dir}/tenement.db) and the code that moves a database between
// schema versions.
//
// # Files
//
// Each migration is a file NNNN_name.sql embedded in the binary. NNNN is the
// schema version the file produces; versions start at 1 and have no gaps.
// The first line of every file is a marker that classifies it:
//
//	-- ten:migration kind=expand
//	-- ten:migration kind=contract
//
// An expand migration leaves the schema usable by binaries that predate it:
// new tables, new nullable columns, new indexes. A contract migration does
// not: it drops or renames something, or adds a constraint old code would
// violate. A file without a valid marker is a build defect: the package
// panics at init with the file's name, and TestEmbeddedMarkers checks every
// file, including test-only ones a given build does not embed.
//
// Version 1 (0001) is the schema tenement's init_db creates (logs, its
// full-text index and triggers, config: tenement/src/store.rs:40-101),
// statement for statement, plus ten's first tables (instance_state,
// tenant_tokens, deploy_log), all IF NOT EXISTS, so that a database written
// by tenement is adopted in place ("stamped") rather than rebuilt. tenement
// v0.2.2's own tenant_tokens table (Argon2id hashes found by token_prefix)
// is moved aside to tenement_tenant_tokens, rows intact, before ten's is
// created. 0001's header comment calls the whole file tenement's schema;
// that is not so, but the file cannot change (its checksum is recorded in
// every database), so this comment and stamp.go are the reference. See
// stamp.go.
//
// # Compatibility floor
//
// ten-upgrade must know whether the binary it rolls back to can still open a
// database the new binary has migrated. The floor of schema version S is the
// newest contract migration at or below S (at least 1, since 0001 is the
// baseline every ten binary knows). A binary that knows schema N may open a
// database at S > N only if floor(S) <= N: everything after the floor was an
// expand and left the schema usable by N.
//
// An old binary cannot compute floor(S) from its own files because it has
// never seen the migrations above N. The database therefore records every
// migration applied to it in ten_schema_migrations, written in the same
// transaction as the migration itself. That table's shape is a contract with
// every past and future binary; only ever add nullable columns to it.
//
// # Identification
//
// PRAGMA user_version holds the schema version and PRAGMA application_id
// holds [ApplicationID], set in the same transaction as every migration.
// A database with another non-zero application_id belongs to some other
// program and is never touched.
//
// # Writing migrations
//
// Apply runs each file inside BEGIN IMMEDIATE ... COMMIT, so a file must not
// contain its own BEGIN/COMMIT (trigger bodies are fine) nor statements that
// cannot run in a transaction (VACUUM, PRAGMA foreign_keys, journal_mode).
// A file is all or nothing: if any statement fails, nothing from it remains
// and user_version is unchanged.
package migrations
