package sqlstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

const (
	pgInsertEvents = `INSERT INTO events (session_id, seq, client_id, name, status, duration_ms, ts, received_at, error_type, error_message, error_traceback, metadata, source, run, expect, prev_seq)
		SELECT u.s, u.q, u.c, u.n, u.st, u.d, u.ts, u.r, u.et, u.em, u.etb, u.m, u.so, u.ru, u.ex,
			COALESCE(u.p, (SELECT j.last_seq FROM jobs j WHERE j.session_id = u.s AND j.name = u.n))
		FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::bigint[], $8::bigint[],
			$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[])
			AS u (s, q, c, n, st, d, ts, r, et, em, etb, m, so, ru, ex, p)`
	pgOpenIncidentsSQL = `INSERT INTO incidents (session_id, name, kind, opened_at, closed_at, runs, alerted_at, flaps)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[])
		RETURNING id, session_id, name`
	pgUpdateIncidents = `UPDATE incidents SET closed_at = v.c, runs = v.r, alerted_at = v.a, flaps = v.f
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS v(id, c, r, a, f) WHERE incidents.id = v.id`
	pgUpsertJobs = `INSERT INTO jobs (session_id, name, last_seq, last_status, runs, failures, ` + upsertModelColumns + `)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[],
			$9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::text[], $15::text[], $16::bigint[])
		ON CONFLICT (session_id, name) DO UPDATE SET last_seq = excluded.last_seq, last_status = excluded.last_status,
		  runs = jobs.runs + excluded.runs, failures = jobs.failures + excluded.failures,
		  state = excluded.state, expect_code = excluded.expect_code, expect_learned = excluded.expect_learned,
		  last_start = excluded.last_start, next_due = excluded.next_due, next_deadline = excluded.next_deadline,
		  fail_streak = excluded.fail_streak, running = excluded.running, recent = excluded.recent, incident_id = excluded.incident_id`
	pgInsertPushes = `INSERT INTO push_jobs (device_id, session_id, seq, kind, next_attempt_at, incident_id)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[])`
	pgInsertChannels = `INSERT INTO channel_jobs (channel_id, session_id, seq, kind, incident_id, next_attempt_at, queued_at)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])`
	pgCountJobs      = `SELECT session_id, COUNT(*) FROM jobs WHERE session_id = ANY($1::bigint[]) GROUP BY session_id`
	pgUpdateSessions = `UPDATE sessions SET last_seq = v.seq, event_count = sessions.event_count + v.n, last_event_at = v.at
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS v(id, seq, n, at) WHERE sessions.id = v.id`
	pgNotify = `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`
)

// pgWritePhase applies the commit's events to their jobs' models and sends
// every write, the NOTIFY and (unless a job limit must be checked first)
// the COMMIT in one pipeline.
func (db *DB) pgWritePhase(ctx context.Context, c *pgx.Conn, r *pgRead, bySession map[int64][]*store.Append, added []newEvent, changed []int64) error {
	keys, of := sortedKeys(added)
	stored := make([]*domain.JobModel, len(keys))
	for i, k := range keys {
		stored[i] = r.models[k]
	}
	deltas := make([]jobDelta, len(keys))
	inserted, models, alerts := applyJobs(keys, of, stored, added, deltas)
	if err := pgOpenIncidents(ctx, c, keys, models); err != nil {
		return err
	}

	b := &pgx.Batch{}
	b.Queue(pgInsertEvents, pgEventColumns(added)...)
	var ops []string // what each queued statement does, for errors
	ops = append(ops, "insert events")
	if cols, ok := pgDirtyIncidents(models); ok {
		b.Queue(pgUpdateIncidents, cols...)
		ops = append(ops, "update incidents")
	}
	jobCols, err := pgJobColumns(keys, deltas, models)
	if err != nil {
		return err
	}
	b.Queue(pgUpsertJobs, jobCols...)
	ops = append(ops, "update jobs")
	if cols, ok := pgAlertColumns(r.pushes, added, alerts, countPush); ok {
		b.Queue(pgInsertPushes, cols.pushes()...)
		ops = append(ops, "queue pushes")
	}
	if cols, ok := pgAlertColumns(r.channels, added, alerts, countChannel); ok {
		b.Queue(pgInsertChannels, cols.channels()...)
		ops = append(ops, "queue channel alerts")
	}
	b.Queue(pgUpdateSessions, pgSessionColumns(changed, r.lastSeq, added)...)
	ops = append(ops, "update sessions")
	notices := make([]string, len(changed))
	for i, id := range changed {
		notices[i] = encodeNotice(domain.Notice{SessionID: id, Seq: r.lastSeq[id], Kind: domain.NoticeEvents})
	}
	b.Queue(pgNotify, noticeChannel, notices)
	ops = append(ops, "notify")
	limit := int(db.maxJobs.Load())
	checkLimit := limit > 0 && len(inserted) > 0
	if checkLimit {
		sessions := make([]int64, 0, len(inserted))
		for s := range inserted {
			sessions = append(sessions, s)
		}
		b.Queue(pgCountJobs, sessions)
	} else {
		b.Queue("COMMIT")
		ops = append(ops, "commit")
	}

	counts := make(map[int64]int)
	br := c.SendBatch(ctx, b)
	err = func() error {
		for _, op := range ops {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
		}
		if !checkLimit {
			return nil
		}
		var session int64
		var count int
		return pgEach(br, "count jobs", []any{&session, &count}, func() error { counts[session] = count; return nil })
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil || !checkLimit {
		return err
	}
	if refuseOverLimit(limit, counts, bySession, inserted) {
		return errJobsRefused
	}
	_, err = c.Exec(ctx, "COMMIT")
	return wrapErr("commit", err)
}
