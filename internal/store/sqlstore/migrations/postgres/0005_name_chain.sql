-- The name chain: as migrations/sqlite/0005_name_chain.sql.
ALTER TABLE events ADD COLUMN prev_seq BIGINT;

UPDATE events SET prev_seq = p.prev
    FROM (SELECT session_id, seq, LAG(seq) OVER (PARTITION BY session_id, name ORDER BY seq) AS prev FROM events) AS p
    WHERE p.session_id = events.session_id AND p.seq = events.seq AND p.prev IS NOT NULL;

DROP INDEX events_name;
