-- The duplicate index keyed by the client id first, the session second
-- (docs/benchmarks/server.md, issue 15). The SDK makes ids that sort by
-- time, so a commit's new ids, whatever their sessions, land side by side
-- at the index's one right edge, where keyed by session first each session
-- had an edge, and a page, of its own in every commit. Uniqueness is the same.
DROP INDEX events_client_id;
CREATE UNIQUE INDEX events_client_id ON events (client_id, session_id) WHERE client_id IS NOT NULL;
