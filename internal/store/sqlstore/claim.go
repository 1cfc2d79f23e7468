package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// claimJobs is the claim of both queues (push_jobs, channel_jobs): it
// leases up to limit due jobs of table until now+lease in one statement
// that also returns what delivery needs (returning, read by scan). On
// PostgreSQL the rows are picked with SKIP LOCKED, so instances polling
// together never share a job. Jobs come back oldest first (by id).
func claimJobs[J any](ctx context.Context, db *DB, table, returning string, now time.Time, lease time.Duration, limit int,
	scan func(*sql.Rows) (J, error), id func(J) int64) ([]J, error) {
	what := strings.ReplaceAll(table, "_", " ") // "push jobs"
	// Look on a reader before taking the writer: most polls find nothing
	// due, and the writer is what ingest waits for.
	var due int
	err := db.read.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM (SELECT 1 FROM `+table+` WHERE next_attempt_at <= ? AND locked_until <= ? LIMIT 1) AS due`),
		now.UnixMilli(), now.UnixMilli()).Scan(&due)
	if err != nil || due == 0 {
		return nil, db.wrap("look for due "+what, err)
	}
	rows, err := db.write.QueryContext(ctx, db.q(`UPDATE `+table+` SET locked_until = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM `+table+` WHERE next_attempt_at <= ? AND locked_until <= ? ORDER BY id LIMIT ?`+db.d.skipLocked+`)
		RETURNING `+returning),
		now.Add(lease).UnixMilli(), now.UnixMilli(), now.UnixMilli(), limit)
	if err != nil {
		return nil, db.wrap("claim "+what, err)
	}
	defer rows.Close()
	var jobs []J
	for rows.Next() {
		j, err := scan(rows)
		if err != nil {
			return nil, db.wrap("claim "+what, err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("claim "+what, err)
	}
	// RETURNING gives rows in storage order; hand them out oldest first.
	slices.SortFunc(jobs, func(a, b J) int { return cmp.Compare(id(a), id(b)) })
	return jobs, nil
}

// alertColumns are the part of a claim's RETURNING that reads a queued
// alert's event (as a message shows it) and incident: correlated subqueries
// rather than joins, because SQLite's RETURNING may name only the updated
// table; each is a primary-key lookup. full adds the run's timestamp and
// the incident's id, which channels show (and thread mail by) and a push
// does not: each column is one more lookup per job. alertRow.dest(full)
// scans them, in this order.
func alertColumns(table string, full bool) []string {
	var cols []string
	for _, c := range alertEventColumns(full) {
		cols = append(cols, "(SELECT "+c+" FROM events WHERE events.session_id = "+table+".session_id AND events.seq = "+table+".seq)")
	}
	for _, c := range alertIncidentColumns(full) {
		cols = append(cols, "(SELECT "+c+" FROM incidents WHERE incidents.id = "+table+".incident_id)")
	}
	return cols
}

func alertEventColumns(full bool) []string {
	if full {
		return []string{"name", "status", "duration_ms", "ts", "received_at", "error_type", "error_message"}
	}
	return []string{"name", "status", "duration_ms", "received_at", "error_type", "error_message"}
}

func alertIncidentColumns(full bool) []string {
	if full {
		return []string{"id", "kind", "opened_at", "closed_at", "runs"}
	}
	return []string{"kind", "opened_at", "closed_at", "runs"}
}

// alertRow holds alertColumns as scanned; ts and inID stay null unless
// full.
type alertRow struct {
	name, status, errType, errMsg    sql.NullString
	duration                         sql.NullFloat64
	ts, received                     sql.NullInt64
	inID, inOpened, inClosed, inRuns sql.NullInt64
	inKind                           sql.NullString
}

// dest are the Scan destinations of alertColumns(full), after the
// claim's own columns (cols).
func (a *alertRow) dest(full bool, cols ...any) []any {
	if full {
		return append(cols, &a.name, &a.status, &a.duration, &a.ts, &a.received, &a.errType, &a.errMsg,
			&a.inID, &a.inKind, &a.inOpened, &a.inClosed, &a.inRuns)
	}
	return append(cols, &a.name, &a.status, &a.duration, &a.received, &a.errType, &a.errMsg,
		&a.inKind, &a.inOpened, &a.inClosed, &a.inRuns)
}

// incident is the alert's incident, nil for none.
func (a *alertRow) incident() *domain.Incident {
	if !a.inKind.Valid {
		return nil
	}
	in := &domain.Incident{ID: a.inID.Int64, Kind: a.inKind.String, OpenedAt: domain.TimeFromMillis(a.inOpened.Int64), Runs: a.inRuns.Int64}
	if a.inClosed.Valid {
		t := domain.TimeFromMillis(a.inClosed.Int64)
		in.ClosedAt = &t
	}
	return in
}

// event is the alert's event seq, nil when there is none (seq 0) or it was
// pruned: name is NOT NULL.
func (a *alertRow) event(seq int64) *domain.StoredEvent {
	if !a.name.Valid {
		return nil
	}
	ev := &domain.StoredEvent{Seq: seq, ReceivedAt: domain.TimeFromMillis(a.received.Int64)}
	ev.Name, ev.Status = a.name.String, a.status.String
	if a.ts.Valid {
		ev.Timestamp = domain.TimeFromMillis(a.ts.Int64)
	}
	if a.duration.Valid {
		d := a.duration.Float64
		ev.DurationMS = &d
	}
	if a.errType.Valid {
		ev.Error = &domain.ErrorInfo{Type: a.errType.String, Message: a.errMsg.String}
	}
	return ev
}
