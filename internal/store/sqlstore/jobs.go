package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

// PercentileWindow is how many recent runs of a job p50_ms and p95_ms cover.
const PercentileWindow = 100

// SummaryTextChars is how much of a last event's error type, message and
// traceback a job list carries (longer ones are cut and end in "…"); a
// source longer than that is left out, as metadata always is. The list is
// bounded by it: a JSON string escapes a character to at most 6 bytes, so
// one job is at most about 2×200×6 (its name twice) + 64×6 (id) + 3×(256×6
// + 3) (error) + 256×6 (source) + ~400 (the other fields) ≈ 9.4 KB,
// whatever its events carry (conformance test JobSummaryWorstCase): under
// 10 KiB, so GET /api/v1/jobs is under 10 MiB at the default 1,000 jobs of
// --max-jobs-per-session. Job (GET /api/v1/jobs/{name}) has the last event
// in full.
const SummaryTextChars = 256

// SetMaxJobsPerSession caps the job names of a session (store.JobLimiter).
func (db *DB) SetMaxJobsPerSession(max int) { db.maxJobs.Store(int64(max)) }

// summaryColumns are eventColumns of e, cut to a summary's size in SQL so
// that long values never leave the database.
var summaryColumns = func() string {
	n := strconv.Itoa(SummaryTextChars)
	cut := func(col string) string {
		return `CASE WHEN length(` + col + `) > ` + n + ` THEN substr(` + col + `, 1, ` + n + `) || '…' ELSE ` + col + ` END`
	}
	return `e.seq, e.client_id, e.name, e.status, e.duration_ms, e.ts, e.received_at, ` +
		cut("e.error_type") + `, ` + cut("e.error_message") + `, ` + cut("e.error_traceback") +
		`, NULL, CASE WHEN length(e.source) <= ` + n + ` THEN e.source END, e.run, NULL`
}()

// jobsQuery reads jobs in one statement: each job's last event, and the
// durations of its last PercentileWindow runs that have one, as text (a
// REAL or float8 cast to text is exact in both dialects), from which Go
// takes the percentiles. The durations come from walking each job's name
// chain (events.prev_seq, migration 0005) back from its last_seq on the
// primary key, for all the jobs at once, until PercentileWindow durations
// are found or the chain leaves the retained events. CROSS JOIN keeps
// SQLite's loop order (the walk outside, events by key inside): it would
// scan the events otherwise.
// Its arguments are the session, filter's own, then both again.
func jobsQuery(columns, filter, tail string) string {
	hasDuration := `CASE WHEN e.duration_ms IS NULL THEN 0 ELSE 1 END`
	return `WITH RECURSIVE walk (session_id, name, prev, duration_ms, n) AS (
			SELECT j.session_id, j.name, e.prev_seq, e.duration_ms, ` + hasDuration + `
			FROM jobs j CROSS JOIN events e
			WHERE j.session_id = ?` + filter + ` AND e.session_id = j.session_id AND e.seq = j.last_seq
			UNION ALL
			SELECT w.session_id, w.name, e.prev_seq, e.duration_ms, w.n + ` + hasDuration + `
			FROM walk w CROSS JOIN events e
			WHERE w.n < ` + strconv.Itoa(PercentileWindow) + ` AND e.session_id = w.session_id AND e.seq = w.prev
		), durations (name, list) AS (
			SELECT name, string_agg(CAST(duration_ms AS TEXT), ',') FROM walk WHERE duration_ms IS NOT NULL GROUP BY name
		)
		SELECT j.runs, j.failures, dur.list,
			` + modelColumns + `,
			` + columns + `
		FROM jobs j JOIN events e ON e.session_id = j.session_id AND e.seq = j.last_seq` + joinIncident + `
		LEFT JOIN durations dur ON dur.name = j.name
		WHERE j.session_id = ?` + filter + tail
}

var (
	listJobsQuery     = jobsQuery(summaryColumns, "", ` ORDER BY j.last_seq DESC`)
	listSomeJobsQuery = listJobsQuery + ` LIMIT ?`
	oneJobQuery       = jobsQuery(`e.`+strings.ReplaceAll(eventColumns, ", ", ", e."), ` AND j.name = ?`, ``)
)

func scanJob(row scanner) (domain.Job, error) {
	var j domain.Job
	var durations sql.NullString
	dest, finish := modelDest(&j.Model)
	last, err := scanEvent(row, append([]any{&j.Runs, &j.Failures, &durations}, dest...)...)
	if err != nil {
		return j, err
	}
	if err := finish(); err != nil {
		return j, fmt.Errorf("job %q: %w", last.Name, err)
	}
	j.Name, j.Last = last.Name, last
	j.State, j.Paused = j.Model.State, j.Model.Paused
	if j.Model.Expectation() != nil || j.Model.WatchingOff() {
		j.Expect = &domain.JobExpect{Model: &j.Model}
	}
	if in := j.Model.Incident; in.Open() {
		j.Incident = &domain.Incident{ID: in.ID, Kind: in.Kind, OpenedAt: domain.TimeFromMillis(in.OpenedAt), Runs: in.Runs}
	}
	if j.Model.SnoozedUntil > 0 {
		t := domain.TimeFromMillis(j.Model.SnoozedUntil)
		j.SnoozedUntil = &t
	}
	if durations.Valid {
		ds := make([]float64, 0, PercentileWindow)
		for rest := durations.String; rest != ""; {
			var one string
			one, rest, _ = strings.Cut(rest, ",")
			d, err := strconv.ParseFloat(one, 64)
			if err != nil {
				return j, fmt.Errorf("job %q: duration %q: %w", j.Name, one, err)
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		j.P50MS, j.P95MS = percentile(ds, 0.50), percentile(ds, 0.95)
	}
	return j, nil
}

// percentile is the nearest-rank percentile of sorted values, or nil
// without data.
func percentile(sorted []float64, p float64) *float64 {
	if len(sorted) == 0 {
		return nil
	}
	rank := int(math.Ceil(p*float64(len(sorted)))) - 1
	v := sorted[max(rank, 0)]
	return &v
}

// Jobs summarises each job of the session, most recently run first, in
// one query. Past the job limit (lowered after the jobs were made) only
// the most recent ones are listed, so that the answer keeps its bound.
func (db *DB) Jobs(ctx context.Context, sessionID int64) ([]domain.Job, error) {
	query, args := listJobsQuery, []any{sessionID, sessionID}
	if limit := db.maxJobs.Load(); limit > 0 {
		query, args = listSomeJobsQuery, append(args, limit)
	}
	rows, err := db.read.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, db.wrap("jobs", err)
	}
	defer rows.Close()
	jobs := []domain.Job{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, db.wrap("jobs", err)
		}
		jobs = append(jobs, j)
	}
	return jobs, db.wrap("jobs", rows.Err())
}

// Job reads one job with its last event in full.
func (db *DB) Job(ctx context.Context, sessionID int64, name string) (domain.Job, error) {
	j, err := scanJob(db.read.QueryRowContext(ctx, db.q(oneJobQuery), sessionID, name, sessionID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return j, domain.ErrNotFound
	}
	return j, db.wrap("job", err)
}

// errJobsRefused rolls a commit back so that it is made again without the
// requests that enforceJobLimit refused.
var errJobsRefused = errors.New("requests refused for the job limit")

// enforceJobLimit runs in the commit after upsertJobs, and only for
// sessions that it gave new job names (inserted): the common commit, with
// names the sessions have, costs nothing more. Where a session is now over
// the limit, the requests that brought the names past it are refused, in
// order (the earlier ones keep theirs), and errJobsRefused is returned.
func (db *DB) enforceJobLimit(ctx context.Context, tx *sql.Tx, bySession map[int64][]*store.Append, inserted map[int64]map[string]bool) error {
	limit := int(db.maxJobs.Load())
	if limit <= 0 || len(inserted) == 0 {
		return nil
	}
	counts := make(map[int64]int, len(inserted))
	for session := range inserted {
		var count int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM jobs WHERE session_id = ?`), session).Scan(&count); err != nil {
			return fmt.Errorf("count jobs: %w", err)
		}
		counts[session] = count
	}
	refused := refuseOverLimit(limit, counts, bySession, inserted)
	if refused {
		return errJobsRefused
	}
	return nil
}

// firstOver is the index in a's request of the first event whose job name
// would pass the limit (room new names are left), so that a client can drop
// that event and send the rest again; -1 when it cannot say.
func firstOver(a *store.Append, fresh map[string]bool, room int) int {
	seen := make(map[string]bool)
	for i := range a.Events {
		name := a.Events[i].Name
		if !fresh[name] || seen[name] {
			continue
		}
		seen[name] = true
		if len(seen) > room {
			return i
		}
	}
	return -1
}

func tooManyJobs(have, limit, index int) error {
	e := domain.Errorf(domain.ETooManyJobs, "too many jobs: this session has %d job names and the server allows %d (--max-jobs-per-session); "+
		"nothing of this request was stored. Events of the session's existing jobs are still accepted: "+
		"reuse a job name and put what varies (an id, a date) in metadata, or ask the server's operator to raise --max-jobs-per-session",
		have, limit)
	if index >= 0 {
		// Named as a bad event is, so that a client drops this one event and
		// resends the others (the Python SDK does).
		e.Index, e.Field = &index, "name"
		e.Message = fmt.Sprintf("events[%d].name: a new job name past the limit; ", index) + e.Message
	}
	return e
}

// refuseOverLimit is enforceJobLimit's judgement over counts (the sessions'
// job rows after the upsert): it sets Err on the requests that brought
// names past the limit and reports whether it refused any.
func refuseOverLimit(limit int, counts map[int64]int, bySession map[int64][]*store.Append, inserted map[int64]map[string]bool) bool {
	refused := false
	for session, names := range inserted {
		count := counts[session]
		if count <= limit {
			continue
		}
		had := count - len(names)
		admitted := make(map[string]bool)
		for _, a := range bySession[session] {
			fresh := make(map[string]bool)
			for i := range a.Stored {
				if name := a.Stored[i].Name; names[name] && !admitted[name] {
					fresh[name] = true
				}
			}
			if had+len(admitted)+len(fresh) <= limit {
				for name := range fresh {
					admitted[name] = true
				}
				continue
			}
			a.Err = tooManyJobs(had+len(admitted), limit, firstOver(a, fresh, limit-had-len(admitted)))
			refused = true
		}
	}
	return refused
}
