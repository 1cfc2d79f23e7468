-- The job model (docs/jobs.md): the run and expectation events carry, and each
-- job's own state, kept by AppendEvents in the commit that stores its events, so
-- that reading a job never scans its events.
ALTER TABLE events ADD COLUMN run TEXT;
ALTER TABLE events ADD COLUMN expect TEXT;

ALTER TABLE jobs ADD COLUMN state          TEXT    NOT NULL DEFAULT 'new';
ALTER TABLE jobs ADD COLUMN expect_code    TEXT;             -- EXPECT JSON, the latest declared in code
ALTER TABLE jobs ADD COLUMN expect_user    TEXT;             -- EXPECT JSON, set by PATCH; wins
ALTER TABLE jobs ADD COLUMN expect_learned TEXT;             -- EXPECT JSON, from the recent runs
ALTER TABLE jobs ADD COLUMN paused         INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN snoozed_until  INTEGER;
ALTER TABLE jobs ADD COLUMN last_start     INTEGER;          -- start of the newest ended run
ALTER TABLE jobs ADD COLUMN next_due       INTEGER;
ALTER TABLE jobs ADD COLUMN next_deadline  INTEGER;          -- when the evaluator must look: due + grace, or a run's max duration
ALTER TABLE jobs ADD COLUMN incident_id    INTEGER;          -- the latest incident, open while its closed_at is NULL
ALTER TABLE jobs ADD COLUMN fail_streak    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN running        TEXT    NOT NULL DEFAULT '[]'; -- [{"run","start"}]: runs started and not ended
ALTER TABLE jobs ADD COLUMN recent         TEXT    NOT NULL DEFAULT '';   -- "start:duration …", the learner's runs (jobmodel.go)
CREATE INDEX jobs_deadline ON jobs (next_deadline) WHERE next_deadline IS NOT NULL;

-- `started` marks a run's beginning and is not a run of its own.
UPDATE jobs SET runs = runs - (SELECT COUNT(*) FROM events e
    WHERE e.session_id = jobs.session_id AND e.name = jobs.name AND e.status = 'started');

CREATE TABLE incidents (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    opened_at  INTEGER NOT NULL,
    closed_at  INTEGER,
    runs       INTEGER NOT NULL DEFAULT 0, -- failed runs folded into it
    alerted_at INTEGER,                    -- the last alert it sent
    flaps      INTEGER NOT NULL DEFAULT 0  -- reopened soon after it closed, without an alert
);
CREATE INDEX incidents_job ON incidents (session_id, name, opened_at);

-- The incident an alert is about (its kind is the push job's): the message says
-- how long it lasted and how many runs failed.
ALTER TABLE push_jobs ADD COLUMN incident_id INTEGER;
