package domain

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/observable-code/observable/internal/expect"
)

// Job states (the contract's JOB.state). Clients show unknown ones plainly.
const (
	StateNew     = "new"     // too little history to learn from, nothing declared
	StateUp      = "up"      // the last run ended well and nothing is late
	StateRunning = "running" // a run started and has not ended
	StateFailing = "failing" // the last run failed
	StateMissed  = "missed"  // the next run was due, plus grace, and has not come
	StateOverdue = "overdue" // a run started and has not ended by its max duration
	StatePaused  = "paused"  // the user paused it: nothing alerts until resumed
)

// Bounds of what a job row keeps, so that it stays small however a job behaves.
const (
	// MaxRunning is how many started and unended runs a job tracks; past it the
	// oldest is forgotten (a client that never ends its runs cannot grow the row).
	MaxRunning = 32
	// RecentRuns is how many of a job's newest runs the learner reads. expect.Learn
	// needs expect.MinRuns; more make it robust to a missed or an extra run, but
	// the row, rewritten with every run that ends, grows with them.
	RecentRuns = 16
)

// RunningRun is a run that started (a started event with a run id) and has not ended.
type RunningRun struct {
	Run   string `json:"run"`
	Start int64  `json:"start"` // Unix ms, the started event's timestamp
}

// JobModel is a job's own state, kept in its row and updated by each commit that
// stores its events (Apply), and by the evaluator when a deadline passes.
type JobModel struct {
	State        string
	Code         *expect.Expectation // declared in code (the latest event's expect)
	User         *expect.Expectation // set with PATCH: wins over the others
	Learned      *expect.Expectation // from the recent runs
	Paused       bool
	SnoozedUntil int64          // Unix ms, 0 when not snoozed
	LastStart    int64          // start of the newest ended run, Unix ms, 0 none
	NextDue      int64          // when the next run is due, Unix ms, 0 none
	NextDeadline int64          // when the evaluator must look at the job, Unix ms, 0 never
	Incident     *IncidentState // the latest incident, open or not; nil none
	FailStreak   int            // consecutive failed runs
	Running      []RunningRun
	Recent       [][2]int64 // [start ms, duration ms or -1], oldest first
	// Zone is the IANA zone the job's events come from (their source's tz,
	// SourceZone): its daily rhythm is learned there as well as in UTC, so
	// that summer time does not move it. "" when none said. Not stored: the
	// SDK sends it with every event, and a zone learned before stays a
	// candidate through the learned expectation's own TZ (zones).
	Zone string
}

// Expectation is the one that applies: the user's, else code's, else the learned one;
// nil when there is none, or when the user turned watching off.
func (m *JobModel) Expectation() *expect.Expectation {
	switch {
	case m.User != nil && m.User.Off:
		return nil
	case m.User != nil:
		return m.User
	case m.Code != nil:
		return m.Code
	}
	return m.Learned
}

// WatchingOff reports whether the user turned watching off.
func (m *JobModel) WatchingOff() bool { return m.User != nil && m.User.Off }

// Apply adds one stored event of the job to its model. It reports whether the event
// ended a run (so the caller learns again, once per commit).
func (m *JobModel) Apply(ev *StoredEvent) (ended bool) {
	if len(ev.Expect) > 0 {
		m.Code = nil
		if string(ev.Expect) != "null" {
			// Validated when the event was parsed; a failure here only means no declaration.
			if e, err := expect.Parse(ev.Expect, expect.Code); err == nil {
				m.Code = &e
			}
		}
	}
	if len(ev.Source) > 0 {
		if z := SourceZone(ev.Source); z != "" {
			m.Zone = z
		}
	}
	if ev.Status == StatusLog { // a note: no run begins or ends
		return false
	}
	at := ev.Timestamp.Millis()
	if ev.Started() {
		m.Running = slices.DeleteFunc(m.Running, func(r RunningRun) bool { return r.Run == ev.Run })
		m.Running = append(m.Running, RunningRun{Run: ev.Run, Start: at})
		if len(m.Running) > MaxRunning {
			m.Running = slices.Delete(m.Running, 0, len(m.Running)-MaxRunning)
		}
		return false
	}
	start, dur := at, int64(-1)
	if ev.DurationMS != nil {
		dur = int64(*ev.DurationMS)
		start = at - dur
	}
	if i := slices.IndexFunc(m.Running, func(r RunningRun) bool { return r.Run == ev.Run }); i >= 0 {
		start = m.Running[i].Start
		if dur < 0 && at >= start {
			dur = at - start
		}
		m.Running = slices.Delete(m.Running, i, i+1)
	}
	m.Recent = append(m.Recent, [2]int64{start, dur})
	if len(m.Recent) > RecentRuns {
		// History posted late arrives out of order: keep the newest by start.
		slices.SortStableFunc(m.Recent, func(a, b [2]int64) int { return int(max(-1, min(1, a[0]-b[0]))) })
		m.Recent = slices.Delete(m.Recent, 0, len(m.Recent)-RecentRuns)
	}
	m.LastStart = max(m.LastStart, start)
	// Outcomes count in the order they arrive: a long run that started before
	// a short one can end after it, and its outcome is then the newer.
	switch {
	case ev.Failed():
		m.FailStreak++
	case ev.Status == StatusCompleted:
		m.FailStreak = 0
	}
	return true
}

// Learn infers the job's expectation again from its recent runs; with too few or too
// irregular ones the learned expectation is dropped, never guessed.
func (m *JobModel) Learn(opt expect.Options) {
	var buf [RecentRuns + 1]expect.Run // Recent may hold one more until trimmed
	runs := buf[:0]
	for _, r := range m.Recent {
		d := time.Duration(-1)
		if r[1] >= 0 {
			d = time.Duration(r[1]) * time.Millisecond
		}
		runs = append(runs, expect.Run{Start: time.UnixMilli(r[0]), Duration: d})
	}
	opt.Zones = m.zones(opt.Zones)
	if e, ok := expect.Learn(runs, opt); ok {
		m.Learned = &e
	} else {
		m.Learned = nil
	}
}

// zones are the zones to learn the job's rhythm in besides UTC: the
// caller's, the events' own, the one it was learned in before (so that a
// run reported without a zone, by a ping say, does not move it back to
// UTC), and the one its code declared.
func (m *JobModel) zones(given []*time.Location) []*time.Location {
	out := given[:len(given):len(given)]
	add := func(name string) {
		if loc, ok := zoneOf(name); ok && !slices.Contains(out, loc) {
			out = append(out, loc)
		}
	}
	add(m.Zone)
	if m.Learned != nil {
		add(m.Learned.TZ)
	}
	if m.Code != nil {
		add(m.Code.TZ)
	}
	return out
}

// Settle computes the next due time, the next deadline and the state from the
// rest of the model, as of now (a commit's time). An incident's own state
// (missed, overdue) stays until a run or the evaluator settles it.
func (m *JobModel) Settle(now time.Time) {
	m.NextDue, m.NextDeadline = 0, 0
	e := m.Expectation()
	if e != nil {
		if m.LastStart > 0 {
			due, deadline := e.Due(time.UnixMilli(m.LastStart))
			m.NextDue, m.NextDeadline = millisOrZero(due), millisOrZero(deadline)
		} else if e.Source != expect.Learned {
			// Declared before any run ended: counted from now.
			due, deadline := e.FirstDue(now)
			m.NextDue, m.NextDeadline = millisOrZero(due), millisOrZero(deadline)
		}
		for _, r := range m.Running {
			if at, ok := e.OverdueAt(time.UnixMilli(r.Start)); ok && (m.NextDeadline == 0 || at.UnixMilli() < m.NextDeadline) {
				m.NextDeadline = at.UnixMilli()
			}
		}
	}
	switch {
	case m.Paused:
		m.State, m.NextDeadline = StatePaused, 0
	case e != nil && len(m.Running) > 0 && m.overdue(e, now):
		m.State = StateOverdue
	case len(m.Running) > 0:
		m.State = StateRunning
	case m.FailStreak > 0:
		m.State = StateFailing
	case e != nil && m.LastStart > 0 && e.Missed(time.UnixMilli(m.LastStart), now):
		m.State = StateMissed
	case e == nil && !m.WatchingOff():
		m.State = StateNew
	default:
		m.State = StateUp
	}
}

func (m *JobModel) overdue(e *expect.Expectation, now time.Time) bool {
	for _, r := range m.Running {
		if e.Overdue(time.UnixMilli(r.Start), now) {
			return true
		}
	}
	return false
}

func millisOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// EncodeExpect is an expectation as a job row keeps it (nil: NULL).
func EncodeExpect(e *expect.Expectation) (any, error) {
	if e == nil {
		return nil, nil
	}
	b, err := json.Marshal(e)
	return string(b), err
}

// decoded caches DecodeExpect: a commit reads the expectations of every job
// it touches, and a cron schedule costs a parse and a zone load to compile.
// Expectations are values, their compiled schedule immutable: copies are safe.
var decoded struct {
	sync.Mutex
	m map[string]expect.Expectation
}

const decodedMax = 4096 // then the cache starts over: a bound, not an LRU

// DecodeExpect reads what EncodeExpect wrote; an empty string is none.
func DecodeExpect(s string) (*expect.Expectation, error) {
	if s == "" {
		return nil, nil
	}
	decoded.Lock()
	e, ok := decoded.m[s]
	decoded.Unlock()
	if ok {
		return &e, nil
	}
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	decoded.Lock()
	if decoded.m == nil || len(decoded.m) >= decodedMax {
		decoded.m = make(map[string]expect.Expectation)
	}
	decoded.m[s] = e
	decoded.Unlock()
	return &e, nil
}

// stateRank orders states problems first: what needs a look, then what runs,
// then what is fine; unknown states come before the fine ones.
var stateRank = map[string]int{StateMissed: 0, StateOverdue: 1, StateFailing: 2, StateRunning: 3, StateNew: 5, StateUp: 6, StatePaused: 7}

// SortByState orders jobs problems first (missed, overdue, failing, running,
// new, up, paused), keeping the order they came in (most recent first) within a
// state. A job with an open incident counts as failing at least.
func SortByState(jobs []Job) {
	rank := func(j *Job) int {
		r, ok := stateRank[j.State]
		if !ok {
			r = 4
		}
		if j.Incident != nil {
			r = min(r, stateRank[StateFailing])
		}
		return r
	}
	slices.SortStableFunc(jobs, func(a, b Job) int { return rank(&a) - rank(&b) })
}
