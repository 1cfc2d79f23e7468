package storetest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/domain"
	"github.com/observable-code/observable/internal/expect"
	"github.com/observable-code/observable/internal/store"
)

// incidentsEnv is a session with one phone subscribed (notify failures) and a
// simulated clock: every append and evaluation happens at env.now.
type incidentsEnv struct {
	t       *testing.T
	s       store.Store
	session int64
	now     time.Time
	claimed time.Time
}

func newIncidentsEnv(t *testing.T, s store.Store) *incidentsEnv {
	sess := newSession(t, s)
	d, _ := pair(t, s, sess.ID, false)
	subscribe(t, s, d, "https://push.example/"+d.ID)
	return &incidentsEnv{t: t, s: s, session: sess.ID, now: base}
}

func (e *incidentsEnv) post(events ...domain.Event) {
	e.t.Helper()
	for i := range events {
		if events[i].Timestamp.IsZero() {
			events[i].Timestamp = domain.NewTime(e.now)
		}
	}
	a := &store.Append{SessionID: e.session, Events: events, ReceivedAt: e.now}
	if err := e.s.AppendEvents(context.Background(), []*store.Append{a}); err != nil {
		e.t.Fatalf("AppendEvents: %v", err)
	}
}

// alerts are the kinds queued since the last call (claimed and so gone).
func (e *incidentsEnv) alerts() []string {
	e.t.Helper()
	kinds := []string{}
	for _, j := range claimAll(e.t, e.s, e.now.Add(time.Hour)) {
		kinds = append(kinds, j.Kind)
		if err := e.s.CompletePushJob(context.Background(), j.ID); err != nil {
			e.t.Fatal(err)
		}
	}
	return kinds
}

func (e *incidentsEnv) want(what string, kinds ...string) {
	e.t.Helper()
	got := e.alerts()
	if len(got) != len(kinds) {
		e.t.Fatalf("%s: alerts %v; want %v", what, got, kinds)
	}
	for i := range kinds {
		if got[i] != kinds[i] {
			e.t.Fatalf("%s: alerts %v; want %v", what, got, kinds)
		}
	}
}

func (e *incidentsEnv) evaluate(up time.Time) {
	e.t.Helper()
	if _, _, err := e.s.EvaluateJobs(context.Background(), e.now, up, 100); err != nil {
		e.t.Fatalf("EvaluateJobs: %v", err)
	}
}

func (e *incidentsEnv) job(name string) domain.Job { return jobModelJob(e.t, e.s, e.session, name) }

func incidentsDeclared(name, status, raw string) domain.Event {
	ev := domain.Event{Name: name, Status: status, Expect: json.RawMessage(raw)}
	return ev
}

// testIncidentsAlertAfter: N consecutive failures open one incident with one
// alert, later failures fold into it, and one recovered alert closes it,
// counting the failed runs.
func testIncidentsAlertAfter(t *testing.T, s store.Store) {
	e := newIncidentsEnv(t, s)
	e.post(incidentsDeclared("sync", "failed", `{"every_s":3600,"alert_after":3}`), ev("sync", "failed"))
	e.want("two failures of three", nil...)
	e.now = e.now.Add(time.Minute)
	e.post(ev("sync", "failed"))
	e.want("third failure", "failed")
	j := e.job("sync")
	if j.Incident == nil || j.Incident.Kind != "failed" || j.Incident.Runs != 3 || j.State != domain.StateFailing {
		t.Fatalf("incident %+v, state %q; want failed with 3 runs, failing", j.Incident, j.State)
	}
	e.post(ev("sync", "failed"), ev("sync", "failed"))
	e.want("failures inside the incident", nil...)
	e.now = e.now.Add(3 * time.Hour)
	e.post(ev("sync", "completed"))
	e.want("recovery", "recovered")
	if j = e.job("sync"); j.Incident != nil || j.State != domain.StateUp {
		t.Fatalf("after recovery: incident %+v, state %q; want none, up", j.Incident, j.State)
	}
	hist, err := s.Incidents(context.Background(), e.session, "sync", 10)
	if err != nil || len(hist) != 1 || hist[0].Runs != 5 || hist[0].ClosedAt == nil || hist[0].ClosedAt.Sub(hist[0].OpenedAt.Time) != 3*time.Hour {
		t.Fatalf("history %+v, %v; want one incident of 5 failed runs, closed after 3 h", hist, err)
	}
}

// testIncidentsFlapping: a job that fails, passes and fails again within the
// flap window sends one failure and one recovery, not one per change.
func testIncidentsFlapping(t *testing.T, s store.Store) {
	e := newIncidentsEnv(t, s)
	e.post(ev("flaky", "failed"))
	e.want("first failure", "failed")
	for i := 0; i < 4; i++ {
		e.now = e.now.Add(time.Minute)
		e.post(ev("flaky", "completed"))
		e.now = e.now.Add(time.Minute)
		e.post(ev("flaky", "failed"))
	}
	e.now = e.now.Add(time.Minute)
	e.post(ev("flaky", "completed"))
	e.want("flapping", "recovered")
	hist, _ := s.Incidents(context.Background(), e.session, "flaky", 10)
	if len(hist) != 1 || hist[0].Runs != 5 {
		t.Fatalf("history %+v; want one incident of 5 failed runs", hist)
	}
	// Long after, a failure is a new incident again.
	e.now = e.now.Add(domain.FlapWindow + time.Minute)
	e.post(ev("flaky", "failed"))
	e.want("a failure after the window", "failed")
}

// testIncidentsMissed: the evaluator opens a missed incident once the run is
// due plus grace, alerts once, and the next run recovers it; after a restart
// what came due while the server was down gets its grace again.
func testIncidentsMissed(t *testing.T, s store.Store) {
	e := newIncidentsEnv(t, s)
	e.post(incidentsDeclared("hourly", "completed", `{"every_s":3600,"grace_s":300}`))
	up := e.now
	e.now = e.now.Add(time.Hour + 4*time.Minute)
	e.evaluate(up)
	e.want("within grace", nil...)
	e.now = e.now.Add(2 * time.Minute)
	e.evaluate(up)
	e.want("past grace", "missed")
	j := e.job("hourly")
	if j.State != domain.StateMissed || j.Incident == nil || j.Incident.Kind != "missed" {
		t.Fatalf("state %q, incident %+v; want missed", j.State, j.Incident)
	}
	e.now = e.now.Add(time.Hour)
	e.evaluate(up)
	e.want("still missed", nil...)
	e.post(ev("hourly", "completed"))
	e.want("a run came", "recovered")

	// The server was down across the next deadline: started again at restart,
	// it gives the run its grace again before it calls it missed.
	e.now = e.now.Add(3 * time.Hour)
	restart := e.now
	e.evaluate(restart)
	e.want("just restarted", nil...)
	e.now = restart.Add(5*time.Minute + time.Second)
	e.evaluate(restart)
	e.want("grace after the restart", "missed")
}

// testIncidentsOverdue: a run with a max duration that has not ended is
// overdue; its end closes the incident.
func testIncidentsOverdue(t *testing.T, s store.Store) {
	e := newIncidentsEnv(t, s)
	start := incidentsDeclared("train", "started", `{"every_s":86400,"max_duration_ms":60000}`)
	start.Run = "r1"
	e.post(start)
	e.now = e.now.Add(59 * time.Second)
	e.evaluate(base)
	e.want("before its max duration", nil...)
	e.now = e.now.Add(2 * time.Second)
	e.evaluate(base)
	e.want("past its max duration", "overdue")
	if j := e.job("train"); j.State != domain.StateOverdue {
		t.Fatalf("state %q; want overdue", j.State)
	}
	e.post(domain.Event{Name: "train", Status: "completed", Run: "r1"})
	e.want("the run ended", "recovered")
}

// testIncidentsDuration: a run far faster (or slower) than declared is an
// incident of its own.
func testIncidentsDuration(t *testing.T, s store.Store) {
	e := newIncidentsEnv(t, s)
	fast := 200.0
	ev := incidentsDeclared("backup", "completed", `{"every_s":86400,"min_duration_ms":1000,"max_duration_ms":60000}`)
	ev.DurationMS = &fast
	e.post(ev)
	e.want("0.2 s backup", "fast")
	slow := 120000.0
	e.now = e.now.Add(24 * time.Hour)
	e.post(domain.Event{Name: "backup", Status: "completed", DurationMS: &slow})
	e.want("still outside the band: folded", nil...)
	ok := 5000.0
	e.now = e.now.Add(24 * time.Hour)
	e.post(domain.Event{Name: "backup", Status: "completed", DurationMS: &ok})
	e.want("a good run", "recovered")
}

// testIncidentsPauseSnooze: a paused job alerts nothing, not even when due; a
// snoozed one keeps its incidents but holds their alerts; PATCH sets the
// user's expectation, which wins.
func testIncidentsPauseSnooze(t *testing.T, s store.Store) {
	e := newIncidentsEnv(t, s)
	ctx := context.Background()
	e.post(incidentsDeclared("nightly", "completed", `{"every_s":3600}`))
	yes, no := true, false
	j, err := s.UpdateJob(ctx, e.session, "nightly", domain.JobPatch{Paused: &yes}, e.now)
	if err != nil || j.State != domain.StatePaused {
		t.Fatalf("pause: %+v, %v; want state paused", j.State, err)
	}
	e.post(ev("nightly", "failed"))
	e.now = e.now.Add(5 * time.Hour)
	e.evaluate(base)
	e.want("paused", nil...)
	if _, err := s.UpdateJob(ctx, e.session, "nightly", domain.JobPatch{Paused: &no}, e.now); err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	if j, err = s.UpdateJob(ctx, e.session, "nightly", domain.JobPatch{SnoozeFor: &day}, e.now); err != nil || j.SnoozedUntil == nil {
		t.Fatalf("snooze: %+v, %v", j.SnoozedUntil, err)
	}
	e.post(ev("nightly", "failed"))
	e.want("snoozed", nil...)
	if j = e.job("nightly"); j.Incident == nil {
		t.Fatal("a snoozed job's failure opened no incident")
	}
	user, err := expect.Parse([]byte(`{"cron":"0 3 * * *","tz":"Europe/Berlin"}`), expect.User)
	if err != nil {
		t.Fatal(err)
	}
	if j, err = s.UpdateJob(ctx, e.session, "nightly", domain.JobPatch{Expect: &user}, e.now); err != nil || j.Model.Expectation().Source != expect.User {
		t.Fatalf("user's expectation: %+v, %v", j.Expect, err)
	}
	if _, err := s.UpdateJob(ctx, e.session, "nope", domain.JobPatch{Paused: &yes}, e.now); err != domain.ErrNotFound {
		t.Fatalf("UpdateJob of no job: %v; want ErrNotFound", err)
	}
}

// testIncidentsConcurrentEvaluators: evaluators running together (instances
// on one PostgreSQL) alert each incident once.
func testIncidentsConcurrentEvaluators(t *testing.T, s store.Store) {
	e := newIncidentsEnv(t, s)
	var events []domain.Event
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		events = append(events, incidentsDeclared(name, "completed", `{"every_s":600,"grace_s":60}`))
	}
	e.post(events...)
	e.now = e.now.Add(time.Hour)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.EvaluateJobs(context.Background(), e.now, base, 3); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	e.evaluate(base) // whatever the batches left
	got := e.alerts()
	if len(got) != len(events) {
		t.Fatalf("alerts %v; want one missed per job (%d)", got, len(events))
	}
}
