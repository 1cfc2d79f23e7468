package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// sizeClasses are the row counts the commit's multi-row statements are
// prepared for, largest first. Any count is a sum of them, and an IN list
// is padded up to one of them, so a handful of prepared statements serve
// every batch: compiling SQL text on every commit cost a third of the
// server's CPU.
var sizeClasses = []int{256, 64, 16, 4, 1}

// prepared holds the statements of the ingest path, one per size class.
// They are prepared when the store opens, before any transaction holds the
// writer (SQLite's writer pool has one connection).
type prepared struct {
	lockSessions   map[int]*sql.Stmt // SELECT id, last_seq … WHERE id IN (…) [FOR UPDATE]
	knownIDs       map[int]*sql.Stmt // (session, client id) pairs already stored
	lockOne        *sql.Stmt         // lockSessions of one session, with whether a client id is stored (knownIDs)
	insertEvents   map[int]*sql.Stmt
	insertPlain    map[int]*sql.Stmt // insertEvents without run and expect, rare in events
	pushTargets    map[int]*sql.Stmt // devices of some sessions with push on
	readModels     map[int]*sql.Stmt // the job models of a commit's jobs (jobmodel.go)
	setIncidents   map[int]*sql.Stmt // an incident's closed_at, runs, alerted_at, flaps (incidents.go)
	upsertJobs     map[int]*sql.Stmt
	updateJob      *sql.Stmt // upsertJobs for one job whose row exists: by its key, no insert tried
	insertPushes   map[int]*sql.Stmt
	channelTargets map[int]*sql.Stmt // channels of some sessions that alerts reach (channel_queue.go)
	insertChannels map[int]*sql.Stmt // channel_jobs rows (channel_queue.go)
	updateSessions map[int]*sql.Stmt
	updateSession  *sql.Stmt
	pushes         *alertSink // pushTargets and insertPushes (alerts.go)
	channels       *alertSink // channelTargets and insertChannels
	all            []*sql.Stmt
}

const eventInsertColumns = `(session_id, seq, client_id, name, status, duration_ms, ts, received_at, error_type, error_message, error_traceback, metadata, source, run, expect)`

// plainInsertColumns leave out the last two of eventInsertColumns (NULL):
// binding parameters is a good part of an insert's cost, and most commits
// carry neither a run nor an expectation.
const plainInsertColumns = `(session_id, seq, client_id, name, status, duration_ms, ts, received_at, error_type, error_message, error_traceback, metadata, source)`

func (db *DB) prepareIngest(ctx context.Context) error {
	p := &prepared{}
	var errs []error
	prep := func(query string) *sql.Stmt {
		st, err := db.write.PrepareContext(ctx, db.q(query))
		if err != nil {
			errs = append(errs, fmt.Errorf("prepare %.60s…: %w", query, err))
			return nil
		}
		p.all = append(p.all, st)
		return st
	}
	perClass := func(build func(n int) string) map[int]*sql.Stmt {
		m := make(map[int]*sql.Stmt, len(sizeClasses))
		for _, n := range sizeClasses {
			m[n] = prep(build(n))
		}
		return m
	}
	p.lockSessions = perClass(func(n int) string {
		// Whether a session has a device to notify, and a channel to alert,
		// comes along, so that the commit looks for push and channel targets
		// only where there are some.
		return `SELECT id, last_seq, EXISTS (SELECT 1 FROM devices d WHERE d.session_id = sessions.id
				AND d.push_endpoint IS NOT NULL AND d.notify <> 'off'),
				EXISTS (SELECT 1 FROM channels c WHERE c.session_id = sessions.id AND c.verified AND c.notify <> 'off')
				, ` + db.dataVersionColumn() + `
			FROM sessions WHERE id IN (` + marks(n) + `) ORDER BY id` + db.d.lockRow
	})
	p.knownIDs = perClass(func(n int) string {
		// A join, not a row-value IN: SQLite then searches the client id index.
		return `SELECT e.session_id, e.client_id FROM (VALUES ` + db.values(n, "BIGINT", "TEXT") + `) AS v
			JOIN events e ON e.session_id = v.column1 AND e.client_id = v.column2`
	})
	p.lockOne = prep(`SELECT last_seq, EXISTS (SELECT 1 FROM devices d WHERE d.session_id = sessions.id
			AND d.push_endpoint IS NOT NULL AND d.notify <> 'off'),
			EXISTS (SELECT 1 FROM channels c WHERE c.session_id = sessions.id AND c.verified AND c.notify <> 'off'),
			` + db.dataVersionColumn() + `,
			EXISTS (SELECT 1 FROM events e WHERE e.session_id = sessions.id AND e.client_id = ?)
		FROM sessions WHERE id = ?` + db.d.lockRow)
	p.insertEvents = perClass(func(n int) string {
		return `INSERT INTO events ` + chainColumns(eventInsertColumns) + ` VALUES ` + chainRows(n, 15)
	})
	p.insertPlain = perClass(func(n int) string {
		return `INSERT INTO events ` + chainColumns(plainInsertColumns) + ` VALUES ` + chainRows(n, 13)
	})
	p.pushTargets = perClass(func(n int) string {
		return `SELECT id, session_id, notify, muted FROM devices
			WHERE session_id IN (` + marks(n) + `) AND push_endpoint IS NOT NULL AND notify <> 'off' ORDER BY session_id, id`
	})
	p.readModels = perClass(db.readModelsQuery)
	p.setIncidents = perClass(db.updateIncidentsQuery)
	p.upsertJobs = perClass(func(n int) string {
		return `INSERT INTO jobs (session_id, name, last_seq, last_status, runs, failures, ` + upsertModelColumns + `) VALUES ` + placeholders(n, 16) +
			` ON CONFLICT (session_id, name) DO UPDATE SET last_seq = excluded.last_seq, last_status = excluded.last_status,
			  runs = jobs.runs + excluded.runs, failures = jobs.failures + excluded.failures,
			  state = excluded.state, expect_code = excluded.expect_code, expect_learned = excluded.expect_learned,
			  last_start = excluded.last_start, next_due = excluded.next_due, next_deadline = excluded.next_deadline,
			  fail_streak = excluded.fail_streak, running = excluded.running, recent = excluded.recent, incident_id = excluded.incident_id`
	})
	// The common commit under light load is one event of a job the session
	// has: an UPDATE by key costs less than the upsert's insert attempt.
	p.updateJob = prep(`UPDATE jobs SET last_seq = ?, last_status = ?, runs = runs + ?, failures = failures + ?,
		state = ?, expect_code = ?, expect_learned = ?, last_start = ?, next_due = ?, next_deadline = ?,
		fail_streak = ?, running = ?, recent = ?, incident_id = ? WHERE session_id = ? AND name = ?`)
	p.insertPushes = perClass(func(n int) string {
		return `INSERT INTO push_jobs (device_id, session_id, seq, kind, next_attempt_at, incident_id) VALUES ` + placeholders(n, 6)
	})
	p.channelTargets = perClass(db.channelTargetsQuery)
	p.insertChannels = perClass(channelJobsInsertQuery)
	// One session is the common case under light load: the plain form is quicker.
	p.updateSession = prep(`UPDATE sessions SET last_seq = ?, event_count = event_count + ?, last_event_at = ? WHERE id = ?`)
	p.updateSessions = perClass(func(n int) string {
		return `UPDATE sessions SET last_seq = v.column2, event_count = sessions.event_count + v.column3, last_event_at = v.column4
			FROM (VALUES ` + db.values(n, "BIGINT", "BIGINT", "BIGINT", "BIGINT") + `) AS v WHERE sessions.id = v.column1`
	})
	if err := errors.Join(errs...); err != nil {
		p.close()
		return err
	}
	p.pushes, p.channels = newAlertSinks(p)
	db.ingest = p
	db.closers = append([]func() error{p.close}, db.closers...)
	return nil
}

func (p *prepared) close() error {
	var errs []error
	for _, st := range p.all {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// execRows inserts rows (each of the statement's width) with the fewest
// prepared statements: the largest size classes first.
func execRows(ctx context.Context, tx *sql.Tx, stmts map[int]*sql.Stmt, rows [][]any) error {
	for len(rows) > 0 {
		n := classFor(len(rows))
		args := make([]any, 0, n*len(rows[0]))
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		if _, err := tx.StmtContext(ctx, stmts[n]).ExecContext(ctx, args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// classFor is the largest size class that is not more than n.
func classFor(n int) int {
	for _, c := range sizeClasses {
		if c <= n {
			return c
		}
	}
	return 1
}

// runPadded runs a statement over values in chunks of the largest size
// class, each padded to a class: with fill where it is not nil (a value
// that matches nothing), else by repeating the chunk's last value, harmless
// in an IN list, a join on VALUES, or an UPDATE … FROM (VALUES …), where a
// row repeated changes nothing. A value that is an []any is spread over
// several parameters (a row of a VALUES list). fn is called for every row
// the statement returns.
func runPadded[T any](ctx context.Context, tx *sql.Tx, stmts map[int]*sql.Stmt, values []T, fill *T, fn func(*sql.Rows) error) error {
	for len(values) > 0 {
		chunk := values[:min(len(values), sizeClasses[0])]
		values = values[len(chunk):]
		n := sizeClasses[0]
		for _, c := range sizeClasses {
			if c >= len(chunk) {
				n = c
			}
		}
		var args []any
		for i := 0; i < n; i++ {
			var v any
			switch {
			case i < len(chunk):
				v = chunk[i]
			case fill != nil:
				v = *fill
			default:
				v = chunk[len(chunk)-1]
			}
			if row, ok := v.([]any); ok {
				args = append(args, row...)
			} else {
				args = append(args, v)
			}
		}
		rows, err := tx.StmtContext(ctx, stmts[n]).QueryContext(ctx, args...)
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
