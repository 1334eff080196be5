-- ten:migration kind=expand
--
-- State for two servers sharing one data directory. Everything is additive
-- and nullable, so a binary at schema 1 (and tenement v0.2.x itself) keeps
-- working on a database at schema 2.

-- proc_start_time is the supervised process's creation time in Unix
-- milliseconds. A PID alone can be reused after a reboot or wrap-around;
-- PID plus start time cannot, so a server never signals a stranger.
-- owner is the id (servers.id) of the server supervising the instance.
ALTER TABLE instance_state ADD COLUMN proc_start_time INTEGER;
ALTER TABLE instance_state ADD COLUMN owner TEXT;
ALTER TABLE instance_state ADD COLUMN log_path TEXT;

CREATE INDEX idx_instance_state_owner ON instance_state(owner);

-- At most one row: the server currently allowed to supervise. Times are
-- Unix milliseconds. A holder whose heartbeat_at is stale, or whose
-- (pid, proc_start_time) no longer names a live process, may be replaced.
CREATE TABLE supervisor_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    pid INTEGER NOT NULL,
    proc_start_time INTEGER NOT NULL,
    addr TEXT,
    heartbeat_at INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL
);

-- Every server process attached to this data directory. Times are Unix
-- milliseconds.
CREATE TABLE servers (
    id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    proc_start_time INTEGER NOT NULL,
    addr TEXT,
    version TEXT,
    started_at INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);
