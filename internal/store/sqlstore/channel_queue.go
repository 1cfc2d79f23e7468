package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// channelTargetsQuery selects the channels of n sessions that alerts may
// reach. Only sessions that have some get here (lockSessions says which).
func (db *DB) channelTargetsQuery(n int) string {
	return `SELECT id, session_id, notify, muted FROM channels
		WHERE session_id IN (` + marks(n) + `) AND verified AND notify <> 'off' ORDER BY session_id, created_at, id`
}

func channelJobsInsertQuery(n int) string {
	return `INSERT INTO channel_jobs (channel_id, session_id, seq, kind, incident_id, next_attempt_at, queued_at) VALUES ` + placeholders(n, 7)
}

// channelClaimReturning is what a claim hands back: the job, its channel
// as it is now (correlated subqueries, as in alertColumns), and its event
// and incident (alertColumns).
var channelClaimReturning = func() string {
	cols := []string{"id", "session_id", "seq", "kind", "attempts", "queued_at"}
	for _, c := range strings.Split(channelColumns, ", ") {
		cols = append(cols, "(SELECT "+c+" FROM channels WHERE channels.id = channel_jobs.channel_id)")
	}
	return strings.Join(append(cols, alertColumns("channel_jobs", true)...), ", ")
}()

// ClaimChannelJobs leases due jobs in one statement that also reads their
// channel, event and incident (claimJobs).
func (db *DB) ClaimChannelJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.ChannelJob, error) {
	return claimJobs(ctx, db, "channel_jobs", channelClaimReturning, now, lease, limit, scanChannelJob, func(j store.ChannelJob) int64 { return j.ID })
}

func scanChannelJob(rows *sql.Rows) (store.ChannelJob, error) {
	var j store.ChannelJob
	var session, queued int64
	c := &j.Channel
	var muted, shown sql.NullString
	var errAt, disabled, created sql.NullInt64
	var lastErr sql.NullString
	var verified sql.NullBool
	var failures sql.NullInt64
	var id, typ, notify sql.NullString
	var owner sql.NullInt64
	var a alertRow
	if err := rows.Scan(a.dest(true, &j.ID, &session, &j.Seq, &j.Kind, &j.Attempts, &queued,
		&id, &owner, &typ, &notify, &muted, &verified, &c.Sealed, &shown, &errAt, &lastErr, &failures, &disabled, &created)...); err != nil {
		return j, err
	}
	j.QueuedAt = time.UnixMilli(queued)
	c.ID, c.SessionID, c.Type, c.Notify = id.String, session, typ.String, notify.String
	c.Verified, c.Failures = verified.Bool, int(failures.Int64)
	if err := decodeChannelJSON(c.ID, cmp.Or(muted.String, "[]"), cmp.Or(shown.String, "{}"), c); err != nil {
		return j, err
	}
	setChannelTimes(c, errAt, lastErr, disabled, created.Int64)
	j.Incident, j.Event = a.incident(), a.event(j.Seq)
	return j, nil
}

// CompleteChannelJob removes a delivered job; the channel delivers again,
// so its run of failures ends and its last error is cleared.
func (db *DB) CompleteChannelJob(ctx context.Context, id int64, channelID string) error {
	return db.inTx(ctx, "complete channel job", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM channel_jobs WHERE id = ?`), id); err != nil {
			return err
		}
		if !lookupable(channelID) {
			return nil
		}
		_, err := tx.ExecContext(ctx, db.q(`UPDATE channels SET failures = 0, first_failure_at = NULL, last_error = NULL, last_error_at = NULL
			WHERE id = ? AND (failures <> 0 OR last_error_at IS NOT NULL)`), channelID)
		return err
	})
}

// RetryChannelJob releases a job to be tried again at at.
func (db *DB) RetryChannelJob(ctx context.Context, id int64, at time.Time, lastErr string) error {
	return db.inTx(ctx, "retry channel job", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`UPDATE channel_jobs SET next_attempt_at = ?, locked_until = 0, last_error = ? WHERE id = ?`),
			at.UnixMilli(), truncate(storable(lastErr), 500), id)
		return err
	})
}

// PostponeChannelJob releases a claimed job that was not tried, due at at,
// and gives its claim's attempt back: waiting for a turn is not a failure.
func (db *DB) PostponeChannelJob(ctx context.Context, id int64, at time.Time) error {
	return db.inTx(ctx, "postpone channel job", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`UPDATE channel_jobs SET next_attempt_at = ?, locked_until = 0,
			attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END WHERE id = ?`), at.UnixMilli(), id)
		return err
	})
}

// FailChannelJob gives a job up and counts it against its channel, which
// turns itself off after domain.ChannelDisableAfter give-ups in a row over
// at least domain.ChannelDisableSpan. Then, in the same transaction, each
// of the session's phones that takes pushes gets one of kind
// domain.AlertChannelOff (seq 0: about no event).
func (db *DB) FailChannelJob(ctx context.Context, id int64, channelID string, message string, now time.Time) (bool, error) {
	if !lookupable(channelID) {
		return false, domain.ErrNotFound
	}
	message = truncate(storable(message), 500)
	off := false
	err := db.inTx(ctx, "fail channel job", func(tx *sql.Tx) error {
		off = false
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM channel_jobs WHERE id = ? AND channel_id = ?`), id, channelID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // given up already (or its channel is gone): counted once
		}
		var session int64
		var notify string
		var failures int
		var first sql.NullInt64
		err = tx.QueryRowContext(ctx, db.q(`SELECT session_id, notify, failures, first_failure_at FROM channels WHERE id = ?`+db.d.lockRow),
			channelID).Scan(&session, &notify, &failures, &first)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		failures++
		since := now.UnixMilli()
		if first.Valid && failures > 1 {
			since = first.Int64
		}
		off = notify != domain.NotifyOff && failures >= domain.ChannelDisableAfter &&
			now.Sub(time.UnixMilli(since)) >= domain.ChannelDisableSpan
		if !off {
			_, err = tx.ExecContext(ctx, db.q(`UPDATE channels SET failures = ?, first_failure_at = ?, last_error = ?, last_error_at = ? WHERE id = ?`),
				failures, since, message, now.UnixMilli(), channelID)
			return err
		}
		reason := truncate(fmt.Sprintf("Turned off after %d failed deliveries: %s", failures, message), 600)
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE channels SET notify = ?, disabled_at = ?, failures = ?, first_failure_at = ?,
			last_error = ?, last_error_at = ? WHERE id = ?`),
			domain.NotifyOff, now.UnixMilli(), failures, since, reason, now.UnixMilli(), channelID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO push_jobs (device_id, session_id, seq, kind, next_attempt_at)
			SELECT id, session_id, 0, ?, ? FROM devices WHERE session_id = ? AND push_endpoint IS NOT NULL AND notify <> 'off'`),
			domain.AlertChannelOff, now.UnixMilli(), session)
		return err
	})
	if err != nil {
		return false, err
	}
	return off, nil
}
