package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// pingStartTTL is how long a start waits for its end.
const pingStartTTL = 7 * 24 * time.Hour

// PingCheck finds the job a ping UUID's hash belongs to (ErrNotFound).
func (db *DB) PingCheck(ctx context.Context, uuidHash []byte) (int64, string, error) {
	var session int64
	var name string
	err := db.read.QueryRowContext(ctx, db.q(`SELECT session_id, name FROM ping_checks WHERE uuid_hash = ?`), uuidHash).Scan(&session, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", domain.ErrNotFound
	}
	return session, name, db.wrap("read ping check", err)
}

// PutPingChecks records ping UUID hashes; recording one again is a no-op.
func (db *DB) PutPingChecks(ctx context.Context, sessionID int64, checks []store.PingCheck, now time.Time) error {
	if len(checks) == 0 {
		return nil
	}
	return db.inTx(ctx, "store ping checks", func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, db.q(`INSERT INTO ping_checks (uuid_hash, session_id, name, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, c := range checks {
			if _, err := stmt.ExecContext(ctx, c.UUIDHash, sessionID, c.Name, now.UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
}

// StartPingRun remembers that a run of the job began at at; a second start
// with the same rid replaces the first (Healthchecks does the same).
func (db *DB) StartPingRun(ctx context.Context, sessionID int64, name, rid string, at time.Time) error {
	return db.inTx(ctx, "store ping start", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO ping_starts (session_id, name, rid, started_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (session_id, name, rid) DO UPDATE SET started_at = excluded.started_at`), sessionID, name, rid, at.UnixMilli())
		if err != nil {
			return err
		}
		// Runs that never ended (a crashed job sends no end) are forgotten
		// after a while, so the table holds what may still end.
		_, err = tx.ExecContext(ctx, db.q(`DELETE FROM ping_starts WHERE session_id = ? AND name = ? AND started_at < ?`),
			sessionID, name, at.Add(-pingStartTTL).UnixMilli())
		return err
	})
}

// EndPingRun takes the start an end closes: the one with rid, or without
// a rid the latest start of the job. ok is false when there is none.
func (db *DB) EndPingRun(ctx context.Context, sessionID int64, name, rid string) (time.Time, bool, error) {
	var started int64
	found := false
	err := db.inTx(ctx, "end ping run", func(tx *sql.Tx) error {
		key := rid
		if rid == "" {
			err := tx.QueryRowContext(ctx, db.q(`SELECT rid FROM ping_starts WHERE session_id = ? AND name = ? ORDER BY started_at DESC LIMIT 1`),
				sessionID, name).Scan(&key)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
		}
		err := tx.QueryRowContext(ctx, db.q(`DELETE FROM ping_starts WHERE session_id = ? AND name = ? AND rid = ? RETURNING started_at`),
			sessionID, name, key).Scan(&started)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	return time.UnixMilli(started), found, err
}

// PrunePingStarts forgets starts older than before: runs that never ended.
func (db *DB) PrunePingStarts(ctx context.Context, before time.Time) error {
	return db.inTx(ctx, "prune ping starts", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`DELETE FROM ping_starts WHERE started_at < ?`), before.UnixMilli())
		return err
	})
}
