package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

const eventColumns = `seq, client_id, name, status, duration_ms, ts, received_at, error_type, error_message, error_traceback, metadata, source, run, expect`

// scanEvent scans eventColumns, after the extra destinations when a query
// selects other columns first.
func scanEvent(row scanner, extra ...any) (domain.StoredEvent, error) {
	var e domain.StoredEvent
	var clientID, errType, errMsg, errTB, metadata, source, run, expectation sql.NullString
	var duration sql.NullFloat64
	var ts, received int64
	if err := row.Scan(append(extra, &e.Seq, &clientID, &e.Name, &e.Status, &duration, &ts, &received,
		&errType, &errMsg, &errTB, &metadata, &source, &run, &expectation)...); err != nil {
		return e, err
	}
	e.ID = clientID.String
	if duration.Valid {
		d := duration.Float64
		e.DurationMS = &d
	}
	e.Timestamp, e.ReceivedAt = domain.TimeFromMillis(ts), domain.TimeFromMillis(received)
	if errType.Valid {
		e.Error = &domain.ErrorInfo{Type: errType.String, Message: errMsg.String, Traceback: errTB.String}
	}
	if metadata.Valid {
		e.Metadata = []byte(metadata.String)
	}
	if source.Valid {
		e.Source = []byte(source.String)
	}
	e.Run = run.String
	if expectation.Valid {
		e.Expect = []byte(expectation.String)
	}
	return e, nil
}

func (db *DB) queryEvents(ctx context.Context, op, query string, args ...any) ([]domain.StoredEvent, error) {
	rows, err := db.read.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	defer rows.Close()
	events := []domain.StoredEvent{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, db.wrap(op, err)
		}
		events = append(events, e)
	}
	return events, db.wrap(op, rows.Err())
}

// ListEvents returns a session's events, newest first.
func (db *DB) ListEvents(ctx context.Context, sessionID int64, q store.EventQuery) ([]domain.StoredEvent, error) {
	if q.Name != "" {
		return db.listByName(ctx, sessionID, q)
	}
	var where strings.Builder
	args := []any{sessionID}
	where.WriteString(`session_id = ?`)
	if q.Before > 0 {
		where.WriteString(` AND seq < ?`)
		args = append(args, q.Before)
	}
	if q.Status != "" {
		where.WriteString(` AND status = ?`)
		args = append(args, q.Status)
	}
	args = append(args, q.Limit)
	return db.queryEvents(ctx, "list events", `SELECT `+eventColumns+` FROM events WHERE `+where.String()+` ORDER BY seq DESC LIMIT ?`, args...)
}

// EventsAfter returns events with seq > after, oldest first.
func (db *DB) EventsAfter(ctx context.Context, sessionID, after int64, limit int) ([]domain.StoredEvent, error) {
	return db.queryEvents(ctx, "events after", `SELECT `+eventColumns+` FROM events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?`, sessionID, after, limit)
}

// Event reads one event.
func (db *DB) Event(ctx context.Context, sessionID, seq int64) (domain.StoredEvent, error) {
	e, err := scanEvent(db.read.QueryRowContext(ctx, db.q(`SELECT `+eventColumns+` FROM events WHERE session_id = ? AND seq = ?`), sessionID, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return e, domain.ErrNotFound
	}
	return e, db.wrap("event", err)
}

// PruneEvents deletes up to limit events received before cutoff and takes
// them out of their jobs' counts.
func (db *DB) PruneEvents(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	var deleted int64
	err := db.inTx(ctx, "prune events", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `DELETE FROM events WHERE (session_id, seq) IN (`+db.d.oldestEvents+`)
			RETURNING session_id, name, status`, cutoff.UnixMilli(), limit)
		if err != nil {
			return err
		}
		gone := make(map[jobKey]*jobDelta)
		for rows.Next() {
			var k jobKey
			var status string
			if err := rows.Scan(&k.session, &k.name, &status); err != nil {
				rows.Close()
				return err
			}
			d := gone[k]
			if d == nil {
				d = &jobDelta{}
				gone[k] = d
			}
			if domain.IsRun(status) { // a start or a log line is not a run (AppendEvents)
				d.runs++
			}
			if status == domain.StatusFailed {
				d.failures++
			}
			deleted++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// Update jobs in (session, name) order, the order AppendEvents
		// takes them in, so that concurrent writers cannot deadlock.
		keys := make([]jobKey, 0, len(gone))
		for k := range gone {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareJobKeys)
		for _, k := range keys {
			d := gone[k]
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE jobs SET runs = runs - ?, failures = failures - ? WHERE session_id = ? AND name = ?`),
				d.runs, d.failures, k.session, k.name); err != nil {
				return err
			}
		}
		// A job whose only events are starts has no runs and is still there.
		// Its events are gone when its newest one is: events are pruned
		// oldest first, and the name chain ends at the first pruned one.
		_, err = tx.ExecContext(ctx, `DELETE FROM jobs WHERE runs <= 0 AND NOT EXISTS
			(SELECT 1 FROM events e WHERE e.session_id = jobs.session_id AND e.seq = jobs.last_seq)`)
		return err
	})
	return deleted, err
}
