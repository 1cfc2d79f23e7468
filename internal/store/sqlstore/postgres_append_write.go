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
		  fail_streak = excluded.fail_streak, running = excluded.running, recent = excluded.recent, incident_id = excluded.incident_id
		RETURNING session_id, name, xmin::text::bigint`
	pgInsertPushes = `INSERT INTO push_jobs (device_id, session_id, seq, kind, next_attempt_at, incident_id)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[])`
	pgInsertChannels = `INSERT INTO channel_jobs (channel_id, session_id, seq, kind, incident_id, next_attempt_at, queued_at)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])`
	pgCountJobs      = `SELECT session_id, COUNT(*) FROM jobs WHERE session_id = ANY($1::bigint[]) GROUP BY session_id`
	pgUpdateSessions = `UPDATE sessions SET last_seq = v.seq, event_count = sessions.event_count + v.n, last_event_at = v.at
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS v(id, seq, n, at) WHERE sessions.id = v.id`
	pgNotify = `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`
)

// pgStep is a statement of a pipeline: its words for errors, and what
// reads its rows (nil: none are read).
type pgStep struct {
	op   string
	rows func(br pgx.BatchResults) error
}

// pgRunSteps sends b and reads its results, step by step.
func pgRunSteps(ctx context.Context, c *pgx.Conn, b *pgx.Batch, steps []pgStep) error {
	br := c.SendBatch(ctx, b)
	err := func() error {
		for _, s := range steps {
			if s.rows != nil {
				if err := s.rows(br); err != nil {
					return err
				}
			} else if _, err := br.Exec(); err != nil {
				return fmt.Errorf("%s: %w", s.op, err)
			}
		}
		return nil
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// pgWritePhase applies the commit's events to their jobs' models and sends
// every write, the NOTIFY and (unless a job limit must be checked first)
// the COMMIT in one pipeline. w gets the jobs written, for the cache.
func (db *DB) pgWritePhase(ctx context.Context, c *pgx.Conn, r *pgRead, bySession map[int64][]*store.Append, added []newEvent, changed []int64, w *pgCommitted) error {
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
	steps, err := pgQueueWrites(b, nil, r, keys, deltas, models, alerts, added, changed, w)
	if err != nil {
		return err
	}
	limit := int(db.maxJobs.Load())
	checkLimit := limit > 0 && len(inserted) > 0
	counts := make(map[int64]int)
	if checkLimit {
		sessions := make([]int64, 0, len(inserted))
		for s := range inserted {
			sessions = append(sessions, s)
		}
		b.Queue(pgCountJobs, sessions)
		var session int64
		var count int
		steps = append(steps, pgStep{"count jobs", func(br pgx.BatchResults) error {
			return pgEach(br, "count jobs", []any{&session, &count}, func() error { counts[session] = count; return nil })
		}})
	} else {
		b.Queue("COMMIT")
		steps = append(steps, pgStep{op: "commit"})
	}
	if err := pgRunSteps(ctx, c, b, steps); err != nil || !checkLimit {
		return err
	}
	if refuseOverLimit(limit, counts, bySession, inserted) {
		return errJobsRefused
	}
	_, err = c.Exec(ctx, "COMMIT")
	return wrapErr("commit", err)
}

// pgQueueWrites queues, after steps, the commit's writes up to its NOTIFY:
// the events, the incidents changed, the jobs (their new xmin into w), the
// alerts, the sessions. The incidents opened have their ids already.
func pgQueueWrites(b *pgx.Batch, steps []pgStep, r *pgRead, keys []jobKey, deltas []jobDelta, models []*domain.JobModel,
	alerts []jobAlert, added []newEvent, changed []int64, w *pgCommitted) ([]pgStep, error) {
	b.Queue(pgInsertEvents, pgEventColumns(added)...)
	steps = append(steps, pgStep{op: "insert events"})
	if cols, ok := pgDirtyIncidents(models); ok {
		b.Queue(pgUpdateIncidents, cols...)
		steps = append(steps, pgStep{op: "update incidents"})
	}
	jobCols, err := pgJobColumns(keys, deltas, models)
	if err != nil {
		return nil, err
	}
	b.Queue(pgUpsertJobs, jobCols...)
	w.keys, w.models, w.vers = keys, models, make(map[jobKey]int64, len(keys))
	var k jobKey
	var ver int64
	steps = append(steps, pgStep{"update jobs", func(br pgx.BatchResults) error {
		return pgEach(br, "update jobs", []any{&k.session, &k.name, &ver}, func() error { w.vers[k] = ver; return nil })
	}})
	if cols, ok := pgAlertColumns(r.pushes, added, alerts, countPush); ok {
		b.Queue(pgInsertPushes, cols.pushes()...)
		steps = append(steps, pgStep{op: "queue pushes"})
	}
	if cols, ok := pgAlertColumns(r.channels, added, alerts, countChannel); ok {
		b.Queue(pgInsertChannels, cols.channels()...)
		steps = append(steps, pgStep{op: "queue channel alerts"})
	}
	b.Queue(pgUpdateSessions, pgSessionColumns(changed, r.lastSeq, added)...)
	steps = append(steps, pgStep{op: "update sessions"})
	notices := make([]string, len(changed))
	for i, id := range changed {
		notices[i] = encodeNotice(domain.Notice{SessionID: id, Seq: r.lastSeq[id], Kind: domain.NoticeEvents})
	}
	b.Queue(pgNotify, noticeChannel, notices)
	return append(steps, pgStep{op: "notify"}), nil
}
