package sqlstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/observable-code/observable/internal/domain"
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

// pgJobColumns are the job upsert's columns: the summary, then appendModelArgs'
// (upsertModelColumns), each given as a text or a bigint array by what
// appendModelArgs puts in it.
func pgJobColumns(keys []jobKey, deltas []jobDelta, models []*domain.JobModel) ([]any, error) {
	n := len(keys)
	session, lastSeq, runs, failures := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	name, status := make([]string, n), make([]string, n)
	isText := [10]bool{0: true, 1: true, 2: true, 7: true, 8: true}
	var texts [10][]*string
	var ints [10][]*int64
	for col, t := range isText {
		if t {
			texts[col] = make([]*string, n)
		} else {
			ints[col] = make([]*int64, n)
		}
	}
	var args []any
	for i, k := range keys {
		d := &deltas[i]
		session[i], name[i], lastSeq[i], status[i], runs[i], failures[i] = k.session, k.name, d.last.Seq, d.last.Status, d.runs, d.failures
		var err error
		if args, err = appendModelArgs(args[:0], models[i]); err != nil {
			return nil, fmt.Errorf("update jobs: job %q: %w", k.name, err)
		}
		for col, v := range args {
			switch v := v.(type) {
			case nil:
			case string:
				if !isText[col] {
					return nil, fmt.Errorf("update jobs: job %q: column %d is text", k.name, col)
				}
				texts[col][i] = &v
			case int64, int:
				if isText[col] {
					return nil, fmt.Errorf("update jobs: job %q: column %d is a number", k.name, col)
				}
				x := int64(0)
				if n, ok := v.(int); ok {
					x = int64(n)
				} else {
					x = v.(int64)
				}
				ints[col][i] = &x
			default:
				return nil, fmt.Errorf("update jobs: job %q: column %d is a %T", k.name, col, v)
			}
		}
	}
	out := []any{session, name, lastSeq, status, runs, failures}
	for col, t := range isText {
		if t {
			out = append(out, texts[col])
		} else {
			out = append(out, ints[col])
		}
	}
	return out, nil
}

func pgPushColumns(targets map[int64][]pushTarget, added []newEvent, alerts []jobAlert) ([]any, bool) {
	var device, kind []string
	var session, seq, at []int64
	var incident []*int64
	for x, n := range added {
		var al jobAlert
		if alerts != nil {
			al = alerts[x]
		}
		for _, t := range targets[n.a.SessionID] {
			if k := domain.AlertFor(t.notify, t.muted, &n.ev.Event, al.kind); k != "" {
				device, session, seq, kind = append(device, t.id), append(session, n.a.SessionID), append(seq, n.ev.Seq), append(kind, k)
				at, incident = append(at, n.ev.ReceivedAt.Millis()), append(incident, alertIncident(al))
				n.a.Pushes++
			}
		}
	}
	return []any{device, session, seq, kind, at, incident}, len(device) > 0
}

func pgChannelColumns(targets map[int64][]channelTarget, added []newEvent, alerts []jobAlert) ([]any, bool) {
	var channel, kind []string
	var session, seq, at []int64
	var incident []*int64
	for x, n := range added {
		var al jobAlert
		if alerts != nil {
			al = alerts[x]
		}
		for _, t := range targets[n.a.SessionID] {
			if k := domain.AlertFor(t.notify, t.muted, &n.ev.Event, al.kind); k != "" {
				channel, session, seq, kind = append(channel, t.id), append(session, n.a.SessionID), append(seq, n.ev.Seq), append(kind, k)
				at, incident = append(at, n.ev.ReceivedAt.Millis()), append(incident, alertIncident(al))
				n.a.Channels++
			}
		}
	}
	return []any{channel, session, seq, kind, incident, at, at}, len(channel) > 0
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
