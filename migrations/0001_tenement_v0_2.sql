-- ten:migration kind=expand
--
-- Baseline: the schema tenement v0.2.x creates in {data_dir}/tenement.db,
-- statement for statement, including its IF NOT EXISTS clauses. Those clauses
-- are what lets a database tenement created be adopted in place: running
-- this file on it creates only what is missing and leaves every row alone
-- (see stamp.go). The kind is irrelevant for the baseline; Floor treats
-- version 1 as a floor either way.
--
-- Never edit this file. Databases record its checksum, and any change here
-- belongs in a new migration.

CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    level TEXT NOT NULL,
    process TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    message TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_logs_process ON logs(process);
CREATE INDEX IF NOT EXISTS idx_logs_instance ON logs(instance_id);
CREATE INDEX IF NOT EXISTS idx_logs_timestamp ON logs(timestamp DESC);

CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(
    message,
    content='logs',
    content_rowid='id'
);

CREATE TRIGGER IF NOT EXISTS logs_ai AFTER INSERT ON logs BEGIN
    INSERT INTO logs_fts(rowid, message) VALUES (new.id, new.message);
END;

CREATE TRIGGER IF NOT EXISTS logs_ad AFTER DELETE ON logs BEGIN
    INSERT INTO logs_fts(logs_fts, rowid, message) VALUES('delete', old.id, old.message);
END;

CREATE TABLE IF NOT EXISTS config (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS instance_state (
    process TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    port INTEGER,
    pid INTEGER,
    weight INTEGER NOT NULL DEFAULT 100,
    status TEXT NOT NULL DEFAULT 'running',
    restarts INTEGER NOT NULL DEFAULT 0,
    started_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (process, instance_id)
);

CREATE INDEX IF NOT EXISTS idx_instance_state_status ON instance_state(status);

CREATE TABLE IF NOT EXISTS tenant_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    tenant TEXT,
    scope TEXT NOT NULL DEFAULT 'tenant',
    created_at TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_tenant_tokens_tenant ON tenant_tokens(tenant);

CREATE TABLE IF NOT EXISTS deploy_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    process TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT,
    timestamp TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_deploy_log_instance ON deploy_log(process, instance_id);
