package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/store"
)

func jobModelJob(t *testing.T, s store.Store, session int64, name string) domain.Job {
	t.Helper()
	j, err := s.Job(context.Background(), session, name)
	if err != nil {
		t.Fatalf("Job(%q): %v", name, err)
	}
	return j
}

func jobModelEvent(name, status, run string, at time.Time, ms float64) domain.Event {
	ev := domain.Event{Name: name, Status: status, Run: run, Timestamp: domain.NewTime(at)}
	if ms >= 0 {
		ev.DurationMS = &ms
	}
	return ev
}

// testJobModelRuns: a started event is not a run; overlapping runs are tracked
// each on its own; the run id and the expect field round-trip.
func testJobModelRuns(t *testing.T, s store.Store) {
	sess := newSession(t, s)
	t0 := base.Add(-time.Hour)
	appendEvents(t, s, sess.ID, jobModelEvent("train", "started", "a", t0, -1))
	j := jobModelJob(t, s, sess.ID, "train")
	if j.Runs != 0 || j.State != domain.StateRunning || len(j.Model.Running) != 1 {
		t.Fatalf("after one start: runs %d, state %q, running %v; want 0, running, one run", j.Runs, j.State, j.Model.Running)
	}
	// A second run starts while the first goes on; the first ends (in another commit).
	appendEvents(t, s, sess.ID, jobModelEvent("train", "started", "b", t0.Add(time.Minute), -1))
	appendEvents(t, s, sess.ID, jobModelEvent("train", "completed", "a", t0.Add(2*time.Minute), -1))
	j = jobModelJob(t, s, sess.ID, "train")
	if j.Runs != 1 || j.State != domain.StateRunning || len(j.Model.Running) != 1 || j.Model.Running[0].Run != "b" {
		t.Fatalf("after a ended: runs %d, state %q, running %v; want 1, running, [b]", j.Runs, j.State, j.Model.Running)
	}
	if r := j.Model.Recent; len(r) != 1 || r[0] != [2]int64{t0.UnixMilli(), (2 * time.Minute).Milliseconds()} {
		t.Fatalf("recent = %v; want run a from its start, 2 min long", r)
	}
	appendEvents(t, s, sess.ID, jobModelEvent("train", "failed", "b", t0.Add(3*time.Minute), -1))
	j = jobModelJob(t, s, sess.ID, "train")
	if j.Runs != 2 || j.Failures != 1 || j.State != domain.StateFailing || len(j.Model.Running) != 0 || j.Model.FailStreak != 1 {
		t.Fatalf("after b failed: runs %d failures %d, state %q, running %v, streak %d; want 2, 1, failing, none, 1",
			j.Runs, j.Failures, j.State, j.Model.Running, j.Model.FailStreak)
	}
	if j.Last.Run != "b" {
		t.Fatalf("last event's run = %q; want b", j.Last.Run)
	}
	jobs, err := s.Jobs(context.Background(), sess.ID)
	if err != nil || len(jobs) != 1 || jobs[0].Runs != 2 || jobs[0].State != domain.StateFailing {
		t.Fatalf("Jobs = %+v, %v; want the one job, 2 runs, failing", jobs, err)
	}
}

// testJobModelLearns: six hourly runs teach the job its period, in the row.
func testJobModelLearns(t *testing.T, s store.Store) {
	sess := newSession(t, s)
	var events []domain.Event
	for i := 0; i < 6; i++ {
		events = append(events, jobModelEvent("hourly", "completed", "", base.Add(time.Duration(i-6)*time.Hour+15*time.Minute), 3000))
	}
	// Half in one commit, half in the next, with another job in between: set-wise, across commits.
	appendEvents(t, s, sess.ID, append(events[:3:3], jobModelEvent("other", "completed", "", base, 5))...)
	j := jobModelJob(t, s, sess.ID, "hourly")
	if j.State != domain.StateNew || j.Expect != nil {
		t.Fatalf("after 3 runs: state %q, expect %v; want new, none", j.State, j.Expect)
	}
	appendEvents(t, s, sess.ID, events[3:]...)
	j = jobModelJob(t, s, sess.ID, "hourly")
	e := j.Model.Expectation()
	if j.State != domain.StateUp || e == nil || e.Cron != "15 * * * *" {
		t.Fatalf("after 6 runs at :15: state %q, expectation %+v; want up, hourly at :15", j.State, e)
	}
	// The last run started at 11:14:57 (it ended at 11:15:00 after 3 s): the next is 12:15.
	if want := base.Add(15 * time.Minute).UnixMilli(); j.Model.NextDue != want {
		t.Fatalf("next due %v; want %v", time.UnixMilli(j.Model.NextDue).UTC(), time.UnixMilli(want).UTC())
	}
	if j.Model.NextDeadline <= j.Model.NextDue {
		t.Fatalf("next deadline %d is not after due %d: no grace", j.Model.NextDeadline, j.Model.NextDue)
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var wire struct {
		Expect map[string]any `json:"expect"`
	}
	if err := json.Unmarshal(b, &wire); err != nil {
		t.Fatal(err)
	}
	if wire.Expect["source"] != "learned" || wire.Expect["cron"] != "15 * * * *" || wire.Expect["next_due_at"] == nil ||
		wire.Expect["typical_ms"] != 3000.0 || wire.Expect["description"] == "" {
		t.Fatalf("JOB.expect = %v; want source learned, cron 15 * * * *, next_due_at, typical_ms 3000, description", wire.Expect)
	}
}

// testJobModelDeclared: an event's expect is the job's code expectation until
// another replaces it or null clears it; the field round-trips on the event.
func testJobModelDeclared(t *testing.T, s store.Store) {
	sess := newSession(t, s)
	ev := jobModelEvent("backup", "completed", "", base.Add(-time.Hour), 1000)
	ev.Expect = json.RawMessage(`{"every_s":86400,"max_duration_ms":60000}`)
	appendEvents(t, s, sess.ID, ev)
	j := jobModelJob(t, s, sess.ID, "backup")
	e := j.Model.Expectation()
	if e == nil || e.Source != "code" || e.Every != 24*time.Hour || j.State != domain.StateUp {
		t.Fatalf("declared every day: expectation %+v, state %q; want code, 24h, up", e, j.State)
	}
	if string(j.Last.Expect) != `{"every_s":86400,"max_duration_ms":60000}` {
		t.Fatalf("stored expect = %s", j.Last.Expect)
	}
	// A started run with a max duration sets the deadline to when it would be overdue.
	start := base.Add(-time.Minute)
	appendEvents(t, s, sess.ID, jobModelEvent("backup", "started", "r1", start, -1))
	if j = jobModelJob(t, s, sess.ID, "backup"); j.Model.NextDeadline != start.Add(time.Minute).UnixMilli() {
		t.Fatalf("next deadline %d; want the run's start plus max_duration (%d)", j.Model.NextDeadline, start.Add(time.Minute).UnixMilli())
	}
	end := jobModelEvent("backup", "completed", "r1", base, -1)
	end.Expect = domain.ExpectNull
	appendEvents(t, s, sess.ID, end)
	j = jobModelJob(t, s, sess.ID, "backup")
	if j.Model.Code != nil || j.Expect != nil || j.Model.NextDeadline != 0 || j.State != domain.StateNew {
		t.Fatalf("after expect null: code %+v, expect %v, deadline %d, state %q; want none, none, 0, new",
			j.Model.Code, j.Expect, j.Model.NextDeadline, j.State)
	}
}
