package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// uiSpoofName would read as "backup failed" if the right-to-left override
// were obeyed, and the zero-width space makes it a different job from one
// that looks the same.
const (
	uiSpoofName  = "backup \u202edeliaf\u200b"
	uiSpoofShown = "backup ⟨U+202E⟩deliaf⟨U+200B⟩"
)

// uiShown is what the page shows for the elements matching css: their text
// and their computed unicode-bidi, and whether any raw control survived.
type uiShown struct {
	Texts []string
	Bidi  []string
	Raw   bool
}

func uiLook(p *phone, css string) uiShown {
	p.t.Helper()
	var got uiShown
	p.js(fmt.Sprintf(`(() => {
		const els = [...document.querySelectorAll(%q)];
		return {Texts: els.map(e => e.textContent), Bidi: els.map(e => getComputedStyle(e).unicodeBidi),
			Raw: /[\u061C\u200B-\u200F\u202A-\u202E\u2060\u2066-\u2069\uFEFF]/.test(document.body.textContent + document.title)};
	})()`, css), &got)
	return got
}

// uiCheckIsolated fails unless every element matching css shows want with
// the controls as markers, isolated from the text around it.
func uiCheckIsolated(t *testing.T, p *phone, where, css, want string) {
	t.Helper()
	got := uiLook(p, css)
	if len(got.Texts) == 0 {
		t.Errorf("%s: nothing matches %s\npage: %s", where, css, p.pageText())
		return
	}
	for i, text := range got.Texts {
		if !strings.Contains(text, want) {
			t.Errorf("%s: %s shows %q, want it to contain %q", where, css, text, want)
		}
		if got.Bidi[i] != "isolate" {
			t.Errorf("%s: %s has unicode-bidi %q, want isolate", where, css, got.Bidi[i])
		}
	}
	if got.Raw {
		t.Errorf("%s: a bidirectional or zero-width control reaches the page's text unmarked", where)
	}
}

// Issue 9: a name with bidirectional controls or zero-width characters must
// not pass for another job, nor reorder the text around it.
func TestEventDataWithBidiControlsIsShownAndIsolated(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("etl-01")
	srv.post(s.Key, map[string]any{"name": uiSpoofName, "status": "failed", "duration_ms": 1200,
		"error":    map[string]any{"type": "Key\u2067Error", "message": "row \u202e42 missing"},
		"metadata": map[string]any{"no\u200bte": "a\u2066b"},
		"source":   map[string]any{"host": "etl\u202e-01"}})
	p := newPhone(t, srv)
	// A server before contract v1.1 answers 404 to GET /api/v1/jobs/{name};
	// the job page then falls back to the list.
	p.allowHTTP("/api/v1/jobs/", http.StatusNotFound)
	p.pair(s)

	p.wait("the feed", `document.querySelectorAll('.events > li').length === 1`)
	uiCheckIsolated(t, p, "feed", ".events .ev-name", uiSpoofShown)
	uiCheckIsolated(t, p, "feed error", ".events .ev-error span.ud", "row ⟨U+202E⟩42 missing")
	p.wait("the job filter's names", `document.querySelector('#filter-job option.ud')`)
	uiCheckIsolated(t, p, "feed job filter", "#filter-job option.ud", uiSpoofShown)
	// The metadata and the host are built when the card opens.
	p.tap(".events > li summary")
	p.wait("the card's details", `document.querySelector('.events .ev-more dl')`)
	uiCheckIsolated(t, p, "card details", ".events .ev-more dd", "")
	if got := p.text(".events .ev-more"); !strings.Contains(got, "no⟨U+200B⟩te") || !strings.Contains(got, "a⟨U+2066⟩b") || !strings.Contains(got, "etl⟨U+202E⟩-01") {
		t.Errorf("card details do not mark the controls in metadata and host:\n%s", got)
	}

	p.tap(`#tabs a[data-tab="jobs"]`)
	p.wait("the jobs", `location.pathname === '/jobs' && document.querySelector('.jobs .job-name')`)
	uiCheckIsolated(t, p, "jobs", ".jobs .job-name", uiSpoofShown)

	p.open("/jobs/" + url.PathEscape(uiSpoofName))
	p.wait("the job page", `document.querySelector('#view h1') && document.querySelector('.stats dd')`)
	uiCheckIsolated(t, p, "job page", "#view h1", uiSpoofShown)
	uiCheckIsolated(t, p, "job page's last error", ".last-error .ev-error b", "Key⟨U+2067⟩Error")
	var title string
	p.js(`document.title`, &title)
	if !strings.HasPrefix(title, uiSpoofShown) {
		t.Errorf("job page's title %q, want it to start with %q", title, uiSpoofShown)
	}

	p.tap(".events > li summary")
	p.wait("the run link", `document.querySelector('.events .ev-more a[href^="/runs/"]')`)
	p.tap(`.events .ev-more a[href^="/runs/"]`)
	p.wait("the run page", `location.pathname.startsWith('/runs/') && document.querySelector('.err-msg')`)
	uiCheckIsolated(t, p, "run page", "#view h1", uiSpoofShown)
	uiCheckIsolated(t, p, "run page's error", ".err-msg", "row ⟨U+202E⟩42 missing")
	uiCheckIsolated(t, p, "run page's metadata and host", ".panel dd.ud", "")
}

// The pairing page names the computer that asked; its name is data too.
func TestPairingPageShowsTheHostsControls(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("ana\u202e-laptop")
	p := newPhone(t, srv)
	p.open("/pair/" + s.Code)
	// pair.js fills in the phone's name once it has marked the host's controls.
	p.wait("the pairing page", `document.querySelector('#pair-button') && document.querySelector('#device-name').value !== ''`)
	uiCheckIsolated(t, p, "pairing page", ".facts dd [data-user]", "ana⟨U+202E⟩-laptop")
}

// Issue 10: the feed left open holds at most 500 events, in memory and in
// the DOM, however many arrive live; the oldest go first.
func TestFeedKeepsAtMost500EventsAsTheyArrive(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("etl-01")
	srv.post(s.Key, map[string]any{"name": "first_of_all", "status": "completed"})
	p := newPhone(t, srv)
	p.pair(s)
	p.wait("the feed", `document.querySelectorAll('.events > li').length === 1`)
	p.wait("the live stream", `document.querySelector('#conn').dataset.state === 'live'`)
	const batches, perBatch = 2, 260
	for b := range batches {
		events := make([]map[string]any, perBatch)
		for i := range events {
			events[i] = map[string]any{"name": fmt.Sprintf("job_%d", i%7), "status": "completed", "duration_ms": i}
		}
		srv.post(s.Key, events...)
		// The second batch pushes the feed past its cap.
		if b == 0 {
			p.wait("the first batch", fmt.Sprintf(`document.querySelectorAll('.events > li').length === %d`, perBatch+1))
		}
	}
	newest := batches*perBatch + 1
	p.wait("the newest live event on top", fmt.Sprintf(`document.querySelector('.events > li').dataset.seq === '%d'`, newest))
	var got struct{ Items, Oldest int }
	p.js(`(() => { const li = document.querySelectorAll('.events > li');
		return {Items: li.length, Oldest: Number(li[li.length - 1].dataset.seq)}; })()`, &got)
	if got.Items != 500 || got.Oldest != newest-499 {
		t.Errorf("the feed holds %d events, the oldest #%d; want 500, the oldest #%d", got.Items, got.Oldest, newest-499)
	}
	// Back on the feed from another screen, it shows the same bounded timeline.
	p.tap(`#tabs a[data-tab="jobs"]`)
	p.wait("the jobs", `location.pathname === '/jobs' && document.querySelector('.jobs .job-name')`)
	p.tap(`#tabs a[data-tab="feed"]`)
	p.wait("the feed again", fmt.Sprintf(`location.pathname === '/' && document.querySelectorAll('.events > li').length === 500 && document.querySelector('.events > li').dataset.seq === '%d'`, newest))
}

// Issue 10: leaving a screen ends what it started. The job page refreshes
// its stats a second after a live run; leaving before then must cancel
// that, not fetch for a screen no longer shown.
func TestLeavingAScreenCancelsItsTimers(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("etl-01")
	srv.post(s.Key, map[string]any{"name": "nightly_sync", "status": "completed", "duration_ms": 900})
	p := newPhone(t, srv)
	p.pair(s)
	p.wait("the live stream", `document.querySelector('#conn').dataset.state === 'live'`)
	p.tap(`.events > li summary`)
	p.tap(`.events .ev-more a[href="/jobs/nightly_sync"]`)
	p.wait("the job page", `location.pathname === '/jobs/nightly_sync' && document.querySelector('svg.chart')`)

	srv.post(s.Key, map[string]any{"name": "nightly_sync", "status": "failed", "duration_ms": 1300})
	p.wait("the live run", `document.querySelectorAll('.events > li').length === 2`)
	// The run page fetches only the run: any jobs call after this is the
	// old screen's.
	p.tap(`svg.chart g[data-status="failed"] rect.bar-hit`)
	var left float64
	p.js(`performance.now()`, &left)
	p.wait("the run page", `location.pathname.startsWith('/runs/') && document.querySelector('.err-type, .panel')`)
	// The refresh was due a second after the live run.
	p.wait("1.3 s after leaving", fmt.Sprintf(`performance.now() > %f + 1300`, left))
	var late []string
	p.js(fmt.Sprintf(`performance.getEntriesByType('resource')
		.filter(e => e.startTime > %f && e.name.includes('/api/v1/jobs')).map(e => e.name)`, left), &late)
	if len(late) != 0 {
		t.Errorf("after leaving the job page it still fetched %q", late)
	}
}
