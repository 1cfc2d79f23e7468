package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// claimReturning is what a claim hands back: the job, its device's
// subscription and its event and incident (alertColumns).
var claimReturning = func() string {
	cols := []string{"id", "device_id", "session_id", "seq", "kind", "attempts"}
	for _, c := range []string{"push_endpoint", "push_p256dh", "push_auth"} {
		cols = append(cols, "(SELECT "+c+" FROM devices WHERE devices.id = push_jobs.device_id)")
	}
	return strings.Join(append(cols, alertColumns("push_jobs", false)...), ", ")
}()

// ClaimPushJobs leases due jobs to the caller in one statement, which also
// reads each job's subscription and event (claimJobs).
func (db *DB) ClaimPushJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.PushJob, error) {
	return claimJobs(ctx, db, "push_jobs", claimReturning, now, lease, limit, scanPushJob, func(j store.PushJob) int64 { return j.ID })
}

func scanPushJob(rows *sql.Rows) (store.PushJob, error) {
	var j store.PushJob
	var endpoint, p256dh, auth sql.NullString
	var a alertRow
	if err := rows.Scan(a.dest(false, &j.ID, &j.DeviceID, &j.SessionID, &j.Seq, &j.Kind, &j.Attempts,
		&endpoint, &p256dh, &auth)...); err != nil {
		return j, err
	}
	j.Sub = domain.PushSubscription{Endpoint: endpoint.String, P256dh: p256dh.String, Auth: auth.String}
	j.Incident, j.Event = a.incident(), a.event(j.Seq)
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
