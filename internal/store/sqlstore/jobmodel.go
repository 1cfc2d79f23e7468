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
	packed                                            sql.NullString // commitModelColumns' incident
	dest                                              [19]any
}

// modelDest are the destinations of modelColumns for m; finish decodes them
// into m once scanned.
func modelDest(m *domain.JobModel) (dest []any, finish func() error) {
	v := newModelScan(m)
	return v.dest[:], func() error { return v.decode(m) }
}

func newModelScan(m *domain.JobModel) *modelScan {
	v := &modelScan{}
	v.dest = [19]any{&m.State, &v.code, &v.user, &v.learned, &v.paused, &v.snoozed,
		&v.lastStart, &v.due, &v.deadline, &m.FailStreak, &v.running, &v.recent,
		&v.inID, &v.inKind, &v.inOpened, &v.inClosed, &v.inAlerted, &v.inRuns, &v.inFl}
	return v
}

// commitModelColumns are modelColumns with the incident's packed into one
// text column (NULL without one): the commit reads a row per job it
// touches, and each column read costs the driver about as much as the
// next, so 19 columns become 13.
const commitModelColumns = `j.state, j.expect_code, j.expect_user, j.expect_learned, j.paused, j.snoozed_until,
	j.last_start, j.next_due, j.next_deadline, j.fail_streak, j.running, j.recent,
	i.id || ' ' || i.opened_at || ' ' || COALESCE(i.closed_at, 0) || ' ' || COALESCE(i.alerted_at, 0) ||
	' ' || i.runs || ' ' || i.flaps || ' ' || i.kind`

// commitModelDest are the destinations of commitModelColumns for m, as modelDest's.
func commitModelDest(m *domain.JobModel) (dest []any, finish func() error) {
	v := newModelScan(m)
	dest = append(v.dest[:12:12], &v.packed)
	return dest, func() error {
		v.inID = sql.NullInt64{}
		if v.packed.Valid {
			if err := v.unpackIncident(v.packed.String); err != nil {
				return err
			}
		}
		return v.decode(m)
	}
}

// unpackIncident reads commitModelColumns' incident column.
func (v *modelScan) unpackIncident(s string) error {
	var n [6]int64
	rest := s
	for i := range n {
		var field string
		var ok bool
		field, rest, ok = strings.Cut(rest, " ")
		x, err := strconv.ParseInt(field, 10, 64)
		if !ok || err != nil {
			return fmt.Errorf("incident %.60q: not id, opened, closed, alerted, runs, flaps and kind", s)
		}
		n[i] = x
	}
	v.inID = sql.NullInt64{Int64: n[0], Valid: true}
	v.inOpened.Int64, v.inClosed.Int64, v.inAlerted.Int64, v.inRuns.Int64, v.inFl.Int64 = n[1], n[2], n[3], n[4], n[5]
	v.inKind.String = rest
	return nil
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

// parseRecent reads the recent column without reflection, and without
// splitting it into strings first: the commit reads it for every job it
// touches.
func parseRecent(s string) ([][2]int64, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	out := make([][2]int64, 0, domain.RecentRuns+1)
	var prev int64
	for rest := strings.TrimSpace(s); rest != ""; rest = strings.TrimLeft(rest, " ") {
		pair := rest
		if sp := strings.IndexByte(rest, ' '); sp >= 0 {
			pair, rest = rest[:sp], rest[sp:]
		} else {
			rest = ""
		}
		a, b, ok := strings.Cut(pair, ":")
		start, err1 := strconv.ParseInt(a, 10, 64)
		dur, err2 := strconv.ParseInt(b, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%.40q is not a list of start:duration pairs", s)
		}
		if len(out) > 0 {
			start += prev
		}
		prev = start
		out = append(out, [2]int64{start, dur})
	}
	return out, nil
}

// formatRecent writes what parseRecent reads, in one allocation.
func formatRecent(r [][2]int64) string {
	var b strings.Builder
	b.Grow(len(r) * 16)
	var num [20]byte
	var prev int64
	for i, x := range r {
		if i > 0 {
			b.WriteByte(' ')
			b.Write(strconv.AppendInt(num[:0], x[0]-prev, 10))
		} else {
			b.Write(strconv.AppendInt(num[:0], x[0], 10))
		}
		prev = x[0]
		b.WriteByte(':')
		b.Write(strconv.AppendInt(num[:0], x[1], 10))
	}
	return b.String()
}

// modelValue is one of the model's columns the commit writes: a text or a
// bigint, or NULL.
type modelValue struct {
	text bool
	null bool
	s    string
	n    int64
	enc  any // the text as domain.EncodeExpect gave it: arg need not box it again
}

func textValue(s string) modelValue { return modelValue{text: true, s: s} }

// encodedValue is what domain.EncodeExpect gives: a text, or nil for NULL.
func encodedValue(v any) modelValue {
	s, ok := v.(string)
	return modelValue{text: true, null: !ok, s: s, enc: v}
}

func intValue(v int64, null bool) modelValue { return modelValue{null: null, n: v} }

func (v modelValue) arg() any {
	switch {
	case v.null:
		return nil
	case v.enc != nil:
		return v.enc
	case v.text:
		return v.s
	}
	return v.n
}

// modelWidth is the number of upsertModelColumns.
const modelWidth = 10

// modelValues are m's upsertModelColumns, in their order: the one place that
// knows what each holds and of which type (SQLite binds them as they are,
// appendModelArgs; PostgreSQL gathers them into typed arrays, pgJobColumns).
func modelValues(m *domain.JobModel) ([modelWidth]modelValue, error) {
	code, err := domain.EncodeExpect(m.Code)
	if err != nil {
		return [modelWidth]modelValue{}, err
	}
	learned, err := domain.EncodeExpect(m.Learned)
	if err != nil {
		return [modelWidth]modelValue{}, err
	}
	running := "[]"
	if len(m.Running) > 0 {
		b, err := json.Marshal(m.Running)
		if err != nil {
			return [modelWidth]modelValue{}, err
		}
		running = string(b)
	}
	var incident int64
	if m.Incident != nil {
		incident = m.Incident.ID
	}
	return [modelWidth]modelValue{textValue(m.State), encodedValue(code), encodedValue(learned),
		intValue(m.LastStart, m.LastStart == 0), intValue(m.NextDue, m.NextDue == 0), intValue(m.NextDeadline, m.NextDeadline == 0),
		intValue(int64(m.FailStreak), false), textValue(running), textValue(formatRecent(m.Recent)), intValue(incident, m.Incident == nil)}, nil
}

// appendModelArgs appends m's modelValues, after the summary's columns, to row.
func appendModelArgs(row []any, m *domain.JobModel) ([]any, error) {
	vals, err := modelValues(m)
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		row = append(row, v.arg())
	}
	return row, nil
}

// upsertModelColumns are appendModelArgs' columns; the user's (expect_user, paused,
// snoozed_until) are not the commit's to write.
const upsertModelColumns = `state, expect_code, expect_learned, last_start, next_due, next_deadline, fail_streak, running, recent, incident_id`

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

// readModels reads, locked until the commit ends, the models of the commit's
// jobs that exist, by their index in keys (nil where a job is new): one
// statement per size class, whatever the number of sessions. On PostgreSQL
// rows are locked in (session, name) order, the order every writer of jobs
// locks them in. The commit reads a row per job it touches, so the rows
// share their allocations: one backing array, one set of scan destinations.
func (db *DB) readModels(ctx context.Context, tx *sql.Tx, keys []jobKey) ([]*domain.JobModel, error) {
	vals := make([][]any, len(keys))
	flat := make([]any, 3*len(keys))
	for i, k := range keys {
		vals[i] = append(flat[3*i:3*i:3*i+3], int64(i), k.session, k.name)
	}
	// Padded with rows no job matches: a repeated key's row would be read
	// and decoded again for every repeat.
	none := []any{int64(-1), int64(-1), ""}
	found := make([]*domain.JobModel, len(keys))
	var models []domain.JobModel
	var m domain.JobModel
	var i int64
	dest, finish := commitModelDest(&m)
	dest = append([]any{&i}, dest...)
	err := runPadded(ctx, tx, db.ingest.readModels, vals, &none, func(rows *sql.Rows) error {
		m = domain.JobModel{}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if err := finish(); err != nil {
			return err
		}
		if i >= 0 && int(i) < len(keys) {
			if models == nil {
				models = make([]domain.JobModel, 0, len(keys))
			}
			models = append(models, m)
			found[i] = &models[len(models)-1]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	return found, nil
}

func (db *DB) readModelsQuery(n int) string {
	// Rows are matched to keys by column1, so order matters only where rows
	// are locked (PostgreSQL): there they are locked in (session, name) order.
	// SQLite has one writer and would sort for nothing.
	tail := ""
	if db.d.lockRow != "" {
		tail = ` ORDER BY j.session_id, j.name FOR UPDATE OF j`
	}
	return `SELECT v.column1, ` + commitModelColumns + ` FROM (VALUES ` + db.values(n, "BIGINT", "BIGINT", "TEXT") + `) AS v
		JOIN jobs j ON j.session_id = v.column2 AND j.name = v.column3` + joinIncident + tail
}

// applyModels runs the commit's events through their jobs' models, in seq order
// (added holds them so; of[x] is the index in keys of added[x]'s job), judges
// each for the job's incident (the alerts, by index in added), learns again
// where a run ended, and settles each as of now. A job new to this commit
// starts from an empty model.
func applyModels(keys []jobKey, models []*domain.JobModel, added []newEvent, of []int, now time.Time) ([]*domain.JobModel, []jobAlert) {
	var fresh []domain.JobModel
	for i := range keys {
		if models[i] == nil {
			if fresh == nil {
				fresh = make([]domain.JobModel, len(keys))
			}
			fresh[i].State = domain.StateNew
			models[i] = &fresh[i]
		}
	}
	ended := make([]bool, len(keys))
	var alerts []jobAlert
	for x, n := range added {
		i := of[x]
		m := models[i]
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
	for i, m := range models {
		if ended[i] {
			m.Learn(expect.Options{})
		}
		m.Settle(now)
	}
	return models, alerts
}

// sortedKeys are the commit's jobs in (session, name) order, and for each
// event of added the index of its job in them.
func sortedKeys(added []newEvent) (keys []jobKey, of []int) {
	first := make(map[jobKey]int)
	of = make([]int, len(added))
	for x, n := range added {
		k := jobKey{n.a.SessionID, n.ev.Name}
		i, ok := first[k]
		if !ok {
			i = len(keys)
			first[k] = i
			keys = append(keys, k)
		}
		of[x] = i
	}
	if slices.IsSortedFunc(keys, compareJobKeys) {
		return keys, of
	}
	order := make([]int, len(keys)) // order[new index] = old index
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return compareJobKeys(keys[a], keys[b]) })
	where := make([]int, len(keys)) // where[old index] = new index
	sorted := make([]jobKey, len(keys))
	for n, o := range order {
		where[o] = n
		sorted[n] = keys[o]
	}
	for x := range of {
		of[x] = where[of[x]]
	}
	return sorted, of
}
