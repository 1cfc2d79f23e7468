package sqlstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// The commit's rows as the column arrays its unnest statements take
// (postgres_append_write.go). A nil pointer is NULL; each column holds
// exactly what the SQLite path binds for it (insertEvents, appendModelArgs,
// queuePushes, queueChannelAlerts, updateSessions).

func pgEventColumns(added []newEvent) []any {
	n := len(added)
	session, seq, ts, received := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	name, status := make([]string, n), make([]string, n)
	duration := make([]*float64, n)
	clientID, errType, errMsg, errTB := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	metadata, source, run, expectation := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	for i, x := range added {
		e := x.ev
		session[i], seq[i], ts[i], received[i] = x.a.SessionID, e.Seq, e.Timestamp.Millis(), e.ReceivedAt.Millis()
		name[i], status[i] = e.Name, e.Status
		duration[i] = e.DurationMS
		clientID[i], run[i] = textOrNull(e.ID), textOrNull(e.Run)
		if e.Error != nil {
			errType[i], errMsg[i], errTB[i] = &e.Error.Type, &e.Error.Message, textOrNull(e.Error.Traceback)
		}
		if e.Metadata != nil {
			s := string(e.Metadata)
			metadata[i] = &s
		}
		if e.Source != nil {
			s := string(e.Source)
			source[i] = &s
		}
		if e.Expect != nil {
			s := string(e.Expect)
			expectation[i] = &s
		}
	}
	prev := make([]*int64, n)
	for i, p := range chainPrev(added) {
		if p > 0 {
			prev[i] = &p
		}
	}
	return []any{session, seq, clientID, name, status, duration, ts, received, errType, errMsg, errTB, metadata, source, run, expectation, prev}
}

// pgOpenIncidents inserts the incidents the models opened, in a round trip
// of its own (rare: one per incident), and gives them their ids: the job
// rows and the alerts that follow refer to them. A job opens at most one
// incident a commit, so (session, name) tells the returned rows apart.
func pgOpenIncidents(ctx context.Context, c *pgx.Conn, keys []jobKey, models []*domain.JobModel) error {
	var session, opened, runs, flaps []int64
	var names, kinds []string
	var closedP, alertedP []*int64
	fresh := make(map[jobKey]*domain.IncidentState)
	for i, m := range models {
		in := m.Incident
		if in == nil || !in.New {
			continue
		}
		fresh[keys[i]] = in
		session, names, kinds = append(session, keys[i].session), append(names, keys[i].name), append(kinds, in.Kind)
		opened, runs, flaps = append(opened, in.OpenedAt), append(runs, in.Runs), append(flaps, int64(in.Flaps))
		closedP, alertedP = append(closedP, intOrNull(in.ClosedAt)), append(alertedP, intOrNull(in.AlertedAt))
	}
	if len(fresh) == 0 {
		return nil
	}
	rows, err := c.Query(ctx, pgOpenIncidentsSQL, session, names, kinds, opened, closedP, runs, alertedP, flaps)
	if err != nil {
		return fmt.Errorf("open incident: %w", err)
	}
	defer rows.Close()
	var k jobKey
	var id int64
	for rows.Next() {
		if err := rows.Scan(&id, &k.session, &k.name); err != nil {
			return fmt.Errorf("open incident: %w", err)
		}
		if in := fresh[k]; in != nil {
			// Inserted as it is: nothing left to update.
			in.ID, in.New, in.Dirty = id, false, false
		}
	}
	return wrapErr("open incident", rows.Err())
}

// pgDirtyIncidents are the changed incidents' columns, false when none changed.
func pgDirtyIncidents(models []*domain.JobModel) ([]any, bool) {
	var ids, runs, flaps []int64
	var closed, alerted []*int64
	for _, m := range models {
		in := m.Incident
		if in == nil || in.New || !in.Dirty {
			continue
		}
		ids, runs, flaps = append(ids, in.ID), append(runs, in.Runs), append(flaps, int64(in.Flaps))
		closed, alerted = append(closed, intOrNull(in.ClosedAt)), append(alerted, intOrNull(in.AlertedAt))
		in.Dirty = false
	}
	return []any{ids, closed, runs, alerted, flaps}, len(ids) > 0
}

// pgJobColumns are the job upsert's columns: the summary, then modelValues',
// each as a text or a bigint array by the type modelValues gives it.
func pgJobColumns(keys []jobKey, deltas []jobDelta, models []*domain.JobModel) ([]any, error) {
	n := len(keys)
	session, lastSeq, runs, failures := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	name, status := make([]string, n), make([]string, n)
	var texts [modelWidth][]*string
	var ints [modelWidth][]*int64
	for i, k := range keys {
		d := &deltas[i]
		session[i], name[i], lastSeq[i], status[i], runs[i], failures[i] = k.session, k.name, d.last.Seq, d.last.Status, d.runs, d.failures
		vals, err := modelValues(models[i])
		if err != nil {
			return nil, fmt.Errorf("update jobs: job %q: %w", k.name, err)
		}
		for col, v := range vals {
			if i == 0 {
				if v.text {
					texts[col] = make([]*string, n)
				} else {
					ints[col] = make([]*int64, n)
				}
			}
			switch {
			case v.null:
			case v.text:
				texts[col][i] = &v.s
			default:
				ints[col][i] = &v.n
			}
		}
	}
	out := make([]any, 0, 6+modelWidth)
	out = append(out, session, name, lastSeq, status, runs, failures)
	for col := range modelWidth {
		if texts[col] != nil {
			out = append(out, texts[col])
		} else {
			out = append(out, ints[col])
		}
	}
	return out, nil
}

// pgAlerts are the alerts eachAlert finds, by column.
type pgAlerts struct {
	target, kind     []string
	session, seq, at []int64
	incident         []*int64
}

func pgAlertColumns(targets map[int64][]alertTarget, added []newEvent, alerts []jobAlert, count func(*store.Append)) (pgAlerts, bool) {
	var c pgAlerts
	eachAlert(targets, added, alerts, count, func(t *alertTarget, n newEvent, al jobAlert, kind string) {
		c.target, c.session, c.seq, c.kind = append(c.target, t.id), append(c.session, n.a.SessionID), append(c.seq, n.ev.Seq), append(c.kind, kind)
		c.at, c.incident = append(c.at, n.ev.ReceivedAt.Millis()), append(c.incident, alertIncident(al))
	})
	return c, len(c.target) > 0
}

// pushes are pgInsertPushes' columns, as pushRow's.
func (c *pgAlerts) pushes() []any {
	return []any{c.target, c.session, c.seq, c.kind, c.at, c.incident}
}

// channels are pgInsertChannels' columns, as channelRow's.
func (c *pgAlerts) channels() []any {
	return []any{c.target, c.session, c.seq, c.kind, c.incident, c.at, c.at}
}

func pgSessionColumns(changed []int64, lastSeq map[int64]int64, added []newEvent) []any {
	count := make(map[int64]int64, len(changed))
	newest := make(map[int64]int64, len(changed))
	for _, n := range added {
		count[n.a.SessionID]++
		newest[n.a.SessionID] = max(newest[n.a.SessionID], n.ev.ReceivedAt.Millis())
	}
	seqs, counts, ats := make([]int64, len(changed)), make([]int64, len(changed)), make([]int64, len(changed))
	for i, id := range changed {
		seqs[i], counts[i], ats[i] = lastSeq[id], count[id], newest[id]
	}
	return []any{changed, seqs, counts, ats}
}

func alertIncident(al jobAlert) *int64 {
	if id, ok := al.incidentID().(int64); ok {
		return &id
	}
	return nil
}

func textOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func intOrNull(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}
