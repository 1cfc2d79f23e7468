-- Retention finds the oldest events as the table's first rows (rowids grow
-- with arrival: sqliteDialect.oldestEvents), so the index on received_at,
-- a B-tree written for every event, goes (docs/benchmarks/server.md,
-- issue 15). PostgreSQL keeps its index: its rows have no arrival order.
DROP INDEX events_received;
