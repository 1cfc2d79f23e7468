package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/expect"
)

// modelColumns are a job row's model (domain.JobModel), in scanModel's order.
// The query joins the latest incident: LEFT JOIN incidents i ON i.id = j.incident_id.
const modelColumns = `j.state, j.expect_code, j.expect_user, j.expect_learned, j.paused, j.snoozed_until,
	j.last_start, j.next_due, j.next_deadline, j.fail_streak, j.running, j.recent,
	i.id, i.kind, i.opened_at, i.closed_at, i.alerted_at, i.runs, i.flaps`

const joinIncident = ` LEFT JOIN incidents i ON i.id = j.incident_id`

// scanModel scans modelColumns after the extra destinations.
func scanModel(row scanner, extra ...any) (domain.JobModel, error) {
	var m domain.JobModel
	dest, finish := modelDest(&m)
	if err := row.Scan(append(extra, dest...)...); err != nil {
		return m, err
	}
	return m, finish()
}

// modelScan holds modelColumns' destinations in one allocation: the commit
// reads a row per job it touches.
type modelScan struct {
	code, user, learned, running, recent, inKind      sql.NullString
	paused                                            int64
	snoozed, lastStart, due, deadline                 sql.NullInt64
	inID, inOpened, inClosed, inAlerted, inRuns, inFl sql.NullInt64
	dest                                              [19]any
}

// modelDest are the destinations of modelColumns for m; finish decodes them
// into m once scanned.
func modelDest(m *domain.JobModel) (dest []any, finish func() error) {
	v := &modelScan{}
	v.dest = [19]any{&m.State, &v.code, &v.user, &v.learned, &v.paused, &v.snoozed,
		&v.lastStart, &v.due, &v.deadline, &m.FailStreak, &v.running, &v.recent,
		&v.inID, &v.inKind, &v.inOpened, &v.inClosed, &v.inAlerted, &v.inRuns, &v.inFl}
	return v.dest[:], func() error { return v.decode(m) }
}

func (v *modelScan) decode(m *domain.JobModel) error {
	m.Paused = v.paused != 0
	m.SnoozedUntil, m.LastStart, m.NextDue = v.snoozed.Int64, v.lastStart.Int64, v.due.Int64
	m.NextDeadline = v.deadline.Int64
	if v.inID.Valid {
		m.Incident = &domain.IncidentState{ID: v.inID.Int64, Kind: v.inKind.String, OpenedAt: v.inOpened.Int64,
			ClosedAt: v.inClosed.Int64, AlertedAt: v.inAlerted.Int64, Runs: v.inRuns.Int64, Flaps: int(v.inFl.Int64)}
	}
	var err error
	if m.Code, err = domain.DecodeExpect(v.code.String); err != nil {
		return fmt.Errorf("expect_code: %w", err)
	}
	if m.User, err = domain.DecodeExpect(v.user.String); err != nil {
		return fmt.Errorf("expect_user: %w", err)
	}
	if m.Learned, err = domain.DecodeExpect(v.learned.String); err != nil {
		// A learned expectation can be learned again: an unreadable one is none.
		m.Learned = nil
	}
	if r := v.running.String; r != "" && r != "[]" {
		if err := json.Unmarshal([]byte(r), &m.Running); err != nil {
			return fmt.Errorf("running: %w", err)
		}
	}
	if m.Recent, err = parseRecent(v.recent.String); err != nil {
		return fmt.Errorf("recent: %w", err)
	}
	return nil
}

// The recent column is the model's recent runs as text, small because the
// commit rewrites it with every run that ends: "start:duration" pairs
// separated by spaces, oldest first, each start after the first as the
// milliseconds since the one before (an hourly job's pair is about 12 bytes
// rather than 30). A duration of -1 is unknown. "" and "[]" are none.

// parseRecent reads the recent column without reflection: the commit reads
// it for every job it touches.
func parseRecent(s string) ([][2]int64, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	out := make([][2]int64, 0, domain.RecentRuns+1)
	var prev int64
	for i, pair := range strings.Fields(s) {
		a, b, ok := strings.Cut(pair, ":")
		start, err1 := strconv.ParseInt(a, 10, 64)
		dur, err2 := strconv.ParseInt(b, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%.40q is not a list of start:duration pairs", s)
		}
		if i > 0 {
			start += prev
		}
		prev = start
		out = append(out, [2]int64{start, dur})
	}
	return out, nil
}

// formatRecent writes what parseRecent reads.
func formatRecent(r [][2]int64) string {
	b := make([]byte, 0, len(r)*14)
	var prev int64
	for i, x := range r {
		if i > 0 {
			b = append(b, ' ')
			b = strconv.AppendInt(b, x[0]-prev, 10)
		} else {
			b = strconv.AppendInt(b, x[0], 10)
		}
		prev = x[0]
		b = append(b, ':')
		b = strconv.AppendInt(b, x[1], 10)
	}
	return string(b)
}

// modelArgs are the columns the commit writes (upsertJobs), after the summary's.
func modelArgs(m *domain.JobModel) ([]any, error) {
	code, err := domain.EncodeExpect(m.Code)
	if err != nil {
		return nil, err
	}
	learned, err := domain.EncodeExpect(m.Learned)
	if err != nil {
		return nil, err
	}
	running := []byte("[]")
	if len(m.Running) > 0 {
		if running, err = json.Marshal(m.Running); err != nil {
			return nil, err
		}
	}
	var incident any
	if m.Incident != nil {
		incident = m.Incident.ID
	}
	return []any{m.State, code, learned, nullInt(m.LastStart), nullInt(m.NextDue), nullInt(m.NextDeadline),
		m.FailStreak, string(running), formatRecent(m.Recent), incident}, nil
}

// upsertModelColumns are modelArgs' columns; the user's (expect_user, paused,
// snoozed_until) are not the commit's to write.
const upsertModelColumns = `state, expect_code, expect_learned, last_start, next_due, next_deadline, fail_streak, running, recent, incident_id`

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

// readModels reads, locked until the commit ends, the models of the commit's
// jobs that exist, by their index in keys: one statement per size class, whatever
// the number of sessions. Rows come back in (session, name) order, the order
// every writer of jobs locks them in.
func (db *DB) readModels(ctx context.Context, tx *sql.Tx, keys []jobKey) (map[int]*domain.JobModel, error) {
	vals := make([][]any, len(keys), padTo(len(keys)))
	for i, k := range keys {
		vals[i] = []any{int64(i), k.session, k.name}
	}
	// Padded with rows no job matches: runPadded would repeat the last key,
	// and its row would be read and decoded again for every repeat.
	for len(vals) < cap(vals) {
		vals = append(vals, []any{int64(-1), int64(-1), ""})
	}
	found := make(map[int]*domain.JobModel, len(keys))
	err := runPadded(ctx, tx, db.ingest.readModels, nil, vals, func(rows *sql.Rows) error {
		var i int64
		m, err := scanModel(rows, &i)
		if err != nil {
			return err
		}
		if i >= 0 {
			found[int(i)] = &m
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	return found, nil
}

// padTo is n rounded up to what runPadded runs without repeating a value:
// whole chunks of the largest size class, then the smallest class that holds
// the rest.
func padTo(n int) int {
	big := sizeClasses[0]
	full, rest := n/big*big, n%big
	if rest == 0 {
		return full
	}
	c := big
	for _, s := range sizeClasses {
		if s >= rest {
			c = s
		}
	}
	return full + c
}

func (db *DB) readModelsQuery(n int) string {
	lock := ""
	if db.d.lockRow != "" {
		lock = " FOR UPDATE OF j"
	}
	return `SELECT v.column1, ` + modelColumns + ` FROM (VALUES ` + db.values(n, "BIGINT", "BIGINT", "TEXT") + `) AS v
		JOIN jobs j ON j.session_id = v.column2 AND j.name = v.column3` + joinIncident + ` ORDER BY j.session_id, j.name` + lock
}

// applyModels runs the commit's events through their jobs' models, in seq order
// (added holds them so), judges each for the job's incident (the alerts, by
// index in added), learns again where a run ended, and settles each as of now.
// A job new to this commit starts from an empty model.
func applyModels(keys []jobKey, models map[int]*domain.JobModel, added []newEvent, now time.Time) ([]*domain.JobModel, []jobAlert) {
	index := make(map[jobKey]int, len(keys))
	out := make([]*domain.JobModel, len(keys))
	for i, k := range keys {
		index[k] = i
		out[i] = models[i]
		if out[i] == nil {
			out[i] = &domain.JobModel{State: domain.StateNew}
		}
	}
	ended := make([]bool, len(keys))
	var alerts []jobAlert
	for x, n := range added {
		i := index[jobKey{n.a.SessionID, n.ev.Name}]
		m := out[i]
		if m.Apply(n.ev) {
			ended[i] = true
		}
		if kind := m.Judge(n.ev, now); kind != "" {
			if alerts == nil {
				alerts = make([]jobAlert, len(added))
			}
			alerts[x] = jobAlert{kind: kind, incident: m.Incident}
		}
	}
	for i, m := range out {
		if ended[i] {
			m.Learn(expect.Options{})
		}
		m.Settle(now)
	}
	return out, alerts
}

// sortedKeys are the commit's jobs in (session, name) order.
func sortedKeys(added []newEvent) []jobKey {
	seen := make(map[jobKey]bool)
	var keys []jobKey
	for _, n := range added {
		k := jobKey{n.a.SessionID, n.ev.Name}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareJobKeys)
	return keys
}
