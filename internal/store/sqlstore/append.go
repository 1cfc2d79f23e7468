package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// Rows per multi-row INSERT: 13 columns × 200 stays far below both
// databases' limits on bound parameters.
const insertChunk = 200

// AppendEvents stores a group commit: every request's events, in one
// transaction. Sessions are handled in id order so that two instances
// committing to the same sessions on PostgreSQL lock them in the same order.
func (db *DB) AppendEvents(ctx context.Context, batch []*store.Append) error {
	bySession := make(map[int64][]*store.Append)
	var ids []int64
	for _, a := range batch {
		a.Stored, a.Duplicates = a.Stored[:0], 0
		if _, ok := bySession[a.SessionID]; !ok {
			ids = append(ids, a.SessionID)
		}
		bySession[a.SessionID] = append(bySession[a.SessionID], a)
	}
	slices.Sort(ids)
	err := db.inTx(ctx, "append events", func(tx *sql.Tx) error {
		for _, id := range ids {
			if err := db.appendSession(ctx, tx, id, bySession[id]); err != nil {
				return fmt.Errorf("session %d: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		for _, a := range batch {
			a.Stored, a.Duplicates = nil, 0
		}
	}
	return err
}

func (db *DB) appendSession(ctx context.Context, tx *sql.Tx, sessionID int64, appends []*store.Append) error {
	var lastSeq int64
	if err := tx.QueryRowContext(ctx, db.q(`SELECT last_seq FROM sessions WHERE id = ?`+db.d.lockRow), sessionID).Scan(&lastSeq); err != nil {
		return fmt.Errorf("read last seq: %w", err)
	}
	known, err := db.knownClientIDs(ctx, tx, sessionID, appends)
	if err != nil {
		return err
	}
	var stored []*domain.StoredEvent
	for _, a := range appends {
		for i := range a.Events {
			ev := a.Events[i]
			if ev.ID != "" {
				if _, dup := known[ev.ID]; dup {
					a.Duplicates++
					continue
				}
				known[ev.ID] = struct{}{}
			}
			lastSeq++
			if ev.Timestamp.IsZero() {
				ev.Timestamp = domain.NewTime(a.ReceivedAt)
			}
			a.Stored = append(a.Stored, domain.StoredEvent{Seq: lastSeq, Event: ev, ReceivedAt: domain.NewTime(a.ReceivedAt)})
		}
	}
	for _, a := range appends {
		for i := range a.Stored {
			stored = append(stored, &a.Stored[i])
		}
	}
	if len(stored) == 0 {
		return nil
	}
	if err := db.insertEvents(ctx, tx, sessionID, stored); err != nil {
		return err
	}
	if err := db.queuePushes(ctx, tx, sessionID, stored); err != nil {
		return err
	}
	if err := db.upsertJobs(ctx, tx, sessionID, stored); err != nil {
		return err
	}
	newest := stored[len(stored)-1]
	if _, err := tx.ExecContext(ctx, db.q(`UPDATE sessions SET last_seq = ?, event_count = event_count + ?, last_event_at = ? WHERE id = ?`),
		lastSeq, len(stored), newest.ReceivedAt.Millis(), sessionID); err != nil {
		return fmt.Errorf("update session: %w", err)
	}
	if db.d.notify != nil {
		return db.d.notify(ctx, tx, domain.Notice{SessionID: sessionID, Seq: lastSeq, Kind: domain.NoticeEvents})
	}
	return nil
}

// knownClientIDs returns the client ids of the batch that the session
// already has. The session row is locked, so none can appear meanwhile.
func (db *DB) knownClientIDs(ctx context.Context, tx *sql.Tx, sessionID int64, appends []*store.Append) (map[string]struct{}, error) {
	known := make(map[string]struct{})
	var ids []any
	for _, a := range appends {
		for i := range a.Events {
			if a.Events[i].ID != "" {
				ids = append(ids, a.Events[i].ID)
			}
		}
	}
	err := db.eachIn(ctx, tx, `SELECT client_id FROM events WHERE session_id = ? AND client_id`, sessionID, ids, func(rows *sql.Rows) error {
		var id string
		err := rows.Scan(&id)
		known[id] = struct{}{}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("find duplicate ids: %w", err)
	}
	return known, nil
}

func (db *DB) insertEvents(ctx context.Context, tx *sql.Tx, sessionID int64, stored []*domain.StoredEvent) error {
	const cols = `(session_id, seq, client_id, name, status, duration_ms, ts, received_at, error_type, error_message, error_traceback, metadata, source)`
	for len(stored) > 0 {
		chunk := stored[:min(len(stored), insertChunk)]
		stored = stored[len(chunk):]
		args := make([]any, 0, len(chunk)*13)
		for _, e := range chunk {
			var duration, errType, errMsg, errTB, metadata, source any
			if e.DurationMS != nil {
				duration = *e.DurationMS
			}
			if e.Error != nil {
				errType, errMsg, errTB = e.Error.Type, e.Error.Message, nullString(e.Error.Traceback)
			}
			if e.Metadata != nil {
				metadata = string(e.Metadata)
			}
			if e.Source != nil {
				source = string(e.Source)
			}
			args = append(args, sessionID, e.Seq, nullString(e.ID), e.Name, e.Status, duration,
				e.Timestamp.Millis(), e.ReceivedAt.Millis(), errType, errMsg, errTB, metadata, source)
		}
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO events `+cols+` VALUES `+placeholders(len(chunk), 13)), args...); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
	}
	return nil
}

type jobDelta struct {
	runs, failures int64
	last           *domain.StoredEvent
}

// upsertJobs adds the new runs to each job's summary.
func (db *DB) upsertJobs(ctx context.Context, tx *sql.Tx, sessionID int64, stored []*domain.StoredEvent) error {
	deltas := make(map[string]*jobDelta)
	var names []string
	for _, e := range stored {
		d := deltas[e.Name]
		if d == nil {
			d = &jobDelta{}
			deltas[e.Name] = d
			names = append(names, e.Name)
		}
		d.runs++
		if e.Failed() {
			d.failures++
		}
		d.last = e
	}
	// One order for every writer of jobs rows (see PruneEvents): no deadlocks.
	slices.Sort(names)
	for len(names) > 0 {
		chunk := names[:min(len(names), insertChunk)]
		names = names[len(chunk):]
		args := make([]any, 0, len(chunk)*6)
		for _, n := range chunk {
			d := deltas[n]
			args = append(args, sessionID, n, d.last.Seq, d.last.Status, d.runs, d.failures)
		}
		query := `INSERT INTO jobs (session_id, name, last_seq, last_status, runs, failures) VALUES ` + placeholders(len(chunk), 6) +
			` ON CONFLICT (session_id, name) DO UPDATE SET last_seq = excluded.last_seq, last_status = excluded.last_status,
			  runs = jobs.runs + excluded.runs, failures = jobs.failures + excluded.failures`
		if _, err := tx.ExecContext(ctx, db.q(query), args...); err != nil {
			return fmt.Errorf("update jobs: %w", err)
		}
	}
	return nil
}

type pushTarget struct {
	id     string
	notify string
	muted  []string
}

// queuePushes queues a notification for every device whose rules ask for
// one. It runs before upsertJobs, whose rows still hold each job's previous
// status (to tell a recovery).
func (db *DB) queuePushes(ctx context.Context, tx *sql.Tx, sessionID int64, stored []*domain.StoredEvent) error {
	targets, err := db.pushTargets(ctx, tx, sessionID)
	if err != nil || len(targets) == 0 {
		return err
	}
	previous, err := db.lastStatuses(ctx, tx, sessionID, stored)
	if err != nil {
		return err
	}
	var args []any
	rows := 0
	flush := func() error {
		if rows == 0 {
			return nil
		}
		query := `INSERT INTO push_jobs (device_id, session_id, seq, kind, next_attempt_at) VALUES ` + placeholders(rows, 5)
		_, err := tx.ExecContext(ctx, db.q(query), args...)
		args, rows = args[:0], 0
		return err
	}
	for _, e := range stored {
		for _, t := range targets {
			kind := domain.Alert(t.notify, t.muted, &e.Event, previous[e.Name])
			if kind == "" {
				continue
			}
			args = append(args, t.id, sessionID, e.Seq, kind, e.ReceivedAt.Millis())
			if rows++; rows == insertChunk {
				if err := flush(); err != nil {
					return fmt.Errorf("queue pushes: %w", err)
				}
			}
		}
		previous[e.Name] = e.Status
	}
	if err := flush(); err != nil {
		return fmt.Errorf("queue pushes: %w", err)
	}
	return nil
}

func (db *DB) pushTargets(ctx context.Context, tx *sql.Tx, sessionID int64) ([]pushTarget, error) {
	rows, err := tx.QueryContext(ctx, db.q(`SELECT id, notify, muted FROM devices WHERE session_id = ? AND push_endpoint IS NOT NULL AND notify <> 'off'`), sessionID)
	if err != nil {
		return nil, fmt.Errorf("find push devices: %w", err)
	}
	defer rows.Close()
	var targets []pushTarget
	for rows.Next() {
		var t pushTarget
		var muted string
		if err := rows.Scan(&t.id, &t.notify, &muted); err != nil {
			return nil, fmt.Errorf("find push devices: %w", err)
		}
		if err := json.Unmarshal([]byte(muted), &t.muted); err != nil {
			return nil, fmt.Errorf("device %s: muted jobs: %w", t.id, err)
		}
		targets = append(targets, t)
	}
	return targets, rows.Err()
}

// lastStatuses reads the status of the newest stored run of each job.
func (db *DB) lastStatuses(ctx context.Context, tx *sql.Tx, sessionID int64, stored []*domain.StoredEvent) (map[string]string, error) {
	statuses := make(map[string]string)
	seen := make(map[string]bool)
	var names []any
	for _, e := range stored {
		if !seen[e.Name] {
			seen[e.Name] = true
			names = append(names, e.Name)
		}
	}
	err := db.eachIn(ctx, tx, `SELECT name, last_status FROM jobs WHERE session_id = ? AND name`, sessionID, names, func(rows *sql.Rows) error {
		var name, status string
		err := rows.Scan(&name, &status)
		statuses[name] = status
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read job statuses: %w", err)
	}
	return statuses, nil
}

// eachIn runs `prefix IN (values…)` with the session id as first argument,
// in chunks, and calls fn for every row.
func (db *DB) eachIn(ctx context.Context, tx *sql.Tx, prefix string, sessionID int64, values []any, fn func(*sql.Rows) error) error {
	for len(values) > 0 {
		chunk := values[:min(len(values), 500)]
		values = values[len(chunk):]
		query := prefix + ` IN (` + strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",") + `)`
		rows, err := tx.QueryContext(ctx, db.q(query), append([]any{sessionID}, chunk...)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := fn(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}
