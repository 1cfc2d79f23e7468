package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/observable-code/observable/internal/domain"
)

// jobAlert is an alert a commit or the evaluator queues: its kind and the
// incident it is about.
type jobAlert struct {
	kind     string
	incident *domain.IncidentState
}

func (a jobAlert) incidentID() any {
	if a.incident == nil || a.incident.ID == 0 {
		return nil
	}
	return a.incident.ID
}

// saveIncidents writes the incidents the models changed: a new one is
// inserted (rare: one per incident, with its id read back), changed ones
// are updated together, one statement per size class. The job rows are
// locked, so nobody else changes their incidents meanwhile.
func (db *DB) saveIncidents(ctx context.Context, tx *sql.Tx, keys []jobKey, models []*domain.JobModel) error {
	var changed [][]any
	for i, m := range models {
		in := m.Incident
		switch {
		case in == nil:
		case in.New:
			err := tx.QueryRowContext(ctx, db.q(`INSERT INTO incidents (session_id, name, kind, opened_at, closed_at, runs, alerted_at, flaps)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
				keys[i].session, keys[i].name, in.Kind, in.OpenedAt, nullInt(in.ClosedAt), in.Runs, nullInt(in.AlertedAt), in.Flaps).Scan(&in.ID)
			if err != nil {
				return fmt.Errorf("open incident: %w", err)
			}
			in.New = false
		case in.Dirty:
			changed = append(changed, []any{in.ID, nullInt(in.ClosedAt), in.Runs, nullInt(in.AlertedAt), int64(in.Flaps)})
			in.Dirty = false
		}
	}
	if len(changed) == 0 {
		return nil
	}
	err := runPadded(ctx, tx, db.ingest.setIncidents, changed, nil, func(*sql.Rows) error { return nil })
	return wrapErr("update incidents", err)
}

func (db *DB) updateIncidentsQuery(n int) string {
	return `UPDATE incidents SET closed_at = v.column2, runs = v.column3, alerted_at = v.column4, flaps = v.column5
		FROM (VALUES ` + db.values(n, "BIGINT", "BIGINT", "BIGINT", "BIGINT", "BIGINT") + `) AS v WHERE incidents.id = v.column1`
}

// Incidents is a job's incident history, newest first.
func (db *DB) Incidents(ctx context.Context, sessionID int64, name string, limit int) ([]domain.Incident, error) {
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT id, kind, opened_at, closed_at, runs FROM incidents
		WHERE session_id = ? AND name = ? ORDER BY opened_at DESC, id DESC LIMIT ?`), sessionID, name, limit)
	if err != nil {
		return nil, db.wrap("incidents", err)
	}
	defer rows.Close()
	out := []domain.Incident{}
	for rows.Next() {
		var in domain.Incident
		var opened int64
		var closed sql.NullInt64
		if err := rows.Scan(&in.ID, &in.Kind, &opened, &closed, &in.Runs); err != nil {
			return nil, db.wrap("incidents", err)
		}
		in.OpenedAt = domain.TimeFromMillis(opened)
		if closed.Valid {
			t := domain.TimeFromMillis(closed.Int64)
			in.ClosedAt = &t
		}
		out = append(out, in)
	}
	return out, db.wrap("incidents", rows.Err())
}
