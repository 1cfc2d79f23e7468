-- The name chain (docs/benchmarks/server.md, issue 15): each event stores the
-- seq of the previous event of its job name in its session, and the job row's
-- last_seq is the chain's head. Readers by name walk it on the primary key,
-- so the (session, name, seq) index, a B-tree written for every event, goes.
ALTER TABLE events ADD COLUMN prev_seq INTEGER;

UPDATE events SET prev_seq = p.prev
    FROM (SELECT session_id, seq, LAG(seq) OVER (PARTITION BY session_id, name ORDER BY seq) AS prev FROM events) AS p
    WHERE p.session_id = events.session_id AND p.seq = events.seq AND p.prev IS NOT NULL;

DROP INDEX events_name;
