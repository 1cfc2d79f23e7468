package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// lockJobs is what a SELECT of jobs j appends to lock the rows it reads
// (PostgreSQL; SQLite has one writer), skipping rows others hold when skip.
func (db *DB) lockJobs(skip bool) string {
	switch {
	case db.d.lockRow == "":
		return ""
	case skip:
		return " FOR UPDATE OF j SKIP LOCKED"
	}
	return " FOR UPDATE OF j"
}

// EvaluateJobs is the evaluator's step (store.JobModel): the due jobs come
// from the deadline index (jobs_deadline), never a scan of every job, and
// are locked while they are judged, so that instances evaluating together
// on PostgreSQL each take other jobs and every incident alerts once. An
// instance that dies mid-step rolls back: the jobs stay due for the next.
func (db *DB) EvaluateJobs(ctx context.Context, now, up time.Time, limit int) (jobs, alerts int, err error) {
	// Look on a reader first: most ticks find nothing due, and the writer is
	// what ingest waits for.
	var due int
	err = db.read.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE next_deadline <= ? LIMIT 1) AS due`),
		now.UnixMilli()).Scan(&due)
	if err != nil || due == 0 {
		return 0, 0, db.wrap("look for due jobs", err)
	}
	err = db.inTx(ctx, "evaluate jobs", func(tx *sql.Tx) error {
		jobs, alerts = 0, 0
		rows, err := tx.QueryContext(ctx, db.q(`SELECT j.session_id, j.name, j.last_seq, `+modelColumns+`
			FROM jobs j`+joinIncident+` WHERE j.next_deadline <= ? ORDER BY j.next_deadline LIMIT ?`+db.lockJobs(true)),
			now.UnixMilli(), limit)
		if err != nil {
			return err
		}
		var keys []jobKey
		var seqs []int64
		var models []*domain.JobModel
		for rows.Next() {
			var k jobKey
			var seq int64
			m, err := scanModel(rows, &k.session, &k.name, &seq)
			if err != nil {
				rows.Close()
				return fmt.Errorf("job %q: %w", k.name, err)
			}
			keys, seqs, models = append(keys, k), append(seqs, seq), append(models, &m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		jobs = len(keys)
		kinds := make([]string, len(keys))
		for i, m := range models {
			kinds[i] = m.Deadline(now, up)
		}
		if err := db.saveIncidents(ctx, tx, keys, models); err != nil {
			return err
		}
		var about []newEvent
		var found []jobAlert
		for i, k := range keys {
			m := models[i]
			var incident any
			if m.Incident != nil {
				incident = m.Incident.ID
			}
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE jobs SET state = ?, next_deadline = ?, incident_id = ? WHERE session_id = ? AND name = ?`),
				m.State, nullInt(m.NextDeadline), incident, k.session, k.name); err != nil {
				return fmt.Errorf("update job: %w", err)
			}
			if kinds[i] != "" {
				about = append(about, evaluatorEvent(k, seqs[i], now))
				found = append(found, jobAlert{kind: kinds[i], incident: m.Incident})
			}
		}
		alerts, err = db.queueJobAlerts(ctx, tx, about, found)
		return err
	})
	return jobs, alerts, err
}

// NextDeadline is the earliest deadline of any job, from the index.
func (db *DB) NextDeadline(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT MIN(next_deadline) FROM jobs WHERE next_deadline IS NOT NULL`).Scan(&at)
	if err != nil || !at.Valid {
		return time.Time{}, false, db.wrap("next deadline", err)
	}
	return time.UnixMilli(at.Int64), true, nil
}

// UpdateJob applies PATCH /api/v1/jobs/{name} (store.JobModel). The
// session's row is locked first, as a commit locks it, so that a commit of
// the job's events and the patch take turns.
func (db *DB) UpdateJob(ctx context.Context, sessionID int64, name string, p domain.JobPatch, now time.Time) (domain.Job, error) {
	err := db.inTx(ctx, "update job", func(tx *sql.Tx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM sessions WHERE id = ?`+db.d.lockRow), sessionID).Scan(&id); err != nil {
			return err
		}
		m, err := scanModel(tx.QueryRowContext(ctx, db.q(`SELECT `+modelColumns+` FROM jobs j`+joinIncident+`
			WHERE j.session_id = ? AND j.name = ?`+db.lockJobs(false)), sessionID, name))
		if err != nil {
			return err
		}
		switch {
		case p.ClearExpect:
			m.User = nil
		case p.Expect != nil:
			e := *p.Expect
			m.User = &e
		}
		if p.Paused != nil {
			m.Paused = *p.Paused
		}
		if p.SnoozeFor != nil {
			m.SnoozedUntil = 0
			if *p.SnoozeFor > 0 {
				m.SnoozedUntil = now.Add(*p.SnoozeFor).UnixMilli()
			}
		}
		m.Settle(now)
		user, err := domain.EncodeExpect(m.User)
		if err != nil {
			return err
		}
		paused := 0
		if m.Paused {
			paused = 1
		}
		_, err = tx.ExecContext(ctx, db.q(`UPDATE jobs SET expect_user = ?, paused = ?, snoozed_until = ?, state = ?, next_due = ?, next_deadline = ?
			WHERE session_id = ? AND name = ?`),
			user, paused, nullInt(m.SnoozedUntil), m.State, nullInt(m.NextDue), nullInt(m.NextDeadline), sessionID, name)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Job{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Job{}, err
	}
	return db.Job(ctx, sessionID, name)
}
