-- Channels (issue 14, docs/channels.md): where else than the phone a session's
-- alerts go. Secrets are sealed (AES-256-GCM, under a key kept outside the
-- database) by package channel; shown is their masked form for the phone.
CREATE TABLE channels (
    id               TEXT    PRIMARY KEY,
    session_id       INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    type             TEXT    NOT NULL,
    notify           TEXT    NOT NULL DEFAULT 'failures',
    muted            TEXT    NOT NULL DEFAULT '[]',
    verified         INTEGER NOT NULL DEFAULT 0, -- email: its link was opened; other types: 1
    sealed           BLOB    NOT NULL,
    shown            TEXT    NOT NULL DEFAULT '{}',
    confirm_hash     BLOB    UNIQUE,   -- SHA-256 of the confirmation token, until it is used
    confirm_sent_at  INTEGER,          -- the last confirmation queued (one per 10 minutes)
    last_error_at    INTEGER,
    last_error       TEXT,
    failures         INTEGER NOT NULL DEFAULT 0, -- deliveries given up in a row
    first_failure_at INTEGER,          -- the first of them
    disabled_at      INTEGER,          -- turned itself off after failing too long
    created_at       INTEGER NOT NULL
);
CREATE INDEX channels_session ON channels (session_id);

-- The channels' delivery queue, with the semantics of push_jobs.
CREATE TABLE channel_jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a late worker must not complete a newer job
    channel_id      TEXT    NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    session_id      INTEGER NOT NULL,
    seq             INTEGER NOT NULL, -- 0: a test or confirmation, or an alert without a run
    kind            TEXT    NOT NULL,
    incident_id     INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    queued_at       INTEGER NOT NULL
);
CREATE INDEX channel_jobs_due ON channel_jobs (next_attempt_at);
CREATE INDEX channel_jobs_channel ON channel_jobs (channel_id);
