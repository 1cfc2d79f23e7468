package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// askProbe counts the app's permission requests.
const askProbe = `window.__asks = 0;
const realAsk = Notification.requestPermission.bind(Notification);
Notification.requestPermission = (...a) => { window.__asks++; return realAsk(...a); };`

func TestNotificationPermissionIsAskedOnlyAfterATap(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("etl-01")
	p := newPhone(t, srv)
	p.do("count permission requests", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: askProbe})
		return err
	}))
	p.pair(s)
	p.open("/settings")
	p.wait("the push switch", `document.querySelector('#push-switch')`)
	var asks int
	p.js(`window.__asks`, &asks)
	if asks != 0 {
		t.Fatalf("the app asked for notification permission %d times before any tap", asks)
	}
	p.tap("#push-switch")
	p.wait("the answer to the tap", `window.__asks === 1 && !document.querySelector('#push-note').textContent.startsWith('Saving')`)
	// Headless Chromium answers the prompt by itself; whatever it says,
	// the switch tells the truth and the note says what happened.
	var res struct{ Permission, Checked, Note string }
	p.js(`({Permission: Notification.permission, Checked: document.querySelector('#push-switch').getAttribute('aria-checked'),
		Note: document.querySelector('#push-note').textContent})`, &res)
	t.Logf("after the tap: %+v", res)
	if res.Permission != "granted" && res.Checked != "false" {
		t.Errorf("permission %s but the switch says on", res.Permission)
	}
	if res.Note == "" {
		t.Errorf("the tap left no word on what happened")
	}
}

// regNotifications lists what the service worker registration reg has shown.
const regNotifications = `reg.getNotifications().then(ns => ns.map(n => ({title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url})))`

// notifications is that list, from the page.
const notifications = `navigator.serviceWorker.ready.then(reg => ` + regNotifications + `)`

type shown struct {
	Title, Body, Tag, URL string
}

func TestServiceWorkerShowsEveryPush(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("etl-01")
	p := newPhone(t, srv)
	d := pairForPush(t, p, srv, s, waitFor)
	d.eval = func(expr string, out any) error {
		return p.eval(`navigator.serviceWorker.ready.then(reg => (`+expr+`))`, out)
	}
	push := d.push
	payload := func(body string, seq int, url string) string {
		b, _ := json.Marshal(map[string]any{"title": "nightly_sync failed", "body": body, "tag": "job:nightly_sync",
			"url": url, "kind": "failed", "job": "nightly_sync", "seq": seq, "status": "failed"})
		return string(b)
	}
	// list waits until the shown notifications satisfy cond (a JS
	// predicate on their list), then returns them.
	list := func(cond string) []shown {
		t.Helper()
		d.await(regNotifications, cond)
		var got []shown
		p.js(notifications, &got)
		return got
	}

	push(payload("nightly_sync failed after 3.2 s — KeyError: 'customer_id'", 7, "/runs/7"))
	got := list(`l => l.length === 1`)
	if got[0] != (shown{"nightly_sync failed", "nightly_sync failed after 3.2 s — KeyError: 'customer_id'", "job:nightly_sync", "/runs/7"}) {
		t.Errorf("first notification: %+v", got[0])
	}
	// The next failure of the same job replaces it rather than piling up.
	push(payload("nightly_sync failed after 4.0 s — KeyError: 'customer_id'", 9, "/runs/9"))
	got = list(`l => l.length === 1 && l[0].body.includes('4.0 s')`)
	if !strings.Contains(got[0].Body, "4.0 s") || got[0].URL != "/runs/9" {
		t.Errorf("replaced notification: %+v", got[0])
	}
	// A payload it cannot read, and a link to another site, still show a
	// notification; the link is never followed off the app.
	push("not json")
	push(`{"title":"x","body":"y","url":"https://evil.example/phish","seq":3}`)
	got = list(`l => l.length === 3`)
	var generic, offsite bool
	for _, n := range got {
		generic = generic || (n.Title == "Observable Code" && n.Body == "not json")
		offsite = offsite || (n.Title == "x" && n.URL == "/runs/3")
	}
	if !generic || !offsite {
		t.Errorf("notifications %+v: want one for the unreadable payload and the off-site link kept in the app", got)
	}
}
