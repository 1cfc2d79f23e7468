package main

// The job model of issue 11 against the real binary: runs, their ids and the
// code's expectation are stored, a started event is not a run, overlapping
// runs are tracked each on its own, and a regular job learns its rhythm.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/observable-code/observable/internal/pgtest"
)

type jobsModelJob struct {
	Name     string `json:"name"`
	Runs     int64  `json:"runs"`
	Failures int64  `json:"failures"`
	State    string `json:"state"`
	Expect   *struct {
		Source      string   `json:"source"`
		Every       float64  `json:"every_s"`
		Cron        string   `json:"cron"`
		NextDueAt   *string  `json:"next_due_at"`
		TypicalMS   *float64 `json:"typical_ms"`
		Description string   `json:"description"`
	} `json:"expect"`
	Incident *struct {
		Kind     string  `json:"kind"`
		ClosedAt *string `json:"closed_at"`
	} `json:"incident"`
	Incidents []struct {
		Kind     string  `json:"kind"`
		ClosedAt *string `json:"closed_at"`
	} `json:"incidents"`
	Last struct {
		Run    string          `json:"run"`
		Expect json.RawMessage `json:"expect"`
	} `json:"last"`
}

func jobsModelGet(t *testing.T, p *serverProc, key, name string) jobsModelJob {
	t.Helper()
	var j jobsModelJob
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs/"+url.PathEscape(name), key, "", &j)
	return j
}

func jobsModelPost(t *testing.T, p *serverProc, key string, events ...string) {
	t.Helper()
	mustCall(t, http.StatusAccepted, "POST", p.url+"/api/v1/events", key, `{"events":[`+strings.Join(events, ",")+`]}`, nil)
}

func TestJobsModelRunsAndLearning(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "jobs.db"))
	awaitReady(t, 15*time.Second, p)
	key, _ := newSession(t, p)

	// Before: the start counted as a run (runs: 2 for one run), the run id and
	// the expectation were dropped.
	jobsModelPost(t, p, key, `{"name":"train","status":"started","run":"r1"}`)
	j := jobsModelGet(t, p, key, "train")
	if j.Runs != 0 || j.State != "running" || j.Last.Run != "r1" {
		t.Fatalf("after a start: runs %d, state %q, last.run %q; want 0, running, r1", j.Runs, j.State, j.Last.Run)
	}
	// A second run overlaps the first; the first ends: still running (the second).
	jobsModelPost(t, p, key, `{"name":"train","status":"started","run":"r2"}`)
	jobsModelPost(t, p, key, `{"name":"train","status":"completed","run":"r1","duration_ms":5}`)
	if j = jobsModelGet(t, p, key, "train"); j.Runs != 1 || j.State != "running" {
		t.Fatalf("one of two overlapping runs ended: runs %d, state %q; want 1, running", j.Runs, j.State)
	}
	jobsModelPost(t, p, key, `{"name":"train","status":"failed","run":"r2","error":{"type":"E","message":"m"}}`)
	if j = jobsModelGet(t, p, key, "train"); j.Runs != 2 || j.Failures != 1 || j.State != "failing" {
		t.Fatalf("both ended, the second failed: runs %d failures %d, state %q; want 2, 1, failing", j.Runs, j.Failures, j.State)
	}

	// Six daily runs at about 03:00 teach the job its rhythm, with no configuration.
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-7 * 24 * time.Hour)
	var runs []string
	for i := 0; i < 6; i++ {
		end := day.Add(time.Duration(i)*24*time.Hour + 3*time.Hour + time.Duration(i%3)*time.Minute + 4*time.Second)
		runs = append(runs, fmt.Sprintf(`{"name":"nightly","status":"completed","duration_ms":4000,"timestamp":%q}`, end.Format(time.RFC3339)))
	}
	jobsModelPost(t, p, key, runs...)
	j = jobsModelGet(t, p, key, "nightly")
	if j.Expect == nil || j.Expect.Source != "learned" || j.Expect.Cron == "" || j.Expect.NextDueAt == nil || j.Expect.Description == "" {
		t.Fatalf("after 6 nightly runs: expect %+v; want a learned daily schedule with next_due_at and words", j.Expect)
	}
	if j.Expect.TypicalMS == nil || *j.Expect.TypicalMS != 4000 {
		t.Fatalf("typical_ms = %v; want 4000", j.Expect.TypicalMS)
	}
	// The list carries the same fields.
	var list struct{ Jobs []jobsModelJob }
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs", key, "", &list)
	if len(list.Jobs) != 2 {
		t.Fatalf("jobs = %+v; want train and nightly", list.Jobs)
	}
	for _, lj := range list.Jobs {
		if lj.State == "" {
			t.Errorf("job %s has no state in the list", lj.Name)
		}
	}
	// Problems first. nightly's history ended days ago: it is missed, before
	// train (failing), before fine (new), which ran last.
	jobsModelPost(t, p, key, `{"name":"fine","status":"completed"}`)
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs?sort=state", key, "", &list)
	var order []string
	for _, lj := range list.Jobs {
		order = append(order, lj.Name+":"+lj.State)
	}
	if strings.Join(order, " ") != "nightly:missed train:failing fine:new" {
		t.Fatalf("jobs by state = %v; want nightly (missed), train (failing), fine (new)", order)
	}
	if r := callAPI("GET", p.url+"/api/v1/jobs?sort=name", key, ""); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "invalid_sort") {
		t.Fatalf("sort=name: %d %s; want 400 invalid_sort", r.status, r.body)
	}
}

func TestJobsModelDeclaredExpectation(t *testing.T) {
	p := launch(t, filepath.Join(t.TempDir(), "jobs.db"))
	awaitReady(t, 15*time.Second, p)
	key, _ := newSession(t, p)

	jobsModelPost(t, p, key, `{"name":"backup","status":"completed","duration_ms":2000,"expect":{"every_s":"1d","max_duration_ms":60000}}`)
	j := jobsModelGet(t, p, key, "backup")
	if j.Expect == nil || j.Expect.Source != "code" || j.Expect.Every != 86400 || j.State != "up" {
		t.Fatalf("declared every 1d: expect %+v, state %q; want code, every_s 86400, up", j.Expect, j.State)
	}
	if !strings.Contains(string(j.Last.Expect), `"every_s":"1d"`) {
		t.Fatalf("the event's expect was not stored as sent: %s", j.Last.Expect)
	}
	jobsModelPost(t, p, key, `{"name":"backup","status":"completed","expect":null}`)
	if j = jobsModelGet(t, p, key, "backup"); j.Expect != nil || j.State != "new" {
		t.Fatalf("after expect null: expect %+v, state %q; want none, new", j.Expect, j.State)
	}

	// What cannot be stored is refused, naming the field.
	for body, field := range map[string]string{
		`{"name":"x","status":"started","run":"` + strings.Repeat("r", 65) + `"}`: "run",
		`{"name":"x","status":"completed","expect":{"every_s":10}}`:               "expect",
		`{"name":"x","status":"completed","expect":{"evry_s":3600}}`:              "expect",
		`{"name":"x","status":"completed","expect":{"cron":"61 * * * *"}}`:        "expect",
	} {
		r := callAPI("POST", p.url+"/api/v1/events", key, body)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), field) {
			t.Errorf("POST %s: %d %s; want 400 naming %s", body, r.status, r.body, field)
		}
	}
}

// jobsModelPhone pairs a phone on p that takes pushes at svc.
func jobsModelPhone(t *testing.T, p *serverProc, code string, svc *pushCounter) string {
	t.Helper()
	token := claimPairing(t, p, code)
	p256dh, auth := portsBrowserKeys(t)
	mustCall(t, http.StatusNoContent, "PUT", p.url+"/api/v1/device/push", token,
		fmt.Sprintf(`{"endpoint":%q,"keys":{"p256dh":%q,"auth":%q}}`, svc.service.URL+"/push/phone", p256dh, auth), nil)
	return token
}

// TestJobsModelMissedAlertsOnceAcrossInstances: two instances on one
// PostgreSQL both run the evaluator; a job whose run does not come is
// missed, and the phone is told once.
func TestJobsModelMissedAlertsOnceAcrossInstances(t *testing.T) {
	svc := newPushCounter(t)
	db := pgtest.NewDatabase(t)
	a, b := twoInstances(t, db, "--push-allow", strings.TrimPrefix(svc.service.URL, "http://"))
	key, code := newSession(t, a)
	jobsModelPhone(t, b, code, svc)

	// Every minute with a second of grace; the last run started 59 s ago: due
	// in a second, missed a second later.
	last := time.Now().Add(-59 * time.Second).UTC().Format(time.RFC3339Nano)
	jobsModelPost(t, a, key, fmt.Sprintf(`{"name":"minutely","status":"completed","duration_ms":0,"timestamp":%q,"expect":{"every_s":60,"grace_s":1}}`, last))
	if j := jobsModelGet(t, b, key, "minutely"); j.State != "up" || j.Expect == nil || j.Expect.Source != "code" {
		t.Fatalf("job %+v; want up with the code's expectation", j)
	}
	deadline := time.Now().Add(15 * time.Second)
	for svc.total.Load() < 1 || jobsModelGet(t, a, key, "minutely").State != "missed" {
		if time.Now().After(deadline) {
			t.Fatalf("no missed alert within 15 s (%d pushes)\nA:\n%s\nB:\n%s", svc.total.Load(), a.stop(), b.stop())
		}
		time.Sleep(50 * time.Millisecond)
	}
	j := jobsModelGet(t, b, key, "minutely")
	if j.Incident == nil || j.Incident.Kind != "missed" {
		t.Fatalf("incident %+v; want missed", j.Incident)
	}
	// Once missed nothing is due until a run comes: with no push job left
	// and one incident, no second alert can come.
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var left, incidents, due int
		if err := conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM push_jobs), (SELECT count(*) FROM incidents),
			(SELECT count(*) FROM jobs WHERE next_deadline IS NOT NULL)`).Scan(&left, &incidents, &due); err != nil {
			t.Fatal(err)
		}
		if left == 0 && incidents == 1 && due == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d push jobs left, %d incidents, %d jobs due; want 0, 1, 0", left, incidents, due)
		}
	}
	if n := svc.total.Load(); n != 1 {
		t.Fatalf("%d pushes; want one alert for the incident", n)
	}
	// The run comes: one recovered alert.
	jobsModelPost(t, b, key, `{"name":"minutely","status":"completed","duration_ms":3}`)
	for deadline := time.Now().Add(10 * time.Second); svc.total.Load() < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no recovered alert within 10 s")
		}
	}
	if j := jobsModelGet(t, a, key, "minutely"); j.State != "up" || j.Incident != nil {
		t.Fatalf("after the run: state %q, incident %+v; want up, none", j.State, j.Incident)
	}
}

func TestJobsModelPatch(t *testing.T) {
	pr := launch(t, filepath.Join(t.TempDir(), "jobs.db"))
	awaitReady(t, 15*time.Second, pr)
	key, code := newSession(t, pr)
	token := claimPairing(t, pr, code)
	jobsModelPost(t, pr, key, `{"name":"backup","status":"completed","duration_ms":2000}`)
	url := pr.url + "/api/v1/jobs/backup"

	var j jobsModelJob
	mustCall(t, http.StatusOK, "PATCH", url, token, `{"expect":{"cron":"0 3 * * *","tz":"Europe/Berlin","max_duration_ms":"10m"}}`, &j)
	if j.Expect == nil || j.Expect.Source != "user" || j.Expect.Cron != "0 3 * * *" || j.Expect.NextDueAt == nil || j.State != "up" {
		t.Fatalf("after PATCH expect: %+v; want the user's cron with next_due_at, up", j)
	}
	var paused struct {
		jobsModelJob
		Paused       bool    `json:"paused"`
		SnoozedUntil *string `json:"snoozed_until"`
	}
	mustCall(t, http.StatusOK, "PATCH", url, token, `{"paused":true,"snooze_s":86400}`, &paused)
	if paused.State != "paused" || !paused.Paused || paused.SnoozedUntil == nil {
		t.Fatalf("after PATCH paused: %+v; want paused with snoozed_until", paused)
	}
	mustCall(t, http.StatusOK, "PATCH", url, token, `{"paused":false,"expect":null}`, &j)
	if j.State != "new" || j.Expect != nil {
		t.Fatalf("after resuming and clearing: state %q, expect %+v; want new, none", j.State, j.Expect)
	}
	var one struct {
		Incidents []json.RawMessage `json:"incidents"`
	}
	if mustCall(t, http.StatusOK, "GET", url, key, "", &one); one.Incidents == nil {
		t.Fatal("GET /api/v1/jobs/{name} has no incidents list")
	}
	for _, c := range []struct {
		token, body string
		status      int
		code        string
	}{
		{token, `{"expect":{"every_s":5}}`, 400, "invalid_expect"},
		{token, `{"snooze_s":-1}`, 400, "invalid_snooze"},
		{key, `{"paused":true}`, 403, ""},
	} {
		r := callAPI("PATCH", url, c.token, c.body)
		if r.status != c.status || !strings.Contains(string(r.body), c.code) {
			t.Errorf("PATCH %s: %d %s; want %d %s", c.body, r.status, r.body, c.status, c.code)
		}
	}
	if r := callAPI("PATCH", pr.url+"/api/v1/jobs/nope", token, `{"paused":true}`); r.status != 404 {
		t.Errorf("PATCH of no job: %d %s; want 404", r.status, r.body)
	}
}
