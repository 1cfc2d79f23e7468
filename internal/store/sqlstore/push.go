package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// claimReturning is what a claim hands back: the job, its device's
// subscription and the part of its event a notification shows. Correlated
// subqueries rather than a join, because SQLite's RETURNING may name only
// the updated table; each is a primary-key lookup.
var claimReturning = func() string {
	cols := []string{"id", "device_id", "session_id", "seq", "kind", "attempts"}
	for _, c := range []string{"push_endpoint", "push_p256dh", "push_auth"} {
		cols = append(cols, "(SELECT "+c+" FROM devices WHERE devices.id = push_jobs.device_id)")
	}
	for _, c := range []string{"name", "status", "duration_ms", "received_at", "error_type", "error_message"} {
		cols = append(cols, "(SELECT "+c+" FROM events WHERE events.session_id = push_jobs.session_id AND events.seq = push_jobs.seq)")
	}
	// The incident an alert is about (issue 11): its message says how long it lasted.
	for _, c := range []string{"kind", "opened_at", "closed_at", "runs"} {
		cols = append(cols, "(SELECT "+c+" FROM incidents WHERE incidents.id = push_jobs.incident_id)")
	}
	return strings.Join(cols, ", ")
}()

// ClaimPushJobs leases due jobs to the caller in one statement, which also
// reads each job's subscription and event. On PostgreSQL the rows are
// picked with SKIP LOCKED, so instances polling together never share a job.
func (db *DB) ClaimPushJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.PushJob, error) {
	// Look on a reader before taking the writer: most polls find nothing
	// due, and the writer is what ingest waits for.
	var due int
	err := db.read.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM (SELECT 1 FROM push_jobs WHERE next_attempt_at <= ? AND locked_until <= ? LIMIT 1) AS due`),
		now.UnixMilli(), now.UnixMilli()).Scan(&due)
	if err != nil || due == 0 {
		return nil, db.wrap("look for due push jobs", err)
	}
	rows, err := db.write.QueryContext(ctx, db.q(`UPDATE push_jobs SET locked_until = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM push_jobs WHERE next_attempt_at <= ? AND locked_until <= ? ORDER BY id LIMIT ?`+db.d.skipLocked+`)
		RETURNING `+claimReturning),
		now.Add(lease).UnixMilli(), now.UnixMilli(), now.UnixMilli(), limit)
	if err != nil {
		return nil, db.wrap("claim push jobs", err)
	}
	defer rows.Close()
	var jobs []store.PushJob
	for rows.Next() {
		j, err := scanPushJob(rows)
		if err != nil {
			return nil, db.wrap("claim push jobs", err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("claim push jobs", err)
	}
	// RETURNING gives rows in storage order; hand them out oldest first.
	slices.SortFunc(jobs, func(a, b store.PushJob) int { return cmp.Compare(a.ID, b.ID) })
	return jobs, nil
}

func scanPushJob(rows *sql.Rows) (store.PushJob, error) {
	var j store.PushJob
	var endpoint, p256dh, auth, name, status, errType, errMsg sql.NullString
	var duration sql.NullFloat64
	var received sql.NullInt64
	var inKind sql.NullString
	var inOpened, inClosed, inRuns sql.NullInt64
	if err := rows.Scan(&j.ID, &j.DeviceID, &j.SessionID, &j.Seq, &j.Kind, &j.Attempts,
		&endpoint, &p256dh, &auth, &name, &status, &duration, &received, &errType, &errMsg,
		&inKind, &inOpened, &inClosed, &inRuns); err != nil {
		return j, err
	}
	if inKind.Valid {
		j.Incident = &domain.Incident{Kind: inKind.String, OpenedAt: domain.TimeFromMillis(inOpened.Int64), Runs: inRuns.Int64}
		if inClosed.Valid {
			t := domain.TimeFromMillis(inClosed.Int64)
			j.Incident.ClosedAt = &t
		}
	}
	j.Sub = domain.PushSubscription{Endpoint: endpoint.String, P256dh: p256dh.String, Auth: auth.String}
	if !name.Valid { // name is NOT NULL: the event was pruned
		return j, nil
	}
	ev := &domain.StoredEvent{Seq: j.Seq, ReceivedAt: domain.TimeFromMillis(received.Int64)}
	ev.Name, ev.Status = name.String, status.String
	if duration.Valid {
		d := duration.Float64
		ev.DurationMS = &d
	}
	if errType.Valid {
		ev.Error = &domain.ErrorInfo{Type: errType.String, Message: errMsg.String}
	}
	j.Event = ev
	return j, nil
}

// CompletePushJob removes a delivered (or undeliverable) job.
func (db *DB) CompletePushJob(ctx context.Context, id int64) error {
	return db.inTx(ctx, "complete push job", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`DELETE FROM push_jobs WHERE id = ?`), id)
		return err
	})
}

// RetryPushJob releases a job to be tried again at at.
func (db *DB) RetryPushJob(ctx context.Context, id int64, at time.Time, lastErr string) error {
	return db.inTx(ctx, "retry push job", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`UPDATE push_jobs SET next_attempt_at = ?, locked_until = 0, last_error = ? WHERE id = ?`),
			at.UnixMilli(), truncate(lastErr, 500), id)
		return err
	})
}

// DropPushEndpoint forgets a subscription the push service says is gone.
// A newer subscription of the same device is kept.
func (db *DB) DropPushEndpoint(ctx context.Context, deviceID, endpoint string) error {
	return db.inTx(ctx, "drop push endpoint", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE devices SET push_endpoint = NULL, push_p256dh = NULL, push_auth = NULL
			WHERE id = ? AND push_endpoint = ?`), deviceID, endpoint)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, db.q(`DELETE FROM push_jobs WHERE device_id = ?`), deviceID)
		return err
	})
}

// Setting reads a server-wide value (ErrNotFound when unset).
func (db *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := db.read.QueryRowContext(ctx, db.q(`SELECT value FROM settings WHERE key = ?`), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", domain.ErrNotFound
	}
	return v, db.wrap("setting "+key, err)
}

// SetSettingOnce stores value unless key has one, and returns the value kept.
func (db *DB) SetSettingOnce(ctx context.Context, key, value string) (string, error) {
	var kept string
	err := db.inTx(ctx, "set setting "+key, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`), key, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, db.q(`SELECT value FROM settings WHERE key = ?`), key).Scan(&kept)
	})
	return kept, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
