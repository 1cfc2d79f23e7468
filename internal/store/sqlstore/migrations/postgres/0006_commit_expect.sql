-- obs_expect lets a commit of events check, inside its own pipeline, what
-- it assumed from its cache (postgres_cache.go): when ok is false it raises
-- SQLSTATE OB001, which aborts the transaction, so that every statement
-- after it fails and its COMMIT rolls back. The commit then starts again on
-- the path that reads first. SQLite keeps one writer and needs none.
CREATE OR REPLACE FUNCTION obs_expect(ok BOOLEAN, what TEXT) RETURNS VOID
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'stale commit cache: %', what USING ERRCODE = 'OB001';
    END IF;
END
$$;
