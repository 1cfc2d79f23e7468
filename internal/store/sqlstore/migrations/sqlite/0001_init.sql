-- Times are Unix milliseconds (UTC). Secrets are SHA-256 hashes.

CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY,
    key_hash      BLOB    NOT NULL UNIQUE,
    host          TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    last_seq      INTEGER NOT NULL DEFAULT 0,
    event_count   INTEGER NOT NULL DEFAULT 0,
    last_event_at INTEGER
);

CREATE TABLE pairings (
    code_hash      BLOB    PRIMARY KEY,
    session_id     INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    replace_others INTEGER NOT NULL DEFAULT 0,
    used_at        INTEGER
);
CREATE INDEX pairings_expiry ON pairings (expires_at);

CREATE TABLE devices (
    id            TEXT    PRIMARY KEY,
    session_id    INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash    BLOB    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    paired_at     INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    notify        TEXT    NOT NULL DEFAULT 'failures',
    muted         TEXT    NOT NULL DEFAULT '[]',
    push_endpoint TEXT,
    push_p256dh   TEXT,
    push_auth     TEXT
);
CREATE INDEX devices_session ON devices (session_id);

CREATE TABLE events (
    session_id      INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    client_id       TEXT,
    name            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    duration_ms     REAL,
    ts              INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    error_type      TEXT,
    error_message   TEXT,
    error_traceback TEXT,
    metadata        TEXT,
    source          TEXT,
    PRIMARY KEY (session_id, seq)
);
CREATE UNIQUE INDEX events_client_id ON events (session_id, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX events_name ON events (session_id, name, seq);
CREATE INDEX events_received ON events (received_at);

-- One row per event name of a session, kept by AppendEvents and PruneEvents.
CREATE TABLE jobs (
    session_id  INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    last_seq    INTEGER NOT NULL,
    last_status TEXT    NOT NULL,
    runs        INTEGER NOT NULL,
    failures    INTEGER NOT NULL,
    PRIMARY KEY (session_id, name)
);

CREATE TABLE push_jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a late worker must not complete a newer job
    device_id       TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    session_id      INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    kind            TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
);
CREATE INDEX push_jobs_due ON push_jobs (next_attempt_at);
CREATE INDEX push_jobs_device ON push_jobs (device_id);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
