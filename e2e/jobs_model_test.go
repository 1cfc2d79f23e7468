package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The phone's side of the job model (issue 11): the jobs list with problems
// first, the job page's state, expectation and its editor, pause and snooze,
// the incident timeline, the chart's band, and the notification actions.

// jmJob is the part of GET /api/v1/jobs/{name} these tests read.
type jmJob struct {
	Name         string          `json:"name"`
	State        *string         `json:"state"`
	Expect       json.RawMessage `json:"expect"`
	SnoozedUntil *time.Time      `json:"snoozed_until"`
	Incidents    []struct {
		Kind     string  `json:"kind"`
		ClosedAt *string `json:"closed_at"`
	} `json:"incidents"`
}

type jmExpect struct {
	Source      string    `json:"source"`
	EveryS      float64   `json:"every_s"`
	Cron        string    `json:"cron"`
	TZ          string    `json:"tz"`
	GraceS      float64   `json:"grace_s"`
	AlertAfter  int       `json:"alert_after"`
	UsualMS     []float64 `json:"usual_ms"`
	Description string    `json:"description"`
}

func jmGet(t *testing.T, srv *server, key, name string) jmJob {
	t.Helper()
	var j jmJob
	if code := srv.call("GET", "/api/v1/jobs/"+name, key, nil, &j); code != http.StatusOK {
		t.Fatalf("GET /api/v1/jobs/%s: status %d", name, code)
	}
	return j
}

func jmRaw(t *testing.T, srv *server, key, name string) json.RawMessage {
	t.Helper()
	var raw json.RawMessage
	if code := srv.call("GET", "/api/v1/jobs/"+name, key, nil, &raw); code != http.StatusOK {
		t.Fatalf("GET /api/v1/jobs/%s: status %d", name, code)
	}
	return raw
}

func jmExpectOf(t *testing.T, j jmJob) *jmExpect {
	t.Helper()
	if len(j.Expect) == 0 || string(j.Expect) == "null" {
		return nil
	}
	var e jmExpect
	if err := json.Unmarshal(j.Expect, &e); err != nil {
		t.Fatalf("expect %s: %v", j.Expect, err)
	}
	return &e
}

// jmNeedModel stops the test when the server has no job model (a JOB
// without `state`), saying so, rather than failing on every page check.
func jmNeedModel(t *testing.T, srv *server, key, name string) {
	t.Helper()
	if jmGet(t, srv, key, name).State == nil {
		t.Fatalf("GET /api/v1/jobs/%s has no `state`: the server lost its job model (contract v1.1, Jobs)", name)
	}
}

// jmWaitJob polls the API until cond holds for the job.
func jmWaitJob(t *testing.T, srv *server, key, name, what string, cond func(jmJob) bool) jmJob {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		j := jmGet(t, srv, key, name)
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: job %s is %+v (expect %s)", waitFor, what, name, j, j.Expect)
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// jmSeed posts a job that runs every 2 hours in 3 to 4 s (enough runs to
// learn from), one whose last run failed, and one that ran once.
func jmSeed(srv *server, key string) {
	now := time.Now().UTC()
	var events []map[string]any
	for i := range 8 {
		events = append(events, map[string]any{"name": "backup", "status": "completed",
			"duration_ms": 3000 + 120*(i%8),
			"timestamp":   now.Add(-time.Duration(7-i)*2*time.Hour - 10*time.Minute).Format(time.RFC3339Nano)})
	}
	for i := range 4 {
		ev := map[string]any{"name": "sync", "status": "completed", "duration_ms": 800,
			"timestamp": now.Add(-time.Duration(4-i) * 5 * time.Minute).Format(time.RFC3339Nano)}
		if i == 3 {
			ev["status"] = "failed"
			ev["error"] = map[string]any{"type": "KeyError", "message": "'customer_id'"}
		}
		events = append(events, ev)
	}
	events = append(events, map[string]any{"name": "idle", "status": "completed", "duration_ms": 50,
		"timestamp": now.Add(-3 * time.Hour).Format(time.RFC3339Nano)})
	srv.post(key, events...)
}

func TestJobsModelListAndJobPage(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("etl-01")
	jmSeed(srv, s.Key)
	jmNeedModel(t, srv, s.Key, "backup")
	p := newPhone(t, srv)
	p.pair(s)

	// Problems first, each job with its state as a word.
	p.open("/jobs")
	p.wait("the jobs with their states", `document.querySelectorAll('.jobs > li[data-state] .jstate').length === 3`)
	var rows []struct{ Name, State, Pill string }
	p.js(`[...document.querySelectorAll('.jobs > li')].map(li => ({Name: li.querySelector('.job-name').textContent,
		State: li.dataset.state, Pill: li.querySelector('.jstate').textContent}))`, &rows)
	if len(rows) != 3 || rows[0].Name != "sync" || rows[0].State != "failing" || rows[0].Pill != "Failing" {
		t.Errorf("jobs %+v: want the failing sync first, its state in words", rows)
	}
	checkContrast(t, p, "jobs with states")
	p.dark(true)
	checkContrast(t, p, "jobs with states, dark")
	p.dark(false)

	// The job page: state, the expectation in words and its source, the band.
	backup := jmWaitJob(t, srv, s.Key, "backup", "a learned expectation", func(j jmJob) bool {
		e := jmExpectOf(t, j)
		return e != nil && e.Source == "learned"
	})
	learned := jmExpectOf(t, backup)
	p.open("/jobs/backup")
	p.wait("the job's model", `document.querySelector('.model .expect-source') && document.querySelector('svg.chart')`)
	if got := p.text(".model .expect-source"); got != "Learned from its runs" {
		t.Errorf("expectation's source %q, want it said to be learned", got)
	}
	words := p.text(".model .expect-words")
	if learned.Description != "" && !strings.EqualFold(words, learned.Description) {
		t.Errorf("expectation in words %q, want the server's %q", words, learned.Description)
	}
	if !strings.Contains(p.text(".model .state-line"), "Up") {
		t.Errorf("state line %q, want Up", p.text(".model .state-line"))
	}
	if len(learned.UsualMS) == 2 {
		var band struct {
			Bands int
			Label string
		}
		p.js(`({Bands: document.querySelectorAll('svg.chart rect.band').length, Label: document.querySelector('svg.chart').getAttribute('aria-label')})`, &band)
		if band.Bands != 1 || !strings.Contains(band.Label, "usually") {
			t.Errorf("chart %+v: want the usual range %v shaded and said", band, learned.UsualMS)
		}
	}
	checkContrast(t, p, "job page with its model")
	p.shot("job-model")
	p.dark(true)
	checkContrast(t, p, "job page with its model, dark")
	p.dark(false)
}

// jmNeedPatch stops the test when the server has no PATCH
// /api/v1/jobs/{name} (without a token a declared route answers 401, a
// missing one 405).
func jmNeedPatch(t *testing.T, srv *server, name string) {
	t.Helper()
	if code := srv.call("PATCH", "/api/v1/jobs/"+name, "", map[string]any{"paused": false}, nil); code != http.StatusUnauthorized {
		t.Fatalf("PATCH /api/v1/jobs/%s answers %d without a token, not 401: the server has no such route", name, code)
	}
}

func TestJobsModelEditPauseSnooze(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("etl-01")
	jmSeed(srv, s.Key)
	jmNeedModel(t, srv, s.Key, "backup")
	p := newPhone(t, srv)
	p.pair(s)
	jmWaitJob(t, srv, s.Key, "backup", "a learned expectation", func(j jmJob) bool {
		e := jmExpectOf(t, j)
		return e != nil && e.Source == "learned"
	})
	p.open("/jobs/backup")
	p.wait("the job's model", `document.querySelector('.model #expect-edit')`)

	// The editor, by keyboard only: a typing slip is named and focused,
	// then a cron line with its time zone is saved as the user's.
	p.do("open the editor by keyboard", chromedp.Focus(chromedp.CSS("#expect-edit")), chromedp.KeyEvent("\r"))
	p.wait("the editor, focus on its first choice", `document.activeElement && document.activeElement.name === 'kind'`)
	p.do("cancel it", chromedp.KeyEvent(kb.Escape))
	p.wait("the editor closed, focus back on Change", `!document.querySelector('.editor') && document.activeElement.id === 'expect-edit'`)
	p.do("open it again", chromedp.KeyEvent("\r"))
	p.wait("the editor again", `document.activeElement && document.activeElement.name === 'kind'`)
	p.do("choose a cron schedule", chromedp.KeyEvent(kb.ArrowDown))
	p.wait("the cron fields", `document.querySelector('.editor input[name=cron]').offsetParent !== null`)
	// Every control of the editor has a name, its text is legible both ways.
	checkContrast(t, p, "the expectation editor")
	p.dark(true)
	checkContrast(t, p, "the expectation editor, dark")
	p.dark(false)
	p.do("type a cron line with a field missing",
		chromedp.SendKeys(chromedp.CSS(".editor input[name=cron]"), "0 3 * *"), chromedp.KeyEvent("\r"))
	p.wait("the slip named and focused", `document.activeElement.name === 'cron' && document.activeElement.getAttribute('aria-invalid') === 'true' &&
		document.querySelector('.editor [role=alert]').textContent.includes('5 fields')`)
	jmNeedPatch(t, srv, "backup")
	// The fields come filled with what applies now; empty them to type anew.
	p.js(`['tz', 'grace', 'alertAfter'].forEach(n => { document.querySelector('.editor [name=' + n + ']').value = ''; }), true`, new(bool))
	p.do("fix it and fill the rest",
		chromedp.SendKeys(chromedp.CSS(".editor input[name=cron]"), " *"),
		chromedp.SendKeys(chromedp.CSS(".editor input[name=tz]"), "Europe/Berlin"),
		chromedp.SendKeys(chromedp.CSS(".editor input[name=grace]"), "30m"),
		chromedp.SendKeys(chromedp.CSS(".editor input[name=alertAfter]"), "3"),
		chromedp.KeyEvent("\r"))
	p.wait("the user's expectation on the page", `!document.querySelector('.editor') && document.querySelector('.expect-source').textContent === 'Set by you'`)
	mine := jmExpectOf(t, jmGet(t, srv, s.Key, "backup"))
	if mine == nil || mine.Source != "user" || mine.Cron != "0 3 * * *" || mine.TZ != "Europe/Berlin" || mine.GraceS != 1800 || mine.AlertAfter != 3 {
		t.Errorf("after saving, the server has %+v; want the user's 0 3 * * * in Europe/Berlin, grace 1800 s, alert after 3", mine)
	}

	// Pause is sticky until resumed; snooze lasts a day.
	p.tap("#job-pause")
	jmWaitJob(t, srv, s.Key, "backup", "paused", func(j jmJob) bool { return j.State != nil && *j.State == "paused" })
	p.wait("the page says paused", `document.querySelector('#job-pause').getAttribute('aria-pressed') === 'true' &&
		document.querySelector('#job-pause').textContent === 'Resume' && document.querySelector('.state-line').textContent.includes('Paused')`)
	p.tap("#job-pause")
	jmWaitJob(t, srv, s.Key, "backup", "resumed", func(j jmJob) bool { return j.State != nil && *j.State != "paused" })
	p.wait("the page says resumed", `document.querySelector('#job-pause').textContent === 'Pause'`)
	p.tap("#snooze-1d")
	j := jmWaitJob(t, srv, s.Key, "backup", "snoozed", func(j jmJob) bool { return j.SnoozedUntil != nil })
	if left := time.Until(*j.SnoozedUntil); left < 23*time.Hour || left > 25*time.Hour {
		t.Errorf("snoozed until %s, want a day from now", j.SnoozedUntil)
	}
	p.wait("the snooze said", `document.querySelector('.model').textContent.includes('Snoozed for') && document.querySelector('#snooze-end')`)
	p.tap("#snooze-end")
	jmWaitJob(t, srv, s.Key, "backup", "the snooze ended", func(j jmJob) bool { return j.SnoozedUntil == nil || time.Until(*j.SnoozedUntil) <= 0 })
	p.wait("the snooze gone from the page", `!document.querySelector('#snooze-end') && !document.querySelector('.model').textContent.includes('Snoozed for')`)

	// Going back removes the user's own: the learned one applies again.
	p.tap("#expect-reset")
	jmWaitJob(t, srv, s.Key, "backup", "no user expectation", func(j jmJob) bool {
		e := jmExpectOf(t, j)
		return e == nil || e.Source != "user"
	})
	p.wait("the page without the user's expectation", `(!document.querySelector('.expect-source') || document.querySelector('.expect-source').textContent !== 'Set by you') &&
		document.querySelector('#expect-note').textContent.startsWith('Yours is removed')`)

	// Confirming a learned expectation makes it the user's, as it is.
	relearned := jmExpectOf(t, jmGet(t, srv, s.Key, "backup"))
	if relearned == nil || relearned.Source != "learned" {
		t.Fatalf("after removing the user's, the server has %+v; want the learned one back", relearned)
	}
	p.wait("the confirm button", `document.querySelector('#expect-confirm')`)
	p.tap("#expect-confirm")
	confirmed := jmExpectOf(t, jmWaitJob(t, srv, s.Key, "backup", "the learned one confirmed", func(j jmJob) bool {
		e := jmExpectOf(t, j)
		return e != nil && e.Source == "user"
	}))
	if confirmed.EveryS != relearned.EveryS || confirmed.Cron != relearned.Cron || confirmed.GraceS != relearned.GraceS {
		t.Errorf("confirmed %+v, want the learned %+v as it was", confirmed, relearned)
	}
	p.wait("the page says it is the user's", `document.querySelector('.expect-source').textContent === 'Set by you'`)

	// Turning watching off is the user's too, and "Watch it again" undoes it.
	p.tap("#expect-off")
	jmWaitJob(t, srv, s.Key, "backup", "watching turned off", func(j jmJob) bool {
		return strings.Contains(string(j.Expect), `"off":true`)
	})
	p.wait("the page says it is off", `document.querySelector('.expect-words').textContent.includes('turned off') &&
		document.querySelector('#expect-reset').textContent === 'Watch it again' && !document.querySelector('#expect-off')`)
	p.tap("#expect-reset")
	jmWaitJob(t, srv, s.Key, "backup", "watching on again", func(j jmJob) bool {
		return !strings.Contains(string(j.Expect), `"off":true`)
	})
}

func TestJobsModelIncidentTimeline(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("etl-01")
	jmSeed(srv, s.Key)
	jmNeedModel(t, srv, s.Key, "sync")
	if !strings.Contains(string(jmRaw(t, srv, s.Key, "sync")), `"incidents"`) {
		t.Fatal("GET /api/v1/jobs/sync has no `incidents` history (contract v1.1, Jobs)")
	}
	p := newPhone(t, srv)
	p.pair(s)
	// The incident timeline: sync's failure is an open incident; a success
	// closes it.
	p.open("/jobs/sync")
	p.wait("sync's open incident", `document.querySelector('.incidents .inc-open') && document.querySelector('.model .callout')`)
	srv.post(s.Key, map[string]any{"name": "sync", "status": "completed", "duration_ms": 790})
	jmWaitJob(t, srv, s.Key, "sync", "the incident closed", func(j jmJob) bool {
		return len(j.Incidents) > 0 && j.Incidents[0].ClosedAt != nil
	})
	p.wait("the incident resolved on the page", `document.querySelector('.incidents .inc') && !document.querySelector('.incidents .inc-open') &&
		document.querySelector('.incidents').textContent.includes('resolved')`)
	p.js(`document.querySelector('#incidents-h').scrollIntoView({block: 'center'}), true`, new(bool))
	p.shot("job-incidents")
}

// jmWorker attaches to the phone's service worker, to run its own code.
func jmWorker(t *testing.T, p *phone) context.Context {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		targets, err := chromedp.Targets(p.ctx)
		if err != nil {
			t.Fatalf("list targets: %v", err)
		}
		for _, tg := range targets {
			if tg.Type == "service_worker" && tg.URL == p.srv.URL+"/sw.js" {
				ctx, cancel := chromedp.NewContext(p.ctx, chromedp.WithTargetID(tg.TargetID))
				t.Cleanup(cancel)
				if err := chromedp.Do(ctx); err != nil {
					t.Fatalf("attach to the service worker: %v", err)
				}
				return ctx
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no service worker target for %s", p.srv.URL)
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// jmInWorker evaluates an async expression in the service worker.
func jmInWorker(t *testing.T, sw context.Context, expr string, out any) {
	t.Helper()
	if err := jmEvalInWorker(sw, expr, out); err != nil {
		t.Fatalf("in the service worker, %s: %v", expr, err)
	}
}

func jmEvalInWorker(sw context.Context, expr string, out any) error {
	ctx, cancel := context.WithTimeout(sw, waitFor)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`(async () => JSON.stringify(await (`+expr+`)))()`, chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("decode %s: %w", raw, err)
	}
	return json.Unmarshal([]byte(s), out)
}

const jmNotifications = `self.registration.getNotifications().then(ns => ns.map(n => ({title: n.title, tag: n.tag,
	url: n.data && n.data.url, actions: (n.actions || []).map(a => a.action + ':' + a.title)})))`

type jmShown struct {
	Title, Tag, URL string
	Actions         []string
}

func TestJobsModelNotificationActions(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("etl-01")
	srv.post(s.Key, map[string]any{"name": "nightly_sync", "status": "completed", "duration_ms": 3000})
	p := newPhone(t, srv)
	d := pairForPush(t, p, srv, s, 3*waitFor)
	sw := jmWorker(t, p)
	d.eval = func(expr string, out any) error {
		return jmEvalInWorker(sw, `(reg => (`+expr+`))(self.registration)`, out)
	}
	push := func(payload map[string]any) {
		t.Helper()
		b, _ := json.Marshal(payload)
		d.push(string(b))
	}
	list := func(cond string) []jmShown {
		t.Helper()
		d.await(`reg.getNotifications().then(ns => ns.map(n => ({title: n.title})))`, cond)
		var got []jmShown
		jmInWorker(t, sw, jmNotifications, &got)
		return got
	}

	// A missed run has no run to open: the notification opens the job and
	// offers the snooze. The push carries no tag: one is made per job.
	push(map[string]any{"title": "nightly_sync missed its run", "body": "It was due at 03:00.", "kind": "missed", "job": "nightly_sync"})
	got := list(`l => l.length === 1`)
	if want := (jmShown{"nightly_sync missed its run", "job:nightly_sync", "/jobs/nightly_sync", []string{"snooze:Snooze 1 day", "open:Open"}}); fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Errorf("missed notification %+v, want %+v", got[0], want)
	}
	// The same job's next alert replaces it, never stacks.
	push(map[string]any{"title": "nightly_sync failed", "body": "KeyError", "kind": "failed", "job": "nightly_sync",
		"tag": "job:nightly_sync", "seq": 1, "url": "/runs/1"})
	got = list(`l => l.length === 1 && l[0].title === 'nightly_sync failed'`)
	if got[0].URL != "/runs/1" || len(got[0].Actions) != 2 {
		t.Errorf("replacing notification %+v, want the run's page and both actions", got[0])
	}
	// A recovery replaces it too, with nothing to snooze.
	push(map[string]any{"title": "nightly_sync recovered", "body": "after 3 h 12 min, 4 failed runs", "kind": "recovered",
		"job": "nightly_sync", "tag": "job:nightly_sync", "url": "/jobs/nightly_sync"})
	got = list(`l => l.length === 1 && l[0].title === 'nightly_sync recovered'`)
	if len(got[0].Actions) != 0 {
		t.Errorf("recovered notification offers %v, want no actions", got[0].Actions)
	}

	// "Open" shows the job in the open app.
	push(map[string]any{"title": "nightly_sync is overdue", "kind": "overdue", "job": "nightly_sync", "tag": "job:nightly_sync"})
	list(`l => l.length === 1 && l[0].title === 'nightly_sync is overdue'`)
	var done bool
	jmInWorker(t, sw, `self.registration.getNotifications().then(ns => notificationAction(ns[0], 'open')).then(() => true)`, &done)
	p.wait("the app on the job", `location.pathname === '/jobs/nightly_sync' && document.querySelector('#view h1').textContent === 'nightly_sync'`)

	// "Snooze 1 day" snoozes the job with the phone's own cookie, and
	// leaves nothing on the screen.
	jmInWorker(t, sw, `self.registration.getNotifications().then(ns => notificationAction(ns[0], 'snooze')).then(() => true)`, &done)
	j := jmWaitJob(t, srv, s.Key, "nightly_sync", "snoozed from the notification", func(j jmJob) bool { return j.SnoozedUntil != nil })
	if left := time.Until(*j.SnoozedUntil); left < 23*time.Hour || left > 25*time.Hour {
		t.Errorf("snoozed until %s, want a day from now", j.SnoozedUntil)
	}

	// A snooze that fails (here: a job the server does not have) says so,
	// in place of the alert, rather than passing for done.
	push(map[string]any{"title": "gone_job failed", "kind": "failed", "job": "gone_job", "tag": "job:gone_job"})
	list(`l => l.some(n => n.title === 'gone_job failed')`)
	jmInWorker(t, sw, `self.registration.getNotifications().then(ns => notificationAction(ns.find(n => n.tag === 'job:gone_job'), 'snooze')).then(() => true)`, &done)
	got = list(`l => l.some(n => n.title === 'Could not snooze gone_job')`)
	for _, n := range got {
		if n.Title == "gone_job failed" {
			t.Errorf("the failed snooze left the alert it replaces: %+v", got)
		}
	}
}
