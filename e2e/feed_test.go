package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// hostile is event data a careless app would run or render as markup.
const (
	hostileName = `<img src=x onerror=alert(1)>`
	hostileMsg  = `<b>bold</b> <img src=x onerror="document.title='owned'"> <script>alert(2)</script>`
)

func TestLiveFeedShowsEventsAsTextAndKeepsThemOnReload(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("ana-laptop")
	p := newPhone(t, srv)
	p.pair(s)
	p.wait("the empty feed", `document.querySelector('.empty')`)
	p.wait("the live stream", `document.querySelector('#conn').dataset.state === 'live'`)

	// Posted through the API, the events appear without a reload.
	srv.post(s.Key, map[string]any{"name": "nightly_sync", "status": "completed", "duration_ms": 1834,
		"metadata": map[string]any{"records": 500, "source": "s3://bucket"}})
	p.wait("the first live event", `document.querySelectorAll('.events > li').length === 1`)
	srv.post(s.Key, map[string]any{"name": hostileName, "status": "failed", "duration_ms": 3200,
		"error":    map[string]any{"type": "KeyError", "message": hostileMsg, "traceback": "Traceback (most recent call last):\n  File \"sync.py\", line 3"},
		"metadata": map[string]any{"note": "<b>not bold</b>"}})
	p.wait("the second live event", `document.querySelectorAll('.events > li').length === 2`)

	var first struct {
		Name, Meta, Error string
		Imgs, Bold        int
		Title, Announced  string
	}
	p.js(`(() => {
		const li = document.querySelector('.events > li');
		return {Name: li.querySelector('.ev-name').textContent, Meta: li.querySelector('.ev-meta').textContent,
			Error: li.querySelector('.ev-error').textContent, Imgs: document.querySelectorAll('#view img, #view script').length,
			Bold: document.querySelectorAll('#view .ev-error b').length, Title: document.title,
			Announced: document.getElementById('announce').textContent};
	})()`, &first)
	if first.Name != hostileName {
		t.Errorf("newest event's name shows as %q, want the literal text %q", first.Name, hostileName)
	}
	if want := "KeyError: " + hostileMsg; first.Error != want {
		t.Errorf("error line %q, want the literal text %q", first.Error, want)
	}
	if !strings.Contains(first.Meta, "Failed") || !strings.Contains(first.Meta, "3.2 s") {
		t.Errorf("meta line %q, want the status word and the duration", first.Meta)
	}
	if first.Imgs != 0 || first.Title == "owned" {
		t.Errorf("event data became markup: %d img/script elements in the view, title %q", first.Imgs, first.Title)
	}
	if first.Bold != 1 { // the app's own <b> around the error type, nothing from the data
		t.Errorf("%d <b> elements in the error line, want only the app's own", first.Bold)
	}
	if !strings.Contains(first.Announced, "Failed") {
		t.Errorf("the live region said %q, want the new event announced", first.Announced)
	}

	// Metadata on tap, as text.
	p.tap(".events > li:first-child summary")
	p.wait("the metadata", `document.querySelector('.events > li:first-child .ev-more dl')`)
	if got := p.text(".events > li:first-child .ev-more"); !strings.Contains(got, "<b>not bold</b>") {
		t.Errorf("metadata shows %q, want the literal <b>not bold</b>", got)
	}
	p.tap(".events > li:first-child summary")

	// Status at a glance is never colour alone: each card has an icon and a word.
	var glance []string
	p.js(`[...document.querySelectorAll('.events > li')].map(li =>
		li.querySelector('.st svg path').getAttribute('d') + '|' + li.querySelector('.st-word').textContent)`, &glance)
	if len(glance) != 2 || glance[0] == glance[1] || !strings.HasSuffix(glance[0], "|Failed") || !strings.HasSuffix(glance[1], "|Completed") {
		t.Errorf("status icons and words %q, want a distinct icon and word per status", glance)
	}
	checkContrast(t, p, "feed")
	p.dark(true)
	checkContrast(t, p, "feed, dark")
	p.dark(false)

	// Reload keeps the history.
	p.open("/")
	p.wait("the feed after reload", `document.querySelectorAll('.events > li').length === 2`)
	if got := p.text(".events > li:first-child .ev-name"); got != hostileName {
		t.Errorf("after reload the newest event is %q", got)
	}

	// With reduced motion, new events arrive without animation.
	p.media(false, true)
	p.wait("the live stream", `document.querySelector('#conn').dataset.state === 'live'`)
	srv.post(s.Key, map[string]any{"name": "nightly_sync", "status": "completed", "duration_ms": 1700})
	p.wait("the third live event", `document.querySelectorAll('.events > li').length === 3`)
	var running int
	p.js(`document.getAnimations().filter(a => a.playState === 'running').length`, &running)
	if running != 0 {
		t.Errorf("%d animations run although the system asks for reduced motion", running)
	}

	// The hostile name is a job like any other: its page shows it as text.
	p.tap(".events > li:nth-child(2) summary")
	p.tap(".events > li:nth-child(2) .ev-more a[href^='/jobs/']")
	p.wait("the hostile job's page", `location.pathname.startsWith('/jobs/') && document.querySelector('#view h1')`)
	var page struct {
		H1, Focused string
		Imgs        int
	}
	p.js(`({H1: document.querySelector('#view h1').textContent, Focused: document.activeElement.tagName,
		Imgs: document.querySelectorAll('#view img').length})`, &page)
	if page.H1 != hostileName || page.Imgs != 0 {
		t.Errorf("job page heading %q with %d images, want the literal name and none", page.H1, page.Imgs)
	}
	// A new screen takes focus at its heading, for screen readers and keyboards.
	if page.Focused != "H1" {
		t.Errorf("after navigating, focus is on %s, want the screen's h1", page.Focused)
	}
}

func TestFeedLoadsOlderEventsOnScrollAndFilters(t *testing.T) {
	srv := startServer(t)
	s := srv.newSession("build-box")
	base := time.Now().Add(-3 * time.Hour)
	var batch []map[string]any
	for i := range 120 {
		ev := map[string]any{"name": fmt.Sprintf("job_%d", i%3), "status": "completed", "duration_ms": 100 + i,
			"timestamp": base.Add(time.Duration(i) * time.Minute).UTC().Format(time.RFC3339Nano)}
		if i%10 == 0 {
			ev["status"] = "failed"
			ev["error"] = map[string]any{"type": "RuntimeError", "message": fmt.Sprintf("run %d broke", i)}
		}
		batch = append(batch, ev)
	}
	srv.post(s.Key, batch...)
	p := newPhone(t, srv)
	p.pair(s)
	p.wait("the first page", `document.querySelectorAll('.events > li').length === 50`)

	for _, want := range []int{100, 120} {
		p.js(`window.scrollTo(0, document.body.scrollHeight), true`, new(bool))
		p.wait(fmt.Sprintf("%d events after scrolling", want), fmt.Sprintf(`document.querySelectorAll('.events > li').length === %d`, want))
	}
	p.wait("the end of the list", `document.querySelector('.list-end').textContent.includes('first event')`)
	var order []int
	p.js(`[...document.querySelectorAll('.events > li')].map(li => Number(li.dataset.seq))`, &order)
	for i := 1; i < len(order); i++ {
		if order[i] >= order[i-1] {
			t.Fatalf("events not newest first at %d: %v", i, order[i-1:i+1])
		}
	}

	// A run opened from deep in the list; Back returns to the same place
	// with the whole list, without loading it again.
	p.tap(".events > li:nth-child(80) summary")
	p.wait("the run link", `document.querySelector('.events > li:nth-child(80) .ev-more a')`)
	var at float64
	p.js(`window.scrollY`, &at)
	p.tap(".events > li:nth-child(80) .ev-more a[href^='/runs/']")
	p.wait("the run page", `location.pathname.startsWith('/runs/') && document.querySelector('.panel')`)
	p.tap("a.back")
	p.wait("the feed again", `location.pathname === '/' && document.querySelectorAll('.events > li').length === 120`)
	var back float64
	p.js(`window.scrollY`, &back)
	if at < 1000 || back < at-2 || back > at+2 {
		t.Errorf("scrolled to %.0f, came back at %.0f", at, back)
	}

	// Filter by status, then by job as well; the URL keeps the filter.
	p.js(`window.scrollTo(0, 0), true`, new(bool))
	p.tap(`.chips button:nth-child(2)`)
	p.wait("only failures", `location.search === '?status=failed' && document.querySelectorAll('.events > li').length === 12`)
	p.wait("the job list", `document.querySelectorAll('#filter-job option').length === 4`)
	p.js(`(() => { const s = document.querySelector('#filter-job'); s.value = 'job_0'; s.dispatchEvent(new Event('change')); return true; })()`, new(bool))
	p.wait("failures of job_0", `document.querySelectorAll('.events > li').length === 4`)
	var names []string
	p.js(`[...document.querySelectorAll('.events .ev-name')].map(e => e.textContent)`, &names)
	for _, n := range names {
		if n != "job_0" {
			t.Errorf("filtered feed shows %q", n)
		}
	}
	// A live failure of that job joins the filtered list; others do not.
	srv.post(s.Key, map[string]any{"name": "job_1", "status": "failed"}, map[string]any{"name": "job_0", "status": "failed"})
	p.wait("the live failure of job_0", `document.querySelectorAll('.events > li').length === 5`)
	if got := p.text(".events > li:first-child .ev-name"); got != "job_0" {
		t.Errorf("newest filtered event is %q, want job_0", got)
	}
}
