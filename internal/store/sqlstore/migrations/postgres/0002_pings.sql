-- Healthchecks-style pings. A job's ping UUID is derived from server-held key
-- material and shown again on demand, so only its SHA-256 is stored here, for
-- lookup; the row is written the first time the UUID is shown or created by a
-- ping with ?create=1. The job itself may not exist yet: the first ping makes it.
CREATE TABLE ping_checks (
    uuid_hash  BYTEA   PRIMARY KEY,
    session_id BIGINT  NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    UNIQUE (session_id, name)
);

-- Runs started by /start and not yet ended, so that the end's duration is
-- end - start. rid is '' for a start without ?rid= (the latest such start is
-- the one an end without rid closes).
CREATE TABLE ping_starts (
    session_id BIGINT  NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    rid        TEXT    NOT NULL,
    started_at BIGINT  NOT NULL,
    PRIMARY KEY (session_id, name, rid)
);
CREATE INDEX ping_starts_age ON ping_starts (started_at);
